"""Single sign-on with OpenID Connect: the authorization-code flow with PKCE, state and nonce.

``/sign-in/oidc`` starts a flow: a new ``state``, ``nonce`` and PKCE code verifier go into a
short-lived cookie on this browser (encrypted and authenticated under a key derived from
``BATON_SECRET_KEY``, so neither readable nor forgeable), and the browser goes to the
provider's authorization endpoint. The provider sends it back to ``/sign-in/oidc/callback``
with a code and the state: the state must be the one in this browser's cookie (another
browser's callback, or a forged one, is refused), the code is exchanged at the token endpoint
with the verifier and the client secret, and the ID token's signature is checked against the
issuer's JWKS and its ``iss``, ``aud``, ``exp``, ``iat``, ``nonce`` (and ``azp``/``at_hash``
when present) against what this flow expects. What comes out is an e-mail address the provider
vouches for; the sign-in routes match it to a user.

The provider is found by discovery (``<issuer>/.well-known/openid-configuration``), whose
``issuer`` must be the configured one exactly. Discovery and keys are cached per process; an
unknown key id fetches the keys again once (the provider rotated them).

Authlib supplies the protocol pieces (PKCE challenge, authorization URL, client
authentication, ID-token claim checks) and joserfc, which Authlib builds on, the JWS
verification. HTTP goes through httpx like Baton's other clients. The issuer is operator
configuration, like the Twilio and Slack base URLs, so the outgoing-URL guard for webhooks
(``BATON_WEBHOOK_ALLOWED_NETWORKS``) does not apply: identity providers often live on the
private network beside Baton, and allowing that network for them must not open it to every
member's webhooks (decisions 21 and 24).

Pure of the database: the routes in ``routes/sign_in.py`` open the session.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from fastapi import Request
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from pydantic import SecretStr

from app.core.clock import Clock
from app.core.crypto import SecretBox, UndecryptableSecret
from app.core.errors import BatonError
from app.core.settings import Settings

log = logging.getLogger(__name__)

START_PATH = "/sign-in/oidc"
CALLBACK_PATH = "/sign-in/oidc/callback"
# Holds one flow between leaving for the provider and coming back; sent to these paths only.
FLOW_COOKIE = "baton_oidc"
FLOW_COOKIE_PATH = START_PATH
# Long enough to type a password and answer a second factor, short enough that a stolen cookie
# is of little use.
FLOW_SECONDS = 10 * 60
DISCOVERY_PATH = "/.well-known/openid-configuration"
DISCOVERY_SECONDS = 3600
HTTP_TIMEOUT_SECONDS = 10.0
# Clock skew tolerated between Baton and the provider for exp, iat and nbf.
CLOCK_LEEWAY_SECONDS = 60
# Public-key signatures only: "none" is never accepted, and HMAC under the client secret would
# make anyone holding the secret able to mint ID tokens.
ASYMMETRIC_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
# What the provider's error description may add to a page (it is the provider's text).
MAX_PROVIDER_TEXT = 200


class SingleSignOnRefused(BatonError):
    """This sign-in did not prove who the person is; nobody was signed in."""

    status_code = 400
    code = "single_sign_on_refused"


class UnknownUser(BatonError):
    status_code = 403
    code = "single_sign_on_unknown_user"

    def __init__(self, email: str) -> None:
        super().__init__(
            f"no Baton user has the address {email}; ask an admin to add you (or to change "
            "your Baton e-mail address to this one), then sign in again"
        )


class ProviderUnavailable(BatonError):
    """The identity provider could not be reached or answered something unusable."""

    status_code = 502
    code = "single_sign_on_unavailable"


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: SecretStr
    scopes: str
    display_name: str
    redirect_uri: str

    @classmethod
    def from_settings(cls, settings: Settings) -> OidcConfig | None:
        if not settings.oidc_configured or settings.oidc_client_secret is None:
            return None
        return cls(
            issuer=settings.oidc_issuer,
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret,
            scopes=settings.oidc_scopes,
            display_name=settings.oidc_display_name,
            redirect_uri=settings.public_url + CALLBACK_PATH,
        )

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + DISCOVERY_PATH


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    signing_algorithms: tuple[str, ...]
    token_auth_method: str


@dataclass(frozen=True)
class Flow:
    """What one sign-in must come back with; lives in the flow cookie."""

    state: str
    nonce: str
    code_verifier: str
    next_path: str
    started_at: int


@dataclass(frozen=True)
class Started:
    authorization_url: str
    cookie_value: str


@dataclass(frozen=True)
class VerifiedIdentity:
    """Who the provider says signed in, checked; ``email`` is lowercase."""

    subject: str
    email: str
    next_path: str


class OidcClient:
    """One configured provider, for the life of the process."""

    def __init__(
        self,
        config: OidcConfig,
        clock: Clock,
        secret_key: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._box = SecretBox(secret_key, "web-oidc-flow")
        self._transport = transport
        self._lock = asyncio.Lock()
        self._metadata: ProviderMetadata | None = None
        self._metadata_until = 0.0
        self._keys: KeySet | None = None

    def __repr__(self) -> str:
        return f"OidcClient(issuer={self.config.issuer!r}, client_id={self.config.client_id!r})"

    # ------------------------------------------------------------------------------ the flow

    async def start(self, next_path: str) -> Started:
        metadata = await self.metadata()
        flow = Flow(
            state=generate_token(43),
            nonce=generate_token(43),
            # RFC 7636: 43 to 128 characters of [A-Za-z0-9-._~]; generate_token's alphabet is
            # letters and digits.
            code_verifier=generate_token(64),
            next_path=next_path,
            started_at=self._now(),
        )
        url = prepare_grant_uri(
            metadata.authorization_endpoint,
            client_id=self.config.client_id,
            response_type="code",
            redirect_uri=self.config.redirect_uri,
            scope=self.config.scopes,
            state=flow.state,
            nonce=flow.nonce,
            code_challenge=create_s256_code_challenge(flow.code_verifier),
            code_challenge_method="S256",
        )
        return Started(url, self._box.encrypt(json.dumps(asdict(flow))))

    async def finish(self, cookie_value: str | None, query: Mapping[str, str]) -> VerifiedIdentity:
        """Check the provider's answer against this browser's flow; the identity it proves."""
        flow = self._open_flow(cookie_value)
        state = query.get("state", "")
        if not hmac.compare_digest(flow.state.encode(), state.encode()):
            raise SingleSignOnRefused(
                "this sign-in answer does not belong to the sign-in this browser started; "
                "start again"
            )
        if "error" in query:
            raise SingleSignOnRefused(self._provider_error(query))
        code = query.get("code", "")
        if not code:
            raise SingleSignOnRefused(
                f"{self.config.display_name} sent no authorization code; start again"
            )
        metadata = await self.metadata()
        tokens = await self._exchange_code(metadata, code, flow.code_verifier)
        claims = await self._verified_claims(metadata, tokens, flow.nonce)
        return VerifiedIdentity(
            subject=str(claims["sub"]), email=self._email_of(claims), next_path=flow.next_path
        )

    def _open_flow(self, cookie_value: str | None) -> Flow:
        not_started = SingleSignOnRefused(
            "this browser has no sign-in in progress (it took longer than "
            f"{FLOW_SECONDS // 60} minutes, or began in another browser); start again"
        )
        if not cookie_value:
            raise not_started
        try:
            data = json.loads(self._box.decrypt(cookie_value))
            flow = Flow(**data)
        except (UndecryptableSecret, ValueError, TypeError):
            raise not_started from None
        if not 0 <= self._now() - flow.started_at <= FLOW_SECONDS:
            raise not_started
        return flow

    def _provider_error(self, query: Mapping[str, str]) -> str:
        error = _printable(query.get("error", ""))[:64]
        description = _printable(query.get("error_description", ""))[:MAX_PROVIDER_TEXT]
        said = f"{error}: {description}" if description else error
        return f"{self.config.display_name} did not sign you in ({said}); nobody was signed in"

    # ------------------------------------------------------------------------- the provider

    async def metadata(self) -> ProviderMetadata:
        async with self._lock:
            if self._metadata is None or time.monotonic() >= self._metadata_until:
                self._metadata = await self._discover()
                self._keys = None
                self._metadata_until = time.monotonic() + DISCOVERY_SECONDS
            return self._metadata

    async def _discover(self) -> ProviderMetadata:
        document = await self._get_json(self.config.discovery_url, "discovery document")
        if document.get("issuer") != self.config.issuer:
            raise self._unusable(
                f"its discovery document names the issuer {document.get('issuer')!r}, "
                f"not {self.config.issuer!r}"
            )
        endpoints: dict[str, str] = {}
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            value = document.get(name)
            if not isinstance(value, str) or not _is_url(value, self.config.issuer):
                raise self._unusable(f"its discovery document has no usable {name}")
            endpoints[name] = value
        announced = document.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = tuple(a for a in ASYMMETRIC_ALGORITHMS if a in announced)
        if not algorithms:
            raise self._unusable("it signs ID tokens with no public-key algorithm")
        methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        auth_method = (
            "client_secret_post"
            if "client_secret_basic" not in methods and "client_secret_post" in methods
            else "client_secret_basic"
        )
        return ProviderMetadata(
            issuer=self.config.issuer,
            signing_algorithms=algorithms,
            token_auth_method=auth_method,
            **endpoints,
        )

    async def _key_set(self, metadata: ProviderMetadata, *, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            document = await self._get_json(metadata.jwks_uri, "signing keys")
            try:
                self._keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError, KeyError) as exc:
                raise self._unusable(f"its signing keys do not load ({exc})") from None
        return self._keys

    async def _exchange_code(
        self, metadata: ProviderMetadata, code: str, code_verifier: str
    ) -> dict[str, Any]:
        body = urlencode(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.config.redirect_uri,
                "code_verifier": code_verifier,
            }
        )
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        client_auth = ClientAuth(
            self.config.client_id,
            self.config.client_secret.get_secret_value(),
            metadata.token_auth_method,
        )
        url, headers, body = client_auth.prepare("POST", metadata.token_endpoint, headers, body)
        try:
            async with self._http() as http:
                response = await http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise self._unreachable("token endpoint", exc) from None
        answer = _json_object(response)
        if response.status_code != 200 or answer is None:
            error = _printable(str((answer or {}).get("error", "")))[:64]
            log.warning(
                "single sign-on: the token endpoint refused the code",
                extra={"status": response.status_code, "error": error},
            )
            raise SingleSignOnRefused(
                f"{self.config.display_name} did not accept this sign-in "
                f"({error or f'HTTP {response.status_code}'}); start again"
            )
        if not isinstance(answer.get("id_token"), str):
            raise SingleSignOnRefused(
                f"{self.config.display_name} sent no ID token; is the openid scope allowed?"
            )
        return answer

    async def _verified_claims(
        self, metadata: ProviderMetadata, tokens: Mapping[str, Any], nonce: str
    ) -> CodeIDToken:
        id_token: str = tokens["id_token"]
        registry = JWSRegistry(algorithms=list(metadata.signing_algorithms))
        try:
            try:
                token = jwt.decode(id_token, await self._key_set(metadata), registry=registry)
            except InvalidKeyIdError:
                # Signed with a key we have not seen: the provider rotated its keys.
                keys = await self._key_set(metadata, refresh=True)
                token = jwt.decode(id_token, keys, registry=registry)
            claims = CodeIDToken(
                token.claims,
                token.header,
                {
                    "iss": {"essential": True, "value": metadata.issuer},
                    "aud": {"essential": True, "value": self.config.client_id},
                    "sub": {"essential": True},
                },
                {
                    "nonce": nonce,
                    "client_id": self.config.client_id,
                    "access_token": tokens.get("access_token"),
                },
            )
            claims.validate(now=self._now(), leeway=CLOCK_LEEWAY_SECONDS)
        except JoseError as exc:
            reason = _printable(str(exc))[:MAX_PROVIDER_TEXT]
            log.warning("single sign-on: ID token refused", extra={"reason": reason})
            raise SingleSignOnRefused(
                f"the ID token from {self.config.display_name} is not valid ({reason}); "
                "nobody was signed in"
            ) from None
        return claims

    def _email_of(self, claims: Mapping[str, Any]) -> str:
        email = claims.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise SingleSignOnRefused(
                f"{self.config.display_name} did not say your e-mail address, which is how "
                "Baton knows who you are (the email scope must be allowed)"
            )
        email = email.strip().lower()
        # Absent means the provider does not say; present, it must vouch for the address.
        verified = claims.get("email_verified", True)
        if verified is not True and verified != "true":
            raise SingleSignOnRefused(
                f"{self.config.display_name} has not verified the address {email}; "
                "verify it there, then sign in again"
            )
        return email

    # --------------------------------------------------------------------------------- HTTP

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=HTTP_TIMEOUT_SECONDS, follow_redirects=False, transport=self._transport
        )

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            async with self._http() as http:
                response = await http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise self._unreachable(what, exc) from None
        document = _json_object(response)
        if response.status_code != 200 or document is None:
            raise self._unusable(f"its {what} answered HTTP {response.status_code}, not JSON")
        return document

    def _unreachable(self, what: str, exc: httpx.HTTPError) -> ProviderUnavailable:
        log.warning(
            "single sign-on: provider unreachable",
            extra={"what": what, "error": f"{type(exc).__name__}: {exc}"},
        )
        return ProviderUnavailable(
            f"{self.config.display_name} cannot be reached right now ({what}); "
            "try again in a minute, or sign in another way"
        )

    def _unusable(self, why: str) -> ProviderUnavailable:
        log.warning("single sign-on: provider unusable", extra={"reason": why})
        return ProviderUnavailable(
            f"signing in with {self.config.display_name} is not working: {why}; "
            "tell an admin, and sign in another way meanwhile"
        )

    def _now(self) -> int:
        instant: datetime = self._clock.now()
        return int(instant.timestamp())


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        value = response.json()
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _is_url(value: str, issuer: str) -> bool:
    parts = urlsplit(value)
    if not parts.hostname:
        return False
    # An https issuer's endpoints are https too: no downgrade through the discovery document.
    wanted = ("https",) if issuer.startswith("https://") else ("https", "http")
    return parts.scheme in wanted


def _printable(text: str) -> str:
    return "".join(char for char in text if char.isprintable())


def oidc_client(request: Request) -> OidcClient | None:
    """The process's client for the configured provider; None when single sign-on is off."""
    state = request.app.state
    client: OidcClient | None = getattr(state, "oidc", None)
    if client is None:
        settings: Settings = state.settings
        config = OidcConfig.from_settings(settings)
        if config is None:
            return None
        client = OidcClient(config, state.clock, settings.secret_key.get_secret_value())
        state.oidc = client
    return client
