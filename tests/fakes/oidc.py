"""A small OpenID Connect provider: discovery, JWKS, an authorize endpoint and a token endpoint.

A real HTTP server on 127.0.0.1 (``FakeHttpServer``), so Baton's real client discovers it,
fetches its keys and exchanges codes over HTTP. The authorize endpoint signs in whoever
``fake.user`` is at once (no login form) and redirects back with a code; the token endpoint
checks what a real provider checks (client authentication, the redirect URI, the PKCE
verifier, a code used once) and answers with an RS256 ID token signed by an RSA key made with
``cryptography``. Knobs make it misbehave the ways a test needs:

    fake.user = OidcUser("alice@example.com")
    fake.id_token_claims["aud"] = "someone-else"   # any claim replaced (None removes it)
    fake.tamper_id_token = True                    # payload changed after signing
    fake.sign_with = other_key                     # signed by a key the JWKS does not have
    fake.rotate_key()                              # a new key, under a new kid
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from authlib.oidc.core.util import create_half_hash
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.fakes._core import FakeHttpServer, RawRequest, RawResponse, raise_problems

DEFAULT_CLIENT_ID = "baton-web"
DEFAULT_CLIENT_SECRET = "fake-oidc-client-secret-0f5e9c2b7d"


def new_rsa_key(kid: str) -> RSAKey:
    """A fresh 2048-bit RSA signing key (made with ``cryptography``) as a JWK with ``kid``."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return RSAKey.import_key(pem, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


@cache
def shared_rsa_key(kid: str) -> RSAKey:
    """One key per ``kid`` for the whole test session: making RSA keys takes a while."""
    return new_rsa_key(kid)


@dataclass
class OidcUser:
    """Who signs in at the fake's authorize endpoint."""

    email: str
    email_verified: bool | None = True
    subject: str = "fake-subject-1"
    name: str = "Fake Person"


@dataclass
class IssuedCode:
    client_id: str
    redirect_uri: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    user: OidcUser


@dataclass
class TokenRequest:
    form: dict[str, str]
    authorization: str | None
    status: int
    error: str | None


@dataclass
class _Registration:
    client_id: str
    client_secret: str
    redirect_uris: set[str] = field(default_factory=set)


