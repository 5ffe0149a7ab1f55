"""Every state-changing page request carries the CSRF token of its session; sign-out ends it."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import select

from app.core.auth import Role
from app.core.db import Database
from app.web.models import WebSession
from tests.factories import Factory
from tests.web.browser import Browser, csrf_token_in, htmx_headers_in, set_cookie_headers
from tests.web.conftest import SignIn


async def test_a_post_without_the_token_is_refused(sign_in: SignIn) -> None:
    browser, _ = await sign_in(Role.MEMBER)
    refused = await browser.http.post("/sign-out")
    assert refused.status_code == 403
    assert "did not come from a Baton page" in refused.text
    assert refused.headers["content-type"].startswith("text/html")
    wrong = await browser.http.post("/sign-out", data={"csrf_token": "0" * 64})
    assert wrong.status_code == 403
    # Still signed in: nothing happened.
    assert (await browser.get("/")).status_code == 200


async def test_htmx_requests_carry_the_token_in_a_header(sign_in: SignIn) -> None:
    browser, _ = await sign_in(Role.MEMBER)
    home = await browser.get("/")
    headers = json.loads(htmx_headers_in(home.text))
    assert headers == {"X-CSRF-Token": csrf_token_in(home.text)}
    signed_out = await browser.http.post("/sign-out", headers=headers)
    assert signed_out.status_code == 303


async def test_the_token_belongs_to_one_session(sign_in: SignIn) -> None:
    first, _ = await sign_in(Role.MEMBER)
    second, _ = await sign_in(Role.MEMBER)
    assert await first.csrf_token() != await second.csrf_token()
    theirs = await first.csrf_token()
    refused = await second.http.post("/sign-out", data={"csrf_token": theirs})
    assert refused.status_code == 403


async def test_the_sign_in_forms_need_the_visitor_token(browser: Browser, factory: Factory) -> None:
    actor = await factory.actor(Role.MEMBER)
    # No visitor cookie at all (a form posted from another site).
    no_cookie = await browser.http.post("/sign-in/token", data={"token": actor.token})
    assert no_cookie.status_code == 403
    await browser.get("/sign-in")
    no_token = await browser.http.post("/sign-in/token", data={"token": actor.token})
    assert no_token.status_code == 403
    other_visitor = await browser.http.post(
        "/sign-in/email", data={"email": "x@example.com", "csrf_token": "f" * 64}
    )
    assert other_visitor.status_code == 403
    assert browser.cookie("baton_session") is None


async def test_sign_out_ends_the_session_for_good(sign_in: SignIn, db: Database) -> None:
    browser, actor = await sign_in(Role.MEMBER)
    cookie = browser.cookie("baton_session")
    assert cookie is not None
    page = await browser.get("/sign-out")
    assert page.status_code == 200
    response = await browser.http.post("/sign-out", data={"csrf_token": csrf_token_in(page.text)})
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?signed_out=true"
    (cleared,) = set_cookie_headers(response, "baton_session")
    assert "Max-Age=0" in cleared
    assert "You are signed out" in (await browser.get(response.headers["location"])).text

    # The old cookie, kept by someone who copied it, opens nothing.
    async with httpx.AsyncClient(
        transport=browser.http._transport,  # type: ignore[attr-defined]
        base_url=str(browser.http.base_url),
        cookies={"baton_session": cookie},
    ) as stolen:
        again = await stolen.get("/")
        assert again.status_code == 303
        assert again.headers["location"] == "/sign-in"
    async with db.transaction() as session:
        (row,) = (await session.scalars(select(WebSession))).all()
    assert row.user_id == actor.id
    assert row.revoked_at is not None
    assert cookie not in row.token_hash


async def test_htmx_without_a_session_is_sent_to_sign_in_by_header(browser: Browser) -> None:
    response = await browser.get("/", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["hx-redirect"] == "/sign-in"


async def test_signing_in_again_ends_the_browsers_previous_session(
    browser: Browser, factory: Factory
) -> None:
    first, second = await factory.actor(Role.MEMBER), await factory.actor(Role.ADMIN)
    token = await browser.csrf_token("/sign-in")
    await browser.http.post("/sign-in/token", data={"csrf_token": token, "token": first.token})
    old_cookie = browser.cookie("baton_session")
    again = await browser.http.post(
        "/sign-in/token", data={"csrf_token": token, "token": second.token}
    )
    assert again.status_code == 303
    assert browser.cookie("baton_session") != old_cookie
    new_cookie = browser.cookie("baton_session")
    browser.http.cookies.clear()
    browser.http.cookies.set("baton_session", old_cookie or "")
    assert (await browser.get("/")).status_code == 303
    browser.http.cookies.clear()
    browser.http.cookies.set("baton_session", new_cookie or "")
    assert (await browser.get("/")).status_code == 200


async def test_a_deleted_users_sessions_go_with_them(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient, db: Database
) -> None:
    browser, member = await sign_in(Role.MEMBER)
    admin = await factory.actor(Role.ADMIN)
    deleted = await client.delete(f"/api/v1/users/{member.id}", headers=admin.headers)
    assert deleted.status_code == 204, deleted.text
    assert (await browser.get("/")).status_code == 303
    async with db.transaction() as session:
        assert (await session.scalars(select(WebSession))).all() == []
