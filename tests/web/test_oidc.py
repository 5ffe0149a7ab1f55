"""Single sign-on with OpenID Connect, against a fake provider on 127.0.0.1.

The browser is driven by hand, hop by hop, as a person's browser would go: Baton's
``/sign-in/oidc`` sends it to the provider's authorize endpoint, which sends it back to
``/sign-in/oidc/callback`` with a code; Baton exchanges the code, checks the ID token and
opens a session. Every way that answer can be wrong is refused without a session.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select

from app.core.clock import ManualClock
from app.core.db import Database
from app.core.settings import Settings
from app.main import Overrides, create_app
from app.notify.console import ConsoleProvider
from app.web.models import SignInMethod, WebSession
from app.web.oidc import CALLBACK_PATH, FLOW_COOKIE, FLOW_SECONDS, START_PATH
from tests.conftest import PUBLIC_URL
from tests.factories import Factory
from tests.fakes.oidc import FakeOidcProvider, OidcUser, new_rsa_key
from tests.web.browser import Browser, new_client, set_cookie_headers

DISPLAY_NAME = "Fake Identity"
BUTTON = f"Sign in with {DISPLAY_NAME}"


@pytest.fixture
async def fake_oidc(clock: ManualClock) -> AsyncIterator[FakeOidcProvider]:
    """The provider, on Baton's test clock (ID tokens are issued and checked at the same now)."""
    fake = FakeOidcProvider(now=clock.now).start()
    fake.allow_redirect_uri(PUBLIC_URL + CALLBACK_PATH)
    try:
        yield fake
    finally:
        fake.stop()
    fake.assert_no_unexpected()


@pytest.fixture
def settings(settings: Settings, fake_oidc: FakeOidcProvider) -> Settings:
    return settings.model_copy(
        update={
            "oidc_issuer": fake_oidc.issuer,
            "oidc_client_id": fake_oidc.client_id,
            "oidc_client_secret": SecretStr(fake_oidc.client_secret),
            "oidc_display_name": DISPLAY_NAME,
        }
    )


async def leave_for_provider(browser: Browser, next_path: str | None = None) -> str:
    """Press the sign-in page's single sign-on button; where Baton sends the browser."""
    page = await browser.get(
        "/sign-in" + (f"?{urlencode({'next': next_path})}" if next_path else "")
    )
    assert page.status_code == 200
    match = re.search(r'<a href="([^"]+)" role="button">' + re.escape(BUTTON) + "</a>", page.text)
    assert match is not None, page.text
    start = await browser.get(html.unescape(match[1]))
    assert start.status_code == 303, start.text
    assert set_cookie_headers(start, FLOW_COOKIE), "the flow is kept in a cookie"
    return start.headers["location"]


async def visit_provider(authorize_url: str) -> str:
    """The provider's authorize endpoint (a real HTTP server): where it sends the browser back."""
    async with httpx.AsyncClient() as provider_site:
        answer = await provider_site.get(authorize_url)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(PUBLIC_URL + CALLBACK_PATH + "?"), location
    return location.removeprefix(PUBLIC_URL)


async def sign_in_with_provider(browser: Browser, next_path: str | None = None) -> httpx.Response:
    """The whole round trip; Baton's answer to the callback."""
    callback = await visit_provider(await leave_for_provider(browser, next_path))
    return await browser.get(callback)


async def web_sessions(db: Database) -> list[WebSession]:
    async with db.transaction() as session:
        return list((await session.scalars(select(WebSession))).all())


