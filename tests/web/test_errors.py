"""Errors on pages: the API's status and words as a page with a way back; the API keeps JSON."""

from __future__ import annotations

import httpx
import pytest

from app.core.auth import Role
from tests.web.browser import Browser
from tests.web.conftest import SignIn

pytestmark = pytest.mark.usefixtures("test_pages")


async def test_an_unknown_page_is_an_html_404(browser: Browser) -> None:
    response = await browser.get("/no-such-page", headers={"Referer": "http://baton.test/sign-in"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1" in response.text and "Not Found" in response.text
    assert 'href="/sign-in"' in response.text  # back where they came from


async def test_the_api_keeps_its_json_errors(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404
    assert missing.json() == {"code": "not_found", "detail": "Not Found"}
    assert (await client.get("/api")).headers["content-type"] == "application/json"
    wrong_method = await client.put("/healthz")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "method_not_allowed"


async def test_a_service_error_shows_its_message_and_status(sign_in: SignIn) -> None:
    browser, _ = await sign_in(Role.MEMBER)
    response = await browser.get(
        "/test-pages/incidents/60", headers={"Referer": "http://baton.test/?team=2"}
    )
    assert response.status_code == 404
    assert "incident 60 not found" in response.text
    assert 'href="/?team=2"' in response.text
    # A referrer elsewhere is no way back: home instead.
    elsewhere = await browser.get(
        "/test-pages/incidents/60", headers={"Referer": "https://evil.example/"}
    )
    assert 'href="https://evil.example/"' not in elsewhere.text
    assert 'href="/"' in elsewhere.text


async def test_a_viewer_is_refused_a_write_with_the_api_message(
    sign_in: SignIn, client: httpx.AsyncClient
) -> None:
    browser, viewer = await sign_in(Role.VIEWER)
    token = await browser.csrf_token()
    response = await browser.http.post(
        "/test-pages/incidents/61/acknowledge", data={"csrf_token": token}
    )
    assert response.status_code == 403
    api = await client.post("/api/v1/teams", json={}, headers=viewer.headers)
    assert api.status_code == 403
    assert api.json()["detail"] in response.text


async def test_an_htmx_error_is_a_fragment_for_the_flash_area(sign_in: SignIn) -> None:
    browser, _ = await sign_in(Role.MEMBER)
    token = await browser.csrf_token()
    response = await browser.http.post(
        "/test-pages/incidents/61/acknowledge",
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    assert response.status_code == 409
    assert response.headers["hx-retarget"] == "#flash"
    assert "incident 61 is already resolved" in response.text
    assert "<html" not in response.text


async def test_a_bug_is_a_500_page_with_the_request_id(sign_in: SignIn) -> None:
    browser, _ = await sign_in(Role.MEMBER)
    response = await browser.get("/test-pages/broken", headers={"X-Request-Id": "req-42"})
    assert response.status_code == 500
    assert "something went wrong on our side" in response.text
    assert "req-42" in response.text
    assert "a bug" not in response.text


async def test_a_bad_form_is_a_422_page_with_the_api_words(browser: Browser) -> None:
    token = await browser.csrf_token("/sign-in")
    response = await browser.http.post("/sign-in/email", data={"csrf_token": token})
    assert response.status_code == 422
    assert "body.email: Field required" in response.text


async def test_pages_carry_security_headers_and_are_not_cached(browser: Browser) -> None:
    page = await browser.get("/sign-in")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["cache-control"] == "no-store"
    error = await browser.get("/no-such-page")
    assert error.headers["cache-control"] == "no-store"
    assert "content-security-policy" in error.headers


async def test_static_files_are_cached_by_version(browser: Browser) -> None:
    page = (await browser.get("/sign-in")).text
    start = page.index("/static/app.css?v=")
    url = page[start : page.index('"', start)]
    versioned = await browser.get(url)
    assert versioned.status_code == 200
    assert "immutable" in versioned.headers["cache-control"]
    plain = await browser.get("/static/app.css")
    assert plain.headers["cache-control"] == "no-cache"
    assert (await browser.get("/static/nothing.css")).status_code == 404
