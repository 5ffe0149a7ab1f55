"""Signing in: the sign-in page, magic links, pasted API tokens, where a sign-in leads."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select

from app.core.auth import Role
from app.core.clock import ManualClock
from app.core.db import Database
from app.core.settings import Environment, Settings
from app.main import Overrides, create_app
from app.notify.base import MessageKind
from app.notify.console import ConsoleProvider
from app.people.models import ContactType
from app.web.models import SignInLink
from tests.conftest import PUBLIC_URL
from tests.factories import Factory
from tests.web.browser import Browser, csrf_token_in, new_client, set_cookie_headers

LINK = re.compile(re.escape(PUBLIC_URL) + r"/sign-in/link\?token=(\d{40})")
SAME_ANSWER = "is known to Baton, a sign-in link is on its way"


def link_in(console: ConsoleProvider, address: str) -> str:
    """The path of the newest sign-in link sent to ``address``."""
    for record in reversed(console.sent):
        if record.message.address == address and "sign-in link" in record.message.subject:
            match = LINK.search(record.message.text)
            assert match is not None, record.message.text
            return match[0].removeprefix(PUBLIC_URL)
    raise AssertionError(f"no sign-in link was sent to {address}")


async def ask_for_link(
    browser: Browser, email: str, next_path: str | None = None
) -> httpx.Response:
    data = {"email": email, **({"next": next_path} if next_path else {})}
    return await browser.submit("/sign-in", "/sign-in/email", data)


async def follow_link(browser: Browser, link: str) -> httpx.Response:
    """Open the e-mailed link, then press its Sign in button."""
    page = await browser.get(link)
    assert page.status_code == 200, page.text
    token = parse_qs(urlsplit(link).query)["token"][0]
    return await browser.http.post(
        "/sign-in/link", data={"csrf_token": csrf_token_in(page.text), "token": token}
    )


# ------------------------------------------------------------------------- the sign-in page


async def test_a_page_without_a_session_leads_to_the_sign_in_page(browser: Browser) -> None:
    home = await browser.get("/")
    assert home.status_code == 303
    assert home.headers["location"] == "/sign-in"
    page = await browser.get("/sign-in")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'action="/sign-in/email"' in page.text
    assert 'action="/sign-in/token"' in page.text
    assert csrf_token_in(page.text)
    # The sign-in forms' CSRF token is bound to a cookie that scripts cannot read.
    (visitor,) = set_cookie_headers(page, "baton_visitor")
    assert "HttpOnly" in visitor and "SameSite=lax" in visitor and "Path=/" in visitor
    assert "Secure" not in visitor  # only in production


# ------------------------------------------------------------------------------ magic links


async def test_magic_link_end_to_end(
    browser: Browser, factory: Factory, console: ConsoleProvider
) -> None:
    user = await factory.user(name="Alice Nguyen", email="alice@example.com")
    await factory.contact_method(user.id, ContactType.EMAIL, "alice.pager@example.com")

    asked = await ask_for_link(browser, "Alice@Example.com ")
    assert asked.status_code == 200
    assert SAME_ANSWER in asked.text
    (sent,) = [r.message for r in console.sent]
    # To her e-mail contact method, as verification codes go; the whole link on one line.
    assert sent.address == "alice.pager@example.com"
    assert sent.kind is MessageKind.VERIFICATION
    assert "\n" not in sent.text
    link = link_in(console, "alice.pager@example.com")

    confirm = await browser.get(link)
    assert "Alice Nguyen" in confirm.text
    signed_in = await follow_link(browser, link)
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/"
    (cookie,) = set_cookie_headers(signed_in, "baton_session")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Max-Age=43200" in cookie  # 12 hours
    assert "Secure" not in cookie

    home = await browser.get("/")
    assert home.status_code == 200
    assert "Alice Nguyen" in home.text
    assert "Sign out" in home.text


async def test_without_an_email_contact_method_the_link_goes_to_the_account_address(
    browser: Browser, factory: Factory, console: ConsoleProvider
) -> None:
    user = await factory.user(email="bob@example.com")
    # An e-mail contact method that bounced is not used.
    method = await factory.contact_method(user.id, ContactType.EMAIL, "bob.old@example.com")
    async with factory.db.transaction() as session:
        stored = await session.get(type(method), method.id)
        assert stored is not None
        stored.disabled_at = factory.db.clock.now()
    await ask_for_link(browser, "bob@example.com")
    assert [r.message.address for r in console.sent] == ["bob@example.com"]


async def test_an_unknown_address_gets_the_same_answer_and_nothing_is_sent(
    browser: Browser, factory: Factory, console: ConsoleProvider
) -> None:
    await factory.user(email="known@example.com")
    known = await ask_for_link(browser, "known@example.com")
    unknown = await ask_for_link(browser, "nobody@example.com")
    assert unknown.status_code == known.status_code == 200
    assert unknown.text.replace("nobody@", "known@") == known.text
    assert [r.message.address for r in console.sent] == ["known@example.com"]


async def test_a_link_works_once(
    browser: Browser, app: FastAPI, factory: Factory, console: ConsoleProvider
) -> None:
    await factory.user(email="carol@example.com")
    await ask_for_link(browser, "carol@example.com")
    link = link_in(console, "carol@example.com")
    page = await browser.get(link)
    first = await follow_link(browser, link)
    assert first.status_code == 303

    # The same link again, in another browser: refused, and no session is made.
    async with new_client(app) as http:
        other = Browser(http)
        again = await other.get(link)
        assert again.status_code == 400
        assert "expired or was already used" in again.text
        pressed = await other.http.post(
            "/sign-in/link",
            data={"csrf_token": csrf_token_in(page.text), "token": link.rsplit("=", 1)[1]},
        )
        assert pressed.status_code in (400, 403)
        assert other.cookie("baton_session") is None


async def test_a_link_expires_after_15_minutes(
    browser: Browser, factory: Factory, console: ConsoleProvider, clock: ManualClock
) -> None:
    await factory.user(email="dan@example.com")
    await ask_for_link(browser, "dan@example.com")
    early = link_in(console, "dan@example.com")
    clock.advance(minutes=14, seconds=59)
    assert (await browser.get(early)).status_code == 200

    await ask_for_link(browser, "dan@example.com")
    late = link_in(console, "dan@example.com")
    assert late != early
    clock.advance(minutes=15)
    for link in (early, late):
        expired = await browser.get(link)
        assert expired.status_code == 400
        assert "expired or was already used" in expired.text
    token = late.rsplit("=", 1)[1]
    pressed = await browser.http.post(
        "/sign-in/link",
        data={"csrf_token": await browser.csrf_token("/sign-in"), "token": token},
    )
    assert pressed.status_code == 400
    assert browser.cookie("baton_session") is None


async def test_links_are_stored_hashed(
    browser: Browser, factory: Factory, console: ConsoleProvider, db: Database
) -> None:
    await factory.user(email="erin@example.com")
    await ask_for_link(browser, "erin@example.com")
    token = link_in(console, "erin@example.com").rsplit("=", 1)[1]
    async with db.transaction() as session:
        (row,) = (await session.scalars(select(SignInLink))).all()
    assert token not in row.token_hash
    assert len(row.token_hash) == 64


async def test_links_asked_for_one_address_are_limited(
    browser: Browser, factory: Factory, console: ConsoleProvider
) -> None:
    await factory.user(email="frank@example.com")
    for _ in range(5):
        assert (await ask_for_link(browser, "frank@example.com")).status_code == 200
    refused = await ask_for_link(browser, "frank@example.com")
    assert refused.status_code == 429
    assert "too many sign-in links" in refused.text
    assert int(refused.headers["retry-after"]) > 0
    # Refused whether or not the address is known, so a refusal tells nothing either.
    for _ in range(5):
        await ask_for_link(browser, "ghost@example.com")
    assert (await ask_for_link(browser, "ghost@example.com")).status_code == 429
    assert len(console.sent) == 5


@pytest.mark.parametrize("show_codes", [True, False])
async def test_the_console_prints_the_whole_link_only_in_development(
    browser: Browser,
    factory: Factory,
    console: ConsoleProvider,
    clock: ManualClock,
    show_codes: bool,
) -> None:
    """``make run`` (development) prints the clickable link; other consoles mask it."""
    await factory.user(email="grace@example.com")
    await ask_for_link(browser, "grace@example.com")
    (record,) = console.sent

    class Lines:
        text = ""

        def write(self, text: str) -> int:
            self.text += text
            return len(text)

        def flush(self) -> None:
            pass

    lines = Lines()
    await ConsoleProvider(clock, stream=lines, show_codes=show_codes).send(record.message)  # type: ignore[arg-type]
    (line,) = lines.text.splitlines()
    link = PUBLIC_URL + link_in(console, "grace@example.com")
    assert (link in line) is show_codes
    assert (link.rsplit("=", 1)[1] in line) is show_codes


# ------------------------------------------------------------------------------- API tokens


async def test_pasting_an_api_token_signs_in_as_its_user(
    browser: Browser, factory: Factory
) -> None:
    actor = await factory.actor(Role.ADMIN, name="Ada Admin")
    response = await browser.sign_in_with_token(f"  {actor.token} ")
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert set_cookie_headers(response, "baton_session")
    home = await browser.get("/")
    assert "Ada Admin" in home.text


async def test_a_wrong_token_is_refused_with_the_api_message(
    browser: Browser, client: httpx.AsyncClient
) -> None:
    response = await browser.sign_in_with_token("baton_not-a-real-token")
    assert response.status_code == 401
    api = await client.get(
        "/api/v1/users", headers={"Authorization": "Bearer baton_not-a-real-token"}
    )
    assert api.json()["detail"] in response.text
    assert 'name="token"' in response.text  # the form again, to try once more
    assert browser.cookie("baton_session") is None


async def test_a_session_from_a_token_ends_when_the_token_is_revoked(
    browser: Browser, factory: Factory, client: httpx.AsyncClient
) -> None:
    actor = await factory.actor(Role.MEMBER)
    await browser.sign_in_with_token(actor.token)
    assert (await browser.get("/")).status_code == 200
    tokens = (await client.get("/api/v1/tokens", headers=actor.headers)).json()
    revoked = await client.delete(f"/api/v1/tokens/{tokens[0]['id']}", headers=actor.headers)
    assert revoked.status_code == 200
    assert (await browser.get("/")).status_code == 303


async def test_a_session_expires_after_12_hours(
    browser: Browser, factory: Factory, clock: ManualClock
) -> None:
    actor = await factory.actor(Role.MEMBER)
    await browser.sign_in_with_token(actor.token)
    clock.advance(hours=11, minutes=59)
    assert (await browser.get("/")).status_code == 200
    clock.advance(timedelta(minutes=1))
    expired = await browser.get("/")
    assert expired.status_code == 303
    assert expired.headers["location"] == "/sign-in"
    # The dead cookie is cleared.
    (cleared,) = set_cookie_headers(expired, "baton_session")
    assert "Max-Age=0" in cleared


# ------------------------------------------------------------------------- where it leads


@pytest.mark.usefixtures("test_pages")
async def test_a_link_from_a_page_message_lands_there_after_sign_in(
    browser: Browser, app: FastAPI, factory: Factory, console: ConsoleProvider
) -> None:
    refused = await browser.get("/test-pages/incidents/61?from=sms")
    assert refused.status_code == 303
    location = refused.headers["location"]
    assert location == "/sign-in?next=%2Ftest-pages%2Fincidents%2F61%3Ffrom%3Dsms"
    page = await browser.get(location)
    assert 'name="next" value="/test-pages/incidents/61?from=sms"' in page.text

    actor = await factory.actor(Role.MEMBER)
    by_token = await browser.sign_in_with_token(
        actor.token, next_path="/test-pages/incidents/61?from=sms"
    )
    assert by_token.headers["location"] == "/test-pages/incidents/61?from=sms"
    assert (await browser.get(by_token.headers["location"])).status_code == 200

    await factory.user(email="heidi@example.com")
    async with new_client(app) as http:
        other = Browser(http)
        await ask_for_link(other, "heidi@example.com", next_path="/incidents/61")
        by_link = await follow_link(other, link_in(console, "heidi@example.com"))
        assert by_link.headers["location"] == "/incidents/61"


@pytest.mark.parametrize(
    "next_path",
    [
        "//evil.example/incidents/61",
        "https://evil.example/",
        "http:/evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "incidents/61",
        "/sign-out",
        "/sign-in?next=//evil.example",
    ],
)
async def test_next_never_leads_off_the_site(
    browser: Browser, factory: Factory, next_path: str
) -> None:
    actor = await factory.actor(Role.MEMBER)
    response = await browser.sign_in_with_token(actor.token, next_path=next_path)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


async def test_the_sign_in_page_sends_a_signed_in_browser_on(
    browser: Browser, factory: Factory
) -> None:
    actor = await factory.actor(Role.MEMBER)
    await browser.sign_in_with_token(actor.token)
    again = await browser.get("/sign-in", params={"next": "/schedules"})
    assert again.status_code == 303
    assert again.headers["location"] == "/schedules"


async def test_in_production_the_cookies_are_secure(
    settings: Settings, clock: ManualClock, db: Database, console: ConsoleProvider, factory: Factory
) -> None:
    production = settings.model_copy(
        update={"env": Environment.PRODUCTION, "secret_key": SecretStr("s" * 40)}
    )
    app = create_app(
        production, clock=clock, overrides=Overrides(database=db, providers={"console": console})
    )
    actor = await factory.actor(Role.MEMBER)
    async with app.router.lifespan_context(app), new_client(app) as http:
        browser = Browser(http)
        page = await browser.get("/sign-in")
        (visitor,) = set_cookie_headers(page, "baton_visitor")
        assert "Secure" in visitor
        # httpx keeps Secure cookies for https only: hand the visitor cookie on by hand.
        http.cookies.set("baton_visitor", visitor.split(";")[0].split("=", 1)[1])
        signed_in = await http.post(
            "/sign-in/token", data={"csrf_token": csrf_token_in(page.text), "token": actor.token}
        )
        assert signed_in.status_code == 303
        (cookie,) = set_cookie_headers(signed_in, "baton_session")
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
