"""Page tests: browsers (cookie jars that fill in forms) against the same app as the API tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from fastapi import FastAPI

from app.core.auth import Role
from app.web.application import pages_app
from tests.factories import Actor, Factory
from tests.web.browser import Browser, new_client, signed_in_browser
from tests.web.failing_pages import TEST_PAGES, failing_pages_router


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[Browser]:
    """A browser nobody has signed in with yet."""
    async with new_client(app) as http:
        yield Browser(http)


SignIn = Callable[..., Awaitable[tuple[Browser, Actor]]]


@pytest.fixture
async def sign_in(app: FastAPI, factory: Factory) -> AsyncIterator[SignIn]:
    """``await sign_in(Role.VIEWER, time_zone="Europe/Berlin")``: a new user's signed-in browser."""
    opened: list[Browser] = []

    async def open_browser(role: Role = Role.MEMBER, **user: object) -> tuple[Browser, Actor]:
        browser, actor = await signed_in_browser(app, factory, role, **user)
        opened.append(browser)
        return browser, actor

    yield open_browser
    for browser in opened:
        await browser.http.aclose()


@pytest.fixture
def test_pages(app: FastAPI) -> None:
    """Pages only tests have, under ``/test-pages/``: what a page does when it fails."""
    pages = pages_app(app)
    if not any(getattr(r, "path", "").startswith(TEST_PAGES) for r in pages.router.routes):
        pages.include_router(failing_pages_router)
