"""My contact methods (``/me/contact-methods``): add, verify with the code, turn off and on,
remove; the same services and messages as the API's contact-method routes."""

from __future__ import annotations

import re

import httpx

from app.core.auth import Role
from app.notify.console import ConsoleProvider
from app.people.models import ContactType
from tests.factories import Actor, Factory
from tests.web.conftest import SignIn

PAGE = "/me/contact-methods"


def _sent_code(console: ConsoleProvider, address: str) -> str:
    # As tests/people/test_contact_methods_api.py reads it: the console provider keeps what
    # it sent.
    messages = [r.message for r in console.sent if r.message.address == address]
    assert messages, f"nothing was sent to {address}"
    match = re.search(r"code is (\d{6})", messages[-1].text)
    assert match, messages[-1].text
    return match.group(1)


async def _methods(client: httpx.AsyncClient, actor: Actor) -> list[dict[str, object]]:
    response = await client.get(f"/api/v1/users/{actor.id}/contact-methods", headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_number_is_added_sent_a_code_and_verified_with_it(
    sign_in: SignIn, client: httpx.AsyncClient, console: ConsoleProvider
) -> None:
    browser, me = await sign_in(Role.MEMBER)
    page = (await browser.get(PAGE)).text
    for label in ("Type", "Address", "Label (optional)"):
        assert f">{label}</label>" in page

    added = await browser.submit(
        PAGE, PAGE, {"type": "sms", "address": "+1 (555) 555-0123", "label": "mobile"}
    )
    assert added.status_code == 303, added.text
    [method] = await _methods(client, me)
    assert method["address"] == "+15555550123" and method["verified"] is False
    assert added.headers["location"] == f"{PAGE}#method-{method['id']}"
    page = (await browser.get(PAGE)).text
    assert "SMS: +15555550123" in page, "my own addresses are shown whole"
    assert "Not verified" in page

    sent = await browser.submit(PAGE, f"{PAGE}/{method['id']}/send-code")
    assert sent.status_code == 303
    assert sent.headers["location"] == f"{PAGE}?sent={method['id']}#method-{method['id']}"
    assert console.sent[-1].message.kind == "verification"
    page = (await browser.get(sent.headers["location"])).text
    assert "A code is on its way to +15555550123" in page
    assert f'<label for="code-{method["id"]}">Code sent to +15555550123</label>' in page

    # A wrong code is said beside the form, and counts, as in the API.
    code = _sent_code(console, "+15555550123")
    wrong = "000000" if code != "000000" else "111111"
    refused = await browser.submit(PAGE, f"{PAGE}/{method['id']}/verify", {"code": wrong})
    assert refused.status_code == 422
    assert "wrong code; 4 attempts left" in refused.text
    assert 'aria-invalid="true"' in refused.text

    verified = await browser.submit(PAGE, f"{PAGE}/{method['id']}/verify", {"code": code})
    assert verified.status_code == 303, verified.text
    [method] = await _methods(client, me)
    assert method["verified"] is True and method["pageable"] is True
    assert "Verified" in (await browser.get(PAGE)).text


async def test_asking_for_codes_too_fast_is_refused_with_the_apis_message(
    sign_in: SignIn, factory: Factory
) -> None:
    browser, me = await sign_in(Role.MEMBER)
    phone = await factory.contact_method(me.id, ContactType.VOICE, "+15555550123", verified=False)
    assert (await browser.submit(PAGE, f"{PAGE}/{phone.id}/send-code")).status_code == 303
    again = await browser.submit(PAGE, f"{PAGE}/{phone.id}/send-code")
    assert again.status_code == 429
    assert "a code was sent moments ago" in again.text


async def test_a_bad_or_duplicate_address_is_said_beside_the_form(
    sign_in: SignIn, client: httpx.AsyncClient
) -> None:
    browser, me = await sign_in(Role.MEMBER)
    bad = await browser.submit(PAGE, PAGE, {"type": "slack", "address": "alice"})
    assert bad.status_code == 422
    assert "a Slack contact is a Slack member id such as U0123ABCD" in bad.text
    assert 'value="alice"' in bad.text, "what I typed is kept"
    assert (
        await browser.submit(PAGE, PAGE, {"type": "slack", "address": "U0ALICE01"})
    ).status_code == 303
    twice = await browser.submit(PAGE, PAGE, {"type": "slack", "address": "U0ALICE01"})
    assert twice.status_code == 409
    assert "already has slack contact U0ALICE01" in twice.text
    assert len(await _methods(client, me)) == 1


async def test_a_method_is_turned_off_and_on_and_removed(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    browser, me = await sign_in(Role.MEMBER)
    email = await factory.contact_method(me.id, ContactType.EMAIL, "alice@example.com")
    slack = await factory.contact_method(me.id, ContactType.SLACK, "U0ALICE001")

    off = await browser.submit(PAGE, f"{PAGE}/{email.id}/disable")
    assert off.status_code == 303
    by_id = {m["id"]: m for m in await _methods(client, me)}
    assert by_id[email.id]["pageable"] is False
    assert by_id[email.id]["disabled_reason"] == "turned off by its owner"
    # The ladder pages only what is on.
    assert _ladder_text((await browser.get("/me")).text) == "Slack now"

    on = await browser.submit(PAGE, f"{PAGE}/{email.id}/enable")
    assert on.status_code == 303
    by_id = {m["id"]: m for m in await _methods(client, me)}
    assert by_id[email.id]["pageable"] is True and by_id[email.id]["disabled_at"] is None

    removed = await browser.submit(PAGE, f"{PAGE}/{slack.id}/remove")
    assert removed.status_code == 303
    assert [m["id"] for m in await _methods(client, me)] == [email.id]


def _ladder_text(page: str) -> str:
    found = re.search(r'id="ladder-sentence-high">(.*?)</p>', page, re.S)
    assert found is not None
    return found[1]


async def test_another_users_methods_cannot_be_touched_through_my_page(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    browser, _ = await sign_in(Role.ADMIN)
    bob = await factory.actor(Role.MEMBER)
    bobs = await factory.contact_method(bob.id, ContactType.SMS, "+15555550177", verified=False)
    for action, data in (
        ("send-code", {}),
        ("verify", {"code": "123456"}),
        ("disable", {}),
        ("remove", {}),
    ):
        refused = await browser.submit(PAGE, f"{PAGE}/{bobs.id}/{action}", data)
        assert refused.status_code == 404, (action, refused.status_code)
    [method] = await _methods(client, bob)
    assert method["id"] == bobs.id and method["disabled_at"] is None
    assert "+15555550177" not in (await browser.get(PAGE)).text


async def test_contact_method_writes_refuse_a_missing_csrf_token_and_viewers(
    sign_in: SignIn, factory: Factory, client: httpx.AsyncClient
) -> None:
    browser, me = await sign_in(Role.MEMBER)
    phone = await factory.contact_method(me.id, ContactType.SMS, "+15555550123", verified=False)
    for action in ("send-code", "disable", "remove"):
        refused = await browser.http.post(f"{PAGE}/{phone.id}/{action}", data={})
        assert refused.status_code == 403
        assert "did not come from a Baton page" in refused.text
    assert len(await _methods(client, me)) == 1

    viewer, watcher = await sign_in(Role.VIEWER)
    assert (await viewer.get(PAGE)).status_code == 200
    refused = await viewer.submit(PAGE, PAGE, {"type": "slack", "address": "U0VIEW001"})
    assert refused.status_code == 403
    assert await _methods(client, watcher) == []