class FakeOidcProvider(FakeHttpServer):
    name = "fake-oidc"

    def __init__(
        self,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        key: RSAKey | None = None,
    ) -> None:
        super().__init__()
        self.client = _Registration(client_id, client_secret)
        self.now = now
        self.key = key or shared_rsa_key("fake-oidc-key-1")
        self.user: OidcUser | None = None
        self.id_token_lifetime = timedelta(minutes=5)
        self.id_token_claims: dict[str, Any] = {}
        """Claims replacing the ones the fake would write (a value of None removes the claim)."""
        self.tamper_id_token = False
        self.sign_with: RSAKey | None = None
        """Sign with this key (under the published key's kid) instead of the published one."""
        self.discovery_overrides: dict[str, Any] = {}
        self.codes: dict[str, IssuedCode] = {}
        self.token_requests: list[TokenRequest] = []
        self.authorize_requests: list[dict[str, str]] = []
        self.unexpected: list[str] = []

    # -- configuration -------------------------------------------------------------------------

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def client_id(self) -> str:
        return self.client.client_id

    @property
    def client_secret(self) -> str:
        return self.client.client_secret

    def allow_redirect_uri(self, uri: str) -> None:
        self.client.redirect_uris.add(uri)

    def rotate_key(self, kid: str = "fake-oidc-key-2") -> None:
        self.key = shared_rsa_key(kid)

    # -- HTTP ------------------------------------------------------------------------------------

    def handle(self, request: RawRequest) -> RawResponse:
        routes: dict[tuple[str, str], Callable[[RawRequest], RawResponse]] = {
            ("GET", "/.well-known/openid-configuration"): self._discovery,
            ("GET", "/jwks"): self._jwks,
            ("GET", "/authorize"): self._authorize,
            ("POST", "/token"): self._token,
        }
        route = routes.get((request.method, request.path))
        if route is None:
            self.unexpected.append(f"{request.method} {request.target}")
            return RawResponse.text("not found", status=404)
        return route(request)

    def _discovery(self, request: RawRequest) -> RawResponse:
        document = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "email", "email_verified", "name"],
        }
        document.update(self.discovery_overrides)
        return RawResponse.json(document)

    def _jwks(self, request: RawRequest) -> RawResponse:
        with self.lock:
            public = self.key.as_dict(private=False)
        return RawResponse.json({"keys": [public]})

    def _authorize(self, request: RawRequest) -> RawResponse:
        params = dict(request.query_params)
        self.authorize_requests.append(params)
        redirect_uri = params.get("redirect_uri", "")
        # A real provider never redirects to an address it does not know for this client.
        if params.get("client_id") != self.client_id:
            return RawResponse.text("unknown client_id", status=400)
        if redirect_uri not in self.client.redirect_uris:
            return RawResponse.text("redirect_uri not registered", status=400)
        state = params.get("state")
        back: dict[str, str] = {"state": state} if state is not None else {}
        if params.get("response_type") != "code" or "openid" not in params.get("scope", ""):
            back.update(error="invalid_request", error_description="code flow with openid only")
        elif self.user is None:
            back.update(error="access_denied", error_description="the user said no")
        else:
            code = secrets.token_urlsafe(24)
            with self.lock:
                self.codes[code] = IssuedCode(
                    client_id=self.client_id,
                    redirect_uri=redirect_uri,
                    nonce=params.get("nonce"),
                    code_challenge=params.get("code_challenge"),
                    code_challenge_method=params.get("code_challenge_method"),
                    user=self.user,
                )
            back["code"] = code
        separator = "&" if urlsplit(redirect_uri).query else "?"
        return RawResponse(
            status=302, headers={"Location": redirect_uri + separator + urlencode(back)}
        )

    def _token(self, request: RawRequest) -> RawResponse:
        form = dict(request.form())
        authorization = request.header("Authorization")

        def refuse(error: str, status: int = 400) -> RawResponse:
            self.token_requests.append(TokenRequest(form, authorization, status, error))
            return RawResponse.json({"error": error}, status=status)

        if not self._client_authenticated(authorization, form):
            return refuse("invalid_client", 401)
        if form.get("grant_type") != "authorization_code":
            return refuse("unsupported_grant_type")
        with self.lock:
            issued = self.codes.pop(form.get("code", ""), None)  # a code works once
        if issued is None or issued.redirect_uri != form.get("redirect_uri"):
            return refuse("invalid_grant")
        if not _pkce_matches(issued, form.get("code_verifier")):
            return refuse("invalid_grant")
        access_token = secrets.token_urlsafe(24)
        self.token_requests.append(TokenRequest(form, authorization, 200, None))
        return RawResponse.json(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": self._id_token(issued, access_token),
            }
        )

    def _client_authenticated(self, authorization: str | None, form: dict[str, str]) -> bool:
        if authorization and authorization.startswith("Basic "):
            decoded = base64.b64decode(authorization.removeprefix("Basic ")).decode()
            client_id, _, secret = decoded.partition(":")
            return (unquote(client_id), unquote(secret)) == (self.client_id, self.client_secret)
        return (form.get("client_id"), form.get("client_secret")) == (
            self.client_id,
            self.client_secret,
        )

    def _id_token(self, issued: IssuedCode, access_token: str) -> str:
        now = int(self.now().timestamp())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": issued.user.subject,
            "aud": issued.client_id,
            "iat": now,
            "exp": now + int(self.id_token_lifetime.total_seconds()),
            "auth_time": now,
            "at_hash": create_half_hash(access_token, "RS256").decode("ascii"),
            "email": issued.user.email,
            "name": issued.user.name,
        }
        if issued.nonce is not None:
            claims["nonce"] = issued.nonce
        if issued.user.email_verified is not None:
            claims["email_verified"] = issued.user.email_verified
        for name, value in self.id_token_claims.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        with self.lock:
            published = self.key
        signer = self.sign_with or published
        header = {"alg": "RS256", "kid": published.kid, "typ": "JWT"}
        token = jwt.encode(header, claims, signer)
        if self.tamper_id_token:
            head, _, signature = token.split(".")
            changed = {**claims, "email": "mallory@example.com"}
            payload = base64.urlsafe_b64encode(json.dumps(changed).encode()).rstrip(b"=")
            token = f"{head}.{payload.decode()}.{signature}"
        return token

    # -- checks ----------------------------------------------------------------------------------

    def assert_no_unexpected(self) -> None:
        problems = self._problems() + [f"unexpected request: {u}" for u in self.unexpected]
        raise_problems(self.name, problems)


def _pkce_matches(issued: IssuedCode, verifier: str | None) -> bool:
    if issued.code_challenge is None:
        return verifier is None
    if issued.code_challenge_method != "S256" or not verifier:
        return False
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == issued.code_challenge


def callback_query(location: str) -> dict[str, str]:
    """The query of a redirect back to Baton, as a dict."""
    return dict(parse_qsl(urlsplit(location).query))
