"""A browser for page tests: an httpx client with its own cookie jar that fills in forms.

Pages are driven as a person would: open a page, read its CSRF token, submit its form. A real
browser (Playwright) drives the same pages in the end-to-end tests.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI

from app.core.auth import Role
from tests.conftest import PUBLIC_URL
from tests.factories import Actor, Factory

_CSRF_INPUT = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]*)">')
_CSRF_HEADER = re.compile(r"hx-headers='([^']*)'")


def csrf_token_in(page: str) -> str:
    """The CSRF token a page's forms carry."""
    match = _CSRF_INPUT.search(page)
    assert match is not None, "the page has no form with a CSRF token"
    return html.unescape(match[1])


def htmx_headers_in(page: str) -> str:
    """The ``hx-headers`` JSON on a page's ``<body>`` (what every htmx request sends)."""
    match = _CSRF_HEADER.search(page)
    assert match is not None, "the page's body has no hx-headers"
    return html.unescape(match[1])


@dataclass
class Browser:
    http: httpx.AsyncClient

    async def get(self, path: str, **kwargs: object) -> httpx.Response:
        return await self.http.get(path, **kwargs)  # type: ignore[arg-type]

    async def csrf_token(self, page: str = "/") -> str:
        response = await self.get(page)
        assert response.status_code == 200, (page, response.status_code)
        return csrf_token_in(response.text)

    async def submit(
        self, page: str, action: str, data: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """Open ``page``, then post ``data`` to ``action`` with the page's CSRF token."""
        token = await self.csrf_token(page)
        return await self.http.post(action, data={"csrf_token": token, **(data or {})})

    async def sign_in_with_token(self, token: str, next_path: str | None = None) -> httpx.Response:
        page = "/sign-in" + (f"?{urlencode({'next': next_path})}" if next_path else "")
        data = {"token": token, **({"next": next_path} if next_path else {})}
        return await self.submit(page, "/sign-in/token", data)

    def cookie(self, name: str) -> str | None:
        return self.http.cookies.get(name)


def new_client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL)


async def signed_in_browser(
    app: FastAPI, factory: Factory, role: Role = Role.MEMBER, **user: object
) -> tuple[Browser, Actor]:
    """A new browser signed in (by pasting an API token) as a new user with ``role``."""
    actor = await factory.actor(role, **user)
    browser = Browser(new_client(app))
    response = await browser.sign_in_with_token(actor.token)
    assert response.status_code == 303, response.text
    return browser, actor


def set_cookie_headers(response: httpx.Response, name: str) -> list[str]:
    return [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