def assert_refused(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert "baton_session=" not in response.headers.get("set-cookie", "")
    text = html.unescape(response.text)
    assert words in text, text
    assert 'role="alert"' in response.text
    # The refusal is shown beside the button, so trying again is one press.
    assert BUTTON in text


# ------------------------------------------------------------------------------- signing in


async def test_single_sign_on_signs_in_a_known_user_and_lands_on_next(
    browser: Browser, factory: Factory, fake_oidc: FakeOidcProvider, db: Database
) -> None:
    user = await factory.user(name="Carol Oncall", email="carol@example.com")
    fake_oidc.user = OidcUser("Carol@Example.com")  # providers do not all lowercase addresses

    authorize_url = await leave_for_provider(browser, "/incidents/7?tab=timeline")
    request = dict(httpx.URL(authorize_url).params)
    assert authorize_url.startswith(fake_oidc.url + "/authorize?")
    assert request["redirect_uri"] == PUBLIC_URL + CALLBACK_PATH
    assert request["scope"] == "openid email profile"
    assert request["code_challenge_method"] == "S256"
    assert request["state"] and request["nonce"] and request["code_challenge"]

    callback = await browser.get(await visit_provider(authorize_url))
    assert callback.status_code == 303, callback.text
    assert callback.headers["location"] == "/incidents/7?tab=timeline"
    (cookie,) = set_cookie_headers(callback, "baton_session")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    (flow,) = set_cookie_headers(callback, FLOW_COOKIE)
    assert "Max-Age=0" in flow or "expires=" in flow.lower(), "the flow cookie is cleared"

    # The provider checked the client secret and the PKCE verifier.
    (exchange,) = fake_oidc.token_requests
    assert exchange.status == 200 and exchange.authorization.startswith("Basic ")
    assert exchange.form["code_verifier"]

    home = await browser.get("/")
    assert home.status_code == 200
    assert "Carol Oncall" in home.text
    (row,) = await web_sessions(db)
    assert row.user_id == user.id and row.method is SignInMethod.OIDC
    assert row.expires_at - row.created_at == timedelta(hours=12)


async def test_next_elsewhere_lands_on_the_home_page(
    browser: Browser, factory: Factory, fake_oidc: FakeOidcProvider
) -> None:
    await factory.user(email="dave@example.com")
    fake_oidc.user = OidcUser("dave@example.com")
    callback = await sign_in_with_provider(browser, "//evil.example/phish")
    assert callback.status_code == 303
    assert callback.headers["location"] == "/"


async def test_the_provider_rotating_its_keys_is_followed(
    browser: Browser, factory: Factory, fake_oidc: FakeOidcProvider
) -> None:
    await factory.user(email="erin@example.com")
    fake_oidc.user = OidcUser("erin@example.com")
    assert (await sign_in_with_provider(browser)).status_code == 303
    fake_oidc.rotate_key()
    browser.http.cookies.clear()  # another browser, the next morning
    again = await sign_in_with_provider(browser)
    assert again.status_code == 303, again.text


# ------------------------------------------------------------------------------ refusals


async def test_an_unknown_address_is_refused_and_no_account_is_made(
    browser: Browser, factory: Factory, fake_oidc: FakeOidcProvider, db: Database
) -> None:
    fake_oidc.user = OidcUser("stranger@example.com")
    callback = await sign_in_with_provider(browser)
    assert_refused(
        callback, 403, "no Baton user has the address stranger@example.com; ask an admin"
    )
    assert await web_sessions(db) == []
    assert (await browser.get("/")).status_code == 303


async def test_an_address_the_provider_has_not_verified_is_refused(
    browser: Browser, factory: Factory, fake_oidc: FakeOidcProvider
) -> None:
    await factory.user(email="frank@example.com")
    fake_oidc.user = OidcUser("frank@example.com", email_verified=False)
    assert_refused(await sign_in_with_provider(browser), 400, "has not verified the address")


async def test_a_provider_that_does_not_say_verified_is_believed(
    browser: Browser, factory: Factory, fake_oidc: FakeOidcProvider
) -> None:
    await factory.user(email="gina@example.com")
    fake_oidc.user = OidcUser("gina@example.com", email_verified=None)
    assert (await sign_in_with_provider(browser)).status_code == 303


async def test_a_wrong_state_is_refused(
    browser: Browser, factory: Factory, fake_oidc: FakeOidcProvider, db: Database
) -> None:
    await factory.user(email="hal@example.com")
    fake_oidc.user = OidcUser("hal@example.com")
    callback = await visit_provider(await leave_for_provider(browser))
    forged = re.sub(r"state=[^&]+", "state=forged", callback)
    assert_refused(await browser.get(forged), 400, "does not belong to the sign-in this browser")
    assert await web_sessions(db) == []


async def test_a_callback_in_another_browser_is_refused(
    browser: Browser, app: FastAPI, factory: Factory, fake_oidc: FakeOidcProvider
) -> None:
    # Login CSRF: an attacker's own code and state, planted in the victim's browser.
    await factory.user(email="ivy@example.com")
    fake_oidc.user = OidcUser("ivy@example.com")
    callback = await visit_provider(await leave_for_provider(browser))
    async with new_client(app) as victim_http:
        victim = Browser(victim_http)
        assert_refused(await victim.get(callback), 400, "no sign-in in progress")


async def test_a_callback_is_answered_once(
    browser: Browser, factory: Factory, fake_oidc: FakeOidcProvider
) -> None:
    await factory.user(email="jo@example.com")
    fake_oidc.user = OidcUser("jo@example.com")
    callback = await visit_provider(await leave_for_provider(browser))
    assert (await browser.get(callback)).status_code == 303
    assert_refused(await browser.get(callback), 400, "no sign-in in progress")


async def test_a_sign_in_that_took_too_long_is_refused(
    browser: Browser, factory: Factory, fake_oidc: FakeOidcProvider, clock: ManualClock
) -> None:
    await factory.user(email="kim@example.com")
    fake_oidc.user = OidcUser("kim@example.com")
    callback = await visit_provider(await leave_for_provider(browser))
    clock.advance(timedelta(seconds=FLOW_SECONDS + 1))
    assert_refused(await browser.get(callback), 400, "took longer than 10 minutes")


async def test_the_provider_saying_no_is_shown(
    browser: Browser, fake_oidc: FakeOidcProvider
) -> None:
    fake_oidc.user = None
    callback = await sign_in_with_provider(browser)
    assert_refused(callback, 400, "did not sign you in (access_denied: the user said no)")
    assert fake_oidc.token_requests == []


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        pytest.param({"aud": "some-other-app"}, "aud", id="wrong audience"),
        pytest.param({"aud": ["some-other-app", "and-another"]}, "aud", id="audience list"),
        pytest.param({"iss": "https://impostor.example"}, "iss", id="wrong issuer"),
        pytest.param({"nonce": "replayed-nonce"}, "nonce", id="nonce mismatch"),
        pytest.param({"nonce": None}, "nonce", id="nonce missing"),
        pytest.param({"sub": None}, "sub", id="no subject"),
        pytest.param({"azp": "some-other-app"}, "azp", id="wrong authorized party"),
        pytest.param({"at_hash": "AAAAAAAAAAAAAAAAAAAAAA"}, "at_hash", id="wrong at_hash"),
    ],
)
async def test_an_id_token_with_a_wrong_claim_is_refused(
    browser: Browser,
    factory: Factory,
    fake_oidc: FakeOidcProvider,
    db: Database,
    claims: dict[str, object],
    reason: str,
) -> None:
    await factory.user(email="lee@example.com")
    fake_oidc.user = OidcUser("lee@example.com")
    fake_oidc.id_token_claims.update(claims)
    callback = await sign_in_with_provider(browser)
    assert_refused(callback, 400, f"the ID token from {DISPLAY_NAME} is not valid")
    assert reason in callback.text
    assert await web_sessions(db) == []


