"""``X-Twilio-Signature`` checks with the SDK's ``RequestValidator``.

Twilio signs the URL it called (scheme, host, path, query) plus the POST parameters, so the
URL is rebuilt from Baton's configured public URL: behind a TLS-terminating proxy the URL the
app sees (``http://10.0.0.5:8080/...``) is not the one Twilio signed.
"""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import FormData
from twilio.request_validator import RequestValidator

from app.core.errors import Forbidden, NotFound
from app.core.settings import Settings


def signed_url(public_url: str, request: Request) -> str:
    query = request.url.query
    return f"{public_url}{request.url.path}" + (f"?{query}" if query else "")


async def verified_form(request: Request) -> FormData:
    """The request's form fields once the signature checks out; 403 otherwise."""
    settings: Settings = request.app.state.settings
    token = settings.twilio_auth_token
    # An empty token would let anyone sign: treat it as no Twilio at all.
    if token is None or not token.get_secret_value().strip():
        raise NotFound("Twilio is not configured on this Baton", code="not_configured")
    # Starlette keeps blank fields (ToCity=...), which are part of what Twilio signed.
    form = await request.form()
    signature = request.headers.get("x-twilio-signature", "")
    validator = RequestValidator(token.get_secret_value())
    if not signature or not validator.validate(
        signed_url(settings.public_url, request), form, signature
    ):
        raise Forbidden("the X-Twilio-Signature does not match", code="bad_signature")
    return form