async def test_an_expired_id_token_is_refused(
    browser: Browser, factory: Factory, fake_oidc: FakeOidcProvider, clock: ManualClock
) -> None:
    await factory.user(email="max@example.com")
    fake_oidc.user = OidcUser("max@example.com")
    fake_oidc.id_token_claims["exp"] = int((clock.now() - timedelta(minutes=5)).timestamp())
    callback = await sign_in_with_provider(browser)
    assert_refused(callback, 400, "is not valid")
    assert "exp" in callback.text


async def test_an_id_token_issued_in_the_future_is_refused(
    browser: Browser, factory: Factory, fake_oidc: FakeOidcProvider, clock: ManualClock
) -> None:
    await factory.user(email="nia@example.com")
    fake_oidc.user = OidcUser("nia@example.com")
    fake_oidc.id_token_claims["iat"] = int((clock.now() + timedelta(hours=1)).timestamp())
    assert_refused(await sign_in_with_provider(browser), 400, "is not valid")


async def test_a_tampered_id_token_is_refused(
    browser: Browser, factory: Factory, fake_oidc: FakeOidcProvider, db: Database
) -> None:
    await factory.user(email="oscar@example.com")
    await factory.user(email="mallory@example.com")  # whom the tampered token names
    fake_oidc.user = OidcUser("oscar@example.com")
    fake_oidc.tamper_id_token = True
    assert_refused(await sign_in_with_provider(browser), 400, "is not valid")
    assert await web_sessions(db) == []


async def test_an_id_token_signed_by_another_key_is_refused(
    browser: Browser, factory: Factory, fake_oidc: FakeOidcProvider
) -> None:
    await factory.user(email="pat@example.com")
    fake_oidc.user = OidcUser("pat@example.com")
    fake_oidc.sign_with = new_rsa_key("attacker")
    assert_refused(await sign_in_with_provider(browser), 400, "is not valid")


async def test_a_provider_whose_discovery_names_another_issuer_is_not_used(
    browser: Browser, fake_oidc: FakeOidcProvider
) -> None:
    fake_oidc.discovery_overrides["issuer"] = "https://impostor.example"
    page = await browser.get("/sign-in")
    start = await browser.get(START_PATH)
    assert start.status_code == 502, start.text
    assert "names the issuer 'https://impostor.example'" in html.unescape(start.text)
    assert page.status_code == 200


async def test_a_wrong_client_secret_is_refused_by_the_provider(
    browser: Browser, factory: Factory, fake_oidc: FakeOidcProvider
) -> None:
    await factory.user(email="quinn@example.com")
    fake_oidc.user = OidcUser("quinn@example.com")
    fake_oidc.client.client_secret = "rotated-at-the-provider"
    assert_refused(await sign_in_with_provider(browser), 400, "did not accept this sign-in")
    assert [r.error for r in fake_oidc.token_requests] == ["invalid_client"]


# ---------------------------------------------------------------- configuration and secrets


async def test_without_configuration_there_is_no_button_and_no_route(
    settings: Settings, clock: ManualClock, db: Database, console: ConsoleProvider
) -> None:
    plain = settings.model_copy(
        update={"oidc_issuer": "", "oidc_client_id": "", "oidc_client_secret": None}
    )
    app = create_app(
        plain, clock=clock, overrides=Overrides(database=db, providers={"console": console})
    )
    async with app.router.lifespan_context(app), new_client(app) as http:
        page = await http.get("/sign-in")
        assert page.status_code == 200
        assert BUTTON not in page.text and "Single sign-on" not in page.text
        assert f'href="{START_PATH}' not in page.text
        assert (await http.get(START_PATH)).status_code == 404
        assert (await http.get(CALLBACK_PATH + "?code=x&state=y")).status_code == 404


async def test_the_button_shows_when_configured(browser: Browser) -> None:
    page = await browser.get("/sign-in?next=/schedules")
    assert f'<a href="{START_PATH}?next=%2Fschedules" role="button">{BUTTON}</a>' in page.text


def test_settings_need_issuer_client_id_and_secret_together() -> None:
    with pytest.raises(ValueError, match="BATON_OIDC_CLIENT_SECRET"):
        Settings(oidc_issuer="https://id.example.com", oidc_client_id="baton")
    with pytest.raises(ValueError, match="must include openid"):
        Settings(oidc_scopes="email profile")
    configured = Settings(
        oidc_issuer="https://id.example.com",
        oidc_client_id="baton",
        oidc_client_secret=SecretStr("s3cret-value"),
    )
    assert configured.oidc_configured
    assert "s3cret-value" not in repr(configured) and "s3cret-value" not in str(configured)


async def test_the_client_secret_never_appears_in_answers_or_logs(
    browser: Browser,
    factory: Factory,
    fake_oidc: FakeOidcProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = fake_oidc.client_secret
    answers: list[httpx.Response] = []
    await factory.user(email="rae@example.com")
    fake_oidc.user = OidcUser("rae@example.com")
    answers.append(await sign_in_with_provider(browser))
    answers.append(await browser.get("/"))
    browser.http.cookies.clear()
    fake_oidc.user = OidcUser("unknown@example.com")
    answers.append(await sign_in_with_provider(browser))
    fake_oidc.user = OidcUser("rae@example.com")
    fake_oidc.id_token_claims["aud"] = "other"
    answers.append(await sign_in_with_provider(browser))
    fake_oidc.id_token_claims.clear()
    fake_oidc.client.client_secret = "changed"  # the provider refuses Baton's secret
    answers.append(await sign_in_with_provider(browser))
    answers.append(await browser.get("/sign-in"))

    # The secret was really used (the provider checked it) ...
    assert any(r.status == 200 for r in fake_oidc.token_requests)
    # ... and shown nowhere.
    for answer in answers:
        assert secret not in answer.text
        assert all(secret not in value for value in answer.headers.values())
    assert secret not in caplog.text
    assert all(secret not in str(record.__dict__) for record in caplog.records)
    assert urlsplit(fake_oidc.url).hostname == "127.0.0.1"
