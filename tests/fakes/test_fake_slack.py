"""Self-tests of the fake Slack, driven by the real slack_sdk clients."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RateLimitErrorRetryHandler
from slack_sdk.signature import Clock, SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook import WebhookClient
from slack_sdk.webhook.async_client import AsyncWebhookClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.plugin import fake_slack  # noqa: F401 - fixture
from tests.fakes.slack import (
    BOT_TOKEN,
    COMMANDS_PATH,
    EVENTS_PATH,
    INTERACTIONS_PATH,
    SIGNING_SECRET,
    FakeSlack,
    build_state_values,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "slack"
PUBLIC = "http://baton.test"
KAT_TS = 1773480500
ONCALL = "C0ONCALL01"
BOB = "U0BOB00002"
ALICE = "U0ALICE001"

ESCALATE_VIEW = {
    "type": "modal",
    "callback_id": "escalate",
    "private_metadata": "INC-1042",
    "title": {"type": "plain_text", "text": "Escalate INC-1042"},
    "submit": {"type": "plain_text", "text": "Escalate"},
    "blocks": [
        {
            "type": "input",
            "block_id": "reason_block",
            "label": {"type": "plain_text", "text": "Reason"},
            "element": {"type": "plain_text_input", "action_id": "reason"},
        },
        {
            "type": "input",
            "block_id": "sev",
            "label": {"type": "plain_text", "text": "Severity"},
            "element": {
                "type": "static_select",
                "action_id": "severity",
                "options": [
                    {"text": {"type": "plain_text", "text": "SEV1"}, "value": "sev1"},
                    {"text": {"type": "plain_text", "text": "SEV2"}, "value": "sev2"},
                ],
            },
        },
        {
            "type": "input",
            "optional": True,
            "label": {"type": "plain_text", "text": "Assign to"},
            "element": {"type": "users_select", "action_id": "assignee"},
        },
    ],
}


class FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


# -- a tiny stand-in for Baton's Slack endpoints ------------------------------------------------


class MiniBaton:
    """Verifies X-Slack-Signature with the SDK and reacts like an on-call bot would."""

    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake
        self.received: list[tuple[str, dict[str, str], Any, bool]] = []
        self.submitted: list[dict[str, Any]] = []
        self.app = Starlette(
            routes=[
                Route(COMMANDS_PATH, self.commands, methods=["POST"]),
                Route(INTERACTIONS_PATH, self.interactions, methods=["POST"]),
                Route(EVENTS_PATH, self.events, methods=["POST"]),
            ]
        )

    def web(self) -> AsyncWebClient:
        return AsyncWebClient(token=BOT_TOKEN, base_url=self.fake.api_url)

    async def _verify(self, request: Request, kind: str) -> tuple[bytes, bool]:
        body = await request.body()
        try:
            ok = SignatureVerifier(SIGNING_SECRET).is_valid_request(body, dict(request.headers))
        except ValueError:  # non-numeric timestamp (documented SDK gotcha)
            ok = False
        self.received.append((kind, dict(request.headers), body, ok))
        return body, ok

    async def commands(self, request: Request) -> Response:
        body, ok = await self._verify(request, "slash")
        if not ok:
            return Response(status_code=401)
        form = dict(parse_qsl(body.decode(), keep_blank_values=True))
        if form["text"].startswith("ack"):
            return JSONResponse({"response_type": "ephemeral", "text": "Acknowledged INC-1042"})
        if form["text"].startswith("announce"):
            await AsyncWebhookClient(form["response_url"]).send(
                text="Paging the payments on-call", response_type="in_channel"
            )
        return Response(status_code=200)

    async def interactions(self, request: Request) -> Response:
        body, ok = await self._verify(request, "interaction")
        if not ok:
            return Response(status_code=401)
        payload = json.loads(dict(parse_qsl(body.decode()))["payload"])
        if payload["type"] == "block_actions":
            action = payload["actions"][0]
            if action["action_id"] == "incident_acknowledge":
                await self.web().chat_update(
                    channel=payload["container"]["channel_id"],
                    ts=payload["container"]["message_ts"],
                    text=f"{action['value']} acknowledged by <@{payload['user']['id']}>",
                    blocks=[],
                )
                await AsyncWebhookClient(payload["response_url"]).send(
                    text=f"You acknowledged {action['value']}"
                )
            elif action["action_id"] == "incident_escalate":
                await self.web().views_open(trigger_id=payload["trigger_id"], view=ESCALATE_VIEW)
            elif action["action_id"] == "incident_resolve":
                await AsyncWebhookClient(payload["response_url"]).send(
                    text="Resolved", replace_original=True
                )
            return Response(status_code=200)
        if payload["type"] == "view_submission":
            values = payload["view"]["state"]["values"]
            if not values["reason_block"]["reason"]["value"]:
                return JSONResponse(
                    {"response_action": "errors", "errors": {"reason_block": "Required"}}
                )
            self.submitted.append(values)
        return Response(status_code=200)

    async def events(self, request: Request) -> Response:
        _, ok = await self._verify(request, "event")
        return Response(status_code=200 if ok else 401)


@pytest.fixture
async def baton(fake_slack: FakeSlack) -> AsyncIterator[MiniBaton]:  # noqa: F811
    mini = MiniBaton(fake_slack)
    transport = httpx.ASGITransport(app=mini.app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
        fake_slack.connect(client, PUBLIC)
        yield mini


def web(fake: FakeSlack, **kw: Any) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=fake.api_url, **kw)


def setup_directory(fake: FakeSlack) -> None:
    fake.channel(ONCALL, name="inc-payments")
    fake.user(BOB, email="bob@example.test", name="bob.okafor", tz="Europe/London")
    fake.user(ALICE, email="alice@example.test", name="alice.nguyen", tz="America/New_York")


def fixture_message() -> dict[str, Any]:
    return json.loads((FIXTURES / "block_actions_ack.json").read_text())["message"]


# -- signatures -------------------------------------------------------------------------------


def test_known_answer_vectors() -> None:
    verifier = SignatureVerifier(SIGNING_SECRET, clock=FixedClock(KAT_TS))
    slash = (FIXTURES / "slash_oncall.txt").read_bytes()
    obj = json.loads((FIXTURES / "block_actions_ack.json").read_text())
    interaction = urlencode({"payload": json.dumps(obj, separators=(",", ":"))}).encode()
    fake = FakeSlack()
    for body, expected in [
        (slash, "v0=b02223de810eb2f67a191a9010fd83ebe85194028ab46b5c9ac864ff721f357d"),
        (interaction, "v0=b42d6e517218f9c7d6c567fc1e47ea37b6a2fab0c34b81011526ee7016a0bd33"),
    ]:
        assert fake.sign(body, str(KAT_TS)) == expected
        headers = {"X-Slack-Request-Timestamp": str(KAT_TS), "X-Slack-Signature": expected}
        assert verifier.is_valid_request(body, headers)
        late = SignatureVerifier(SIGNING_SECRET, clock=FixedClock(KAT_TS + 301))
        assert not late.is_valid_request(body, headers)


async def test_slash_command_body_and_signature_match_the_fixture(
    fake_slack: FakeSlack,  # noqa: F811
    baton: MiniBaton,
) -> None:
    setup_directory(fake_slack)
    fake_slack.now = lambda: KAT_TS
    expected = dict(parse_qsl((FIXTURES / "slash_oncall.txt").read_text()))
    response = await fake_slack.user(ALICE).slash(
        "page payments-api Checkout failing for EU cards",
        command="/oncall",
        channel=ONCALL,
        response_url=expected["response_url"],
        trigger_id=expected["trigger_id"],
    )
    sent = fake_slack.sent[-1]
    assert sent.body == (FIXTURES / "slash_oncall.txt").read_bytes()
    assert sent.headers["X-Slack-Request-Timestamp"] == str(KAT_TS)
    assert sent.headers["X-Slack-Signature"] == (
        "v0=b02223de810eb2f67a191a9010fd83ebe85194028ab46b5c9ac864ff721f357d"
    )
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert sent.url == PUBLIC + COMMANDS_PATH
    assert response.status_code == 401  # the mini app checks against the real clock: stale


async def test_click_payload_matches_the_fixture(
    fake_slack: FakeSlack,  # noqa: F811
    baton: MiniBaton,
) -> None:
    setup_directory(fake_slack)
    obj = json.loads((FIXTURES / "block_actions_ack.json").read_text())
    fake_slack.now = lambda: 1773480421.0023
    posted = web(fake_slack).chat_postMessage(
        channel=ONCALL, text=obj["message"]["text"], blocks=obj["message"]["blocks"]
    )
    assert posted["ts"] == "1773480421.002300"
    page = await fake_slack.channel(ONCALL).expect_message("INC-1042")
    fake_slack.now = lambda: KAT_TS
    payload = fake_slack.user(BOB).block_actions_payload(
        page,
        "incident_acknowledge",
        trigger_id=obj["trigger_id"],
        response_url=obj["response_url"],
        action_ts=obj["actions"][0]["action_ts"],
    )
    assert payload == obj
    assert json.dumps(payload) == json.dumps(obj)  # same key order, so the same bytes
    await fake_slack.user(BOB).click(
        page,
        "incident_acknowledge",
        trigger_id=obj["trigger_id"],
        response_url=obj["response_url"],
        action_ts=obj["actions"][0]["action_ts"],
    )
    assert fake_slack.sent[-1].headers["X-Slack-Signature"] == (
        "v0=b42d6e517218f9c7d6c567fc1e47ea37b6a2fab0c34b81011526ee7016a0bd33"
    )
    fake_slack.allow_unexpected = True  # the stale click was rejected by the mini app


# -- Web API ----------------------------------------------------------------------------------


async def test_web_api_methods_with_the_sync_client(fake_slack: FakeSlack) -> None:  # noqa: F811
    setup_directory(fake_slack)
    fake_slack.add_usergroup("S0ONCALL01", "payments-oncall", users=[ALICE])
    client = web(fake_slack)

    auth = client.auth_test()
    assert auth["team_id"] == "T0EXMPL01" and auth["user_id"] == "U0BATONBOT"

    first = client.chat_postMessage(channel=ONCALL, text="first")
    second = client.chat_postMessage(channel=ONCALL, text="second", thread_ts=first["ts"])
    assert re.fullmatch(r"\d{10}\.\d{6}", first["ts"]) and second["ts"] > first["ts"]
    assert first["channel"] == ONCALL and first["message"]["text"] == "first"

    updated = client.chat_update(channel=ONCALL, ts=first["ts"], text="first, edited")
    assert updated["text"] == "first, edited"
    assert fake_slack.get_message(ONCALL, first["ts"]).text == "first, edited"
    with pytest.raises(SlackApiError) as info:
        client.chat_update(channel=ONCALL, ts="1.000000", text="nope")
    assert info.value.response["error"] == "message_not_found"

    link = client.chat_getPermalink(channel=ONCALL, message_ts=first["ts"])
    assert link["permalink"].startswith("https://examplecorp.slack.com/archives/C0ONCALL01/p")
    assert client.chat_postEphemeral(channel=ONCALL, user=BOB, text="psst")["message_ts"]

    opened = client.conversations_open(users=BOB)
    assert opened["channel"]["id"] == "D0BOB00002" and "already_open" not in opened
    again = client.conversations_open(users=[BOB])
    assert again["channel"]["id"] == "D0BOB00002" and again["already_open"] is True
    with pytest.raises(SlackApiError) as info:
        client.conversations_open(users="U0NOBODY01")
    assert info.value.response["error"] == "user_not_found"

    client.conversations_setTopic(channel=ONCALL, topic="On call: <@U0BOB00002>")
    assert fake_slack.channel(ONCALL).topic == "On call: <@U0BOB00002>"

    user = client.users_lookupByEmail(email="BOB@example.test")["user"]
    assert user["id"] == BOB and user["tz"] == "Europe/London"
    assert user["profile"]["email"] == "bob@example.test"
    with pytest.raises(SlackApiError) as info:
        client.users_lookupByEmail(email="nobody@example.test")
    assert info.value.response["error"] == "users_not_found"
    assert client.users_info(user=ALICE)["user"]["tz_offset"] in (-18000, -14400)
    with pytest.raises(SlackApiError) as info:
        client.users_info(user="U0NOBODY01")
    assert info.value.response["error"] == "user_not_found"

    groups = client.usergroups_list(include_users=True)["usergroups"]
    assert groups[0]["handle"] == "payments-oncall" and groups[0]["users"] == [ALICE]
    group = client.usergroups_users_update(usergroup="S0ONCALL01", users=[BOB, ALICE])
    assert group["usergroup"]["users"] == [BOB, ALICE]
    assert fake_slack.usergroups["S0ONCALL01"].users == [BOB, ALICE]
    for kwargs, error in [
        ({"usergroup": "S0NOPE0000", "users": [BOB]}, "no_such_subteam"),
        ({"usergroup": "S0ONCALL01", "users": ["U0NOBODY01"]}, "invalid_users"),
    ]:
        with pytest.raises(SlackApiError) as info:
            client.usergroups_users_update(**kwargs)
        assert info.value.response["error"] == error

    with pytest.raises(SlackApiError) as info:
        client.api_call("chat.scheduleMessage", json={"channel": ONCALL})
    assert info.value.response["error"] == "unknown_method"
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel="C0UNKNOWN1", text="x")
    assert info.value.response["error"] == "channel_not_found"
    fake_slack.channel("C0QUIET001", is_member=False)
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel="C0QUIET001", text="x")
    assert info.value.response["error"] == "not_in_channel"

    # how the sync client sent things: always POST, JSON or form, token in the header
    lookup = fake_slack.calls("users.lookupByEmail")[0]
    assert lookup.http_method == "POST"
    assert lookup.content_type == "application/x-www-form-urlencoded"
    assert lookup.token == BOT_TOKEN
    assert fake_slack.calls("chat.postMessage")[0].content_type == "application/json"
    assert fake_slack.calls("usergroups.users.update")[0].args["users"] == f"{BOB},{ALICE}"

    oncall = fake_slack.channel(ONCALL)
    top = await oncall.expect_message("first")
    await oncall.expect_thread_reply(top, "second")
    await oncall.expect_update(top, "edited")
    await fake_slack.user(BOB).expect_ephemeral("psst")


async def test_web_api_with_the_async_client(fake_slack: FakeSlack) -> None:  # noqa: F811
    setup_directory(fake_slack)
    fake_slack.add_usergroup("S0ONCALL01", "payments-oncall")
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.api_url)
    assert (await client.users_lookupByEmail(email="alice@example.test"))["user"]["id"] == ALICE
    dm = (await client.conversations_open(users=[ALICE]))["channel"]["id"]
    await client.chat_postMessage(channel=dm, text="You are on call")
    assert (await client.usergroups_list())["usergroups"][0]["id"] == "S0ONCALL01"
    await client.usergroups_users_update(usergroup="S0ONCALL01", users=[ALICE])
    # the async client uses GET (query string) for some methods and POST for others
    assert fake_slack.calls("users.lookupByEmail")[0].http_method == "GET"
    assert fake_slack.calls("conversations.open")[0].args["users"] == ALICE
    await fake_slack.user(ALICE).expect_dm("on call")
    with pytest.raises(SlackApiError) as info:
        await AsyncWebClient(token="xoxb-wrong", base_url=fake_slack.api_url).auth_test()
    assert info.value.response["error"] == "invalid_auth"


async def test_posting_to_a_user_id_lands_in_the_dm(fake_slack: FakeSlack) -> None:  # noqa: F811
    setup_directory(fake_slack)
    response = web(fake_slack).chat_postMessage(channel=BOB, text="Page: INC-7")
    assert response["channel"] == "D0BOB00002"
    dm = await fake_slack.user(BOB).expect_dm("INC-7")
    assert dm.channel == "D0BOB00002"


# -- failure injection ------------------------------------------------------------------------


async def test_failures_surface_as_slack_api_errors(fake_slack: FakeSlack) -> None:  # noqa: F811
    setup_directory(fake_slack)
    client = web(fake_slack)
    fake_slack.fail("chat.postMessage", "channel_not_found")
    fake_slack.rate_limit("chat.postMessage", retry_after=3)
    fake_slack.server_error("chat.postMessage")
    fake_slack.fail(None, "missing_scope", needed="chat:write", provided="users:read")

    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel=ONCALL, text="1")
    assert info.value.response["error"] == "channel_not_found"
    assert info.value.response.status_code == 200

    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel=ONCALL, text="2")
    assert info.value.response.status_code == 429
    assert info.value.response["error"] == "ratelimited"
    assert info.value.response.headers["Retry-After"] == "3"

    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel=ONCALL, text="3")
    assert info.value.response.status_code == 500

    with pytest.raises(SlackApiError) as info:
        client.users_info(user=BOB)
    assert info.value.response["error"] == "missing_scope"
    assert info.value.response["needed"] == "chat:write"

    client.chat_postMessage(channel=ONCALL, text="4")  # all consumed
    assert [c.status for c in fake_slack.calls("chat.postMessage")] == [200, 429, 500, 200]
    assert len(fake_slack.channel(ONCALL).messages) == 1
    await fake_slack.channel(ONCALL).expect_message("4")


async def test_async_client_sees_429_headers(fake_slack: FakeSlack) -> None:  # noqa: F811
    setup_directory(fake_slack)
    fake_slack.rate_limit(None, retry_after=7)
    with pytest.raises(SlackApiError) as info:
        await AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.api_url).chat_postMessage(
            channel=ONCALL, text="x"
        )
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] == "7"


def test_rate_limit_retry_handler_honours_retry_after() -> None:
    with FakeSlack() as fake:
        setup_directory(fake)
        fake.rate_limit("chat.postMessage", retry_after=0)
        client = web(fake)
        client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
        assert client.chat_postMessage(channel=ONCALL, text="after retry")["ok"]
        assert [c.status for c in fake.calls("chat.postMessage")] == [429, 200]
        fake.allow_unexpected = True


async def test_hold_times_out_the_client(fake_slack: FakeSlack) -> None:  # noqa: F811
    setup_directory(fake_slack)
    fake_slack.hold("chat.postMessage", 5)
    started = time.monotonic()
    with pytest.raises(OSError):  # TimeoutError / URLError
        web(fake_slack, timeout=0.3).chat_postMessage(channel=ONCALL, text="held")
    assert time.monotonic() - started < 3
    assert fake_slack.channel(ONCALL).messages == []


# -- requests to Baton ------------------------------------------------------------------------


async def test_click_acknowledge_updates_the_message(
    fake_slack: FakeSlack,  # noqa: F811
    baton: MiniBaton,
) -> None:
    setup_directory(fake_slack)
    message = fixture_message()
    web(fake_slack).chat_postMessage(channel=ONCALL, text=message["text"], blocks=message["blocks"])
    oncall, bob = fake_slack.channel(ONCALL), fake_slack.user(BOB)
    page = await oncall.expect_message("[SEV1] INC-1042")
    assert [e["action_id"] for _, e in page.actions()] == [
        "incident_acknowledge",
        "incident_escalate",
        "incident_resolve",
    ]
    response = await bob.click(page, "incident_acknowledge")
    assert response.status_code == 200
    updated = await oncall.expect_update(page, "acknowledged by <@U0BOB00002>")
    assert updated.blocks == []
    assert fake_slack.current(page).text == "INC-1042 acknowledged by <@U0BOB00002>"
    reply = await bob.expect_ephemeral("You acknowledged INC-1042")
    assert reply.kind == "response" and reply.target_ts == page.ts
    (_, headers, _, ok) = baton.received[-1]
    assert ok and "x-slack-retry-num" not in headers


async def test_response_url_replace_original(
    fake_slack: FakeSlack,  # noqa: F811
    baton: MiniBaton,
) -> None:
    setup_directory(fake_slack)
    message = fixture_message()
    web(fake_slack).chat_postMessage(channel=ONCALL, text=message["text"], blocks=message["blocks"])
    oncall = fake_slack.channel(ONCALL)
    page = await oncall.expect_message()
    await fake_slack.user(BOB).click(page, "incident_resolve")
    replaced = await oncall.expect_update(page, "Resolved")
    assert replaced.kind == "response" and replaced.replace_original
    assert fake_slack.current(page).text == "Resolved"


async def test_slash_commands_and_in_channel_responses(
    fake_slack: FakeSlack,  # noqa: F811
    baton: MiniBaton,
) -> None:
    setup_directory(fake_slack)
    alice = fake_slack.user(ALICE)
    response = await alice.slash("ack 1042")
    assert response.json() == {"response_type": "ephemeral", "text": "Acknowledged INC-1042"}
    assert (await alice.slash("announce")).status_code == 200
    announced = await fake_slack.channel(ONCALL).expect_message("Paging the payments on-call")
    assert announced.kind == "response" and announced.user == ALICE
    form = fake_slack.sent[0].payload
    assert form["command"] == "/baton" and form["channel_name"] == "inc-payments"
    assert form["response_url"].startswith(fake_slack.url + "/hooks/")


async def test_signature_variants_replay_and_retry_headers(
    fake_slack: FakeSlack,  # noqa: F811
    baton: MiniBaton,
) -> None:
    setup_directory(fake_slack)
    alice = fake_slack.user(ALICE)
    assert (await alice.slash("ack 1", signature="bad")).status_code == 401
    assert (await alice.slash("ack 1", signature="missing")).status_code == 401
    assert (await alice.slash("ack 1", stale=True)).status_code == 401
    assert (await alice.slash("ack 1", timestamp="yesterday")).status_code == 401
    assert (await alice.slash("ack 1", secret="another-secret")).status_code == 401
    ok = await alice.slash("ack 1")
    assert ok.status_code == 200
    original = fake_slack.sent[-1]
    replayed = await fake_slack.replay(retry_num=1, retry_reason="http_timeout")
    assert replayed.status_code == 200
    _, headers, body, valid = baton.received[-1]
    assert valid and body == original.body
    assert headers["x-slack-signature"] == original.headers["X-Slack-Signature"]
    assert headers["x-slack-retry-num"] == "1" and headers["x-slack-retry-reason"] == "http_timeout"
    assert fake_slack.sent[-1].replay_of is original
    assert [ok for (_, _, _, ok) in baton.received] == [False] * 5 + [True, True]
    event = await fake_slack.send_event({"type": "app_mention", "text": "hi"}, retry_num=2)
    assert event.status_code == 200 and baton.received[-1][1]["x-slack-retry-num"] == "2"


async def test_modal_open_submit_and_errors(
    fake_slack: FakeSlack,  # noqa: F811
    baton: MiniBaton,
) -> None:
    setup_directory(fake_slack)
    message = fixture_message()
    web(fake_slack).chat_postMessage(channel=ONCALL, text=message["text"], blocks=message["blocks"])
    page = await fake_slack.channel(ONCALL).expect_message()
    bob = fake_slack.user(BOB)
    await bob.click(page, "incident_escalate")
    view = await bob.expect_view("Escalate INC-1042", callback_id="escalate")
    assert view.private_metadata == "INC-1042" and view.id in fake_slack.views

    rejected = await bob.submit_view(view, {"severity": "sev2"})
    assert rejected.json()["response_action"] == "errors"
    assert view.id in fake_slack.views  # still open

    accepted = await bob.submit_view(view, {"reason": "db down", "sev": "sev1", "assignee": ALICE})
    assert accepted.status_code == 200 and view.id not in fake_slack.views
    values = baton.submitted[0]
    assert values["reason_block"]["reason"] == {"type": "plain_text_input", "value": "db down"}
    assert values["sev"]["severity"]["selected_option"]["value"] == "sev1"
    (assignee,) = [v for k, v in values.items() if k not in ("reason_block", "sev")]
    assert assignee["assignee"] == {"type": "users_select", "selected_user": ALICE}
    with pytest.raises(AssertionError, match="no option with value"):
        build_state_values(view.view, {"severity": "sev9"})
    with pytest.raises(AssertionError, match="has no input 'colour'"):
        build_state_values(view.view, {"colour": "red"})
    with pytest.raises(AssertionError, match="is not open"):
        await bob.submit_view(view, {"reason": "again"})


async def test_trigger_ids_expire_and_are_single_use(fake_slack: FakeSlack) -> None:  # noqa: F811
    setup_directory(fake_slack)
    client = web(fake_slack)
    trigger = fake_slack.new_trigger(BOB)
    opened = client.views_open(trigger_id=trigger, view=ESCALATE_VIEW)["view"]
    assert opened["callback_id"] == "escalate" and opened["root_view_id"] == opened["id"]
    with pytest.raises(SlackApiError) as info:
        client.views_open(trigger_id=trigger, view=ESCALATE_VIEW)
    assert info.value.response["error"] == "exchanged_trigger_id"
    with pytest.raises(SlackApiError) as info:
        client.views_open(trigger_id="1.2.3", view=ESCALATE_VIEW)
    assert info.value.response["error"] == "invalid_trigger_id"
    fake_slack.trigger_ttl = 0.0
    stale = fake_slack.new_trigger(BOB)
    await asyncio.sleep(0.01)
    with pytest.raises(SlackApiError) as info:
        client.views_open(trigger_id=stale, view=ESCALATE_VIEW)
    assert info.value.response["error"] == "expired_trigger_id"
    with pytest.raises(SlackApiError) as info:
        client.views_update(view_id=opened["id"], hash="stale-hash", view=ESCALATE_VIEW)
    assert info.value.response["error"] == "hash_conflict"
    view = dict(ESCALATE_VIEW, title={"type": "plain_text", "text": "Escalating…"})
    client.views_update(view_id=opened["id"], hash=opened["hash"], view=view)
    assert fake_slack.views[opened["id"]]["title"]["text"] == "Escalating…"
    with pytest.raises(SlackApiError) as info:
        client.views_update(view_id="V0NOPE", view=ESCALATE_VIEW)
    assert info.value.response["error"] == "not_found"
    await fake_slack.user(BOB).expect_view("Escalate INC-1042")
    fake_slack.strict_kinds.discard("view")  # the update is not expected in this test


async def test_response_url_receiver(fake_slack: FakeSlack) -> None:  # noqa: F811
    setup_directory(fake_slack)
    url = fake_slack.new_response_url(user_id=BOB, channel_id=ONCALL)
    hook = WebhookClient(url)
    first = hook.send(text="Working on it")
    assert (first.status_code, first.body) == (200, "ok")
    for _ in range(4):
        assert hook.send(text="again").status_code == 200
    sixth = hook.send(text="too many")
    assert sixth.status_code == 404 and sixth.body == "used_url"
    assert WebhookClient(fake_slack.url + "/hooks/unknown").send(text="x").status_code == 404
    bob = fake_slack.user(BOB)
    assert (await bob.expect_response("Working on it")).response_type == "ephemeral"
    for _ in range(4):
        await bob.expect_ephemeral("again")


# -- expectations -----------------------------------------------------------------------------


async def test_assert_no_unexpected_catches_unconsumed_messages(
    fake_slack: FakeSlack,  # noqa: F811
) -> None:
    setup_directory(fake_slack)
    client = web(fake_slack)
    client.chat_postMessage(channel=ONCALL, text="expected page")
    client.chat_postMessage(channel=BOB, text="surprise DM")
    client.conversations_setTopic(channel=ONCALL, topic="state, not a message")
    await fake_slack.channel(ONCALL).expect_message("expected page")
    fake_slack.user(ALICE).assert_no_unexpected()
    with pytest.raises(AssertionError, match="surprise DM"):
        fake_slack.user(BOB).assert_no_unexpected()
    with pytest.raises(AssertionError, match="surprise DM") as info:
        fake_slack.assert_no_unexpected()
    assert "state, not a message" not in str(info.value)
    fake_slack.channel(ONCALL).assert_no_unexpected()
    await fake_slack.user(BOB).expect_dm()
    fake_slack.assert_no_unexpected()


async def test_expect_timeout_lists_what_was_received(fake_slack: FakeSlack) -> None:  # noqa: F811
    setup_directory(fake_slack)
    web(fake_slack).chat_postMessage(channel=ONCALL, text="INC-1 something else")
    oncall = fake_slack.channel(ONCALL)
    with pytest.raises(AssertionError) as info:
        await oncall.expect_message("INC-2", timeout=0.2)
    assert "expected a message in C0ONCALL01 containing 'INC-2'" in str(info.value)
    assert "UNCONSUMED" in str(info.value) and "INC-1 something else" in str(info.value)
    await oncall.expect_message(re.compile(r"INC-\d"))
    oncall.assert_nothing_sent()


async def test_clicks_inside_a_modal(fake_slack: FakeSlack, baton: MiniBaton) -> None:  # noqa: F811
    setup_directory(fake_slack)
    view = dict(
        ESCALATE_VIEW,
        blocks=[
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "refresh",
                        "value": "INC-1042",
                        "text": {"type": "plain_text", "text": "Refresh"},
                    }
                ],
            }
        ],
    )
    web(fake_slack).views_open(trigger_id=fake_slack.new_trigger(BOB), view=view)
    bob = fake_slack.user(BOB)
    opened = await bob.expect_view("Escalate")
    assert (await bob.click(opened, "refresh")).status_code == 200
    payload = json.loads(dict(parse_qsl(baton.received[-1][2].decode()))["payload"])
    assert payload["container"] == {"type": "view", "view_id": opened.id}
    assert payload["view"]["id"] == opened.id and "response_url" not in payload
    assert payload["actions"][0]["value"] == "INC-1042"
    assert payload["actions"][0]["block_id"]  # Slack invents block ids the app left out


async def test_delete_multipart_names_and_delivered_holds(
    fake_slack: FakeSlack,  # noqa: F811
) -> None:
    setup_directory(fake_slack)
    client = web(fake_slack)
    oncall = fake_slack.channel(ONCALL)
    by_name = client.chat_postMessage(channel="#inc-payments", text="by name")
    assert by_name["channel"] == ONCALL
    async with httpx.AsyncClient() as http:  # multipart, as the SDK sends with files attached
        multipart = await http.post(
            fake_slack.api_url + "chat.postMessage",
            data={"channel": ONCALL, "text": "multipart body"},
            files={"unused": ("a.txt", b"x")},
            headers={"Authorization": f"Bearer {BOT_TOKEN}"},
        )
    assert multipart.json()["ok"]
    assert fake_slack.calls("chat.postMessage")[-1].content_type == "multipart/form-data"
    first = await oncall.expect_message("by name")
    await oncall.expect_message("multipart body")
    client.chat_delete(channel=ONCALL, ts=first.ts)
    await oncall.expect_delete(first)
    assert [m.text for m in oncall.messages] == ["multipart body"]
    with pytest.raises(SlackApiError) as info:
        client.chat_update(channel=ONCALL, ts=first.ts, text="gone")
    assert info.value.response["error"] == "message_not_found"

    fake_slack.hold("chat.postMessage", 0.5, deliver=True)
    with pytest.raises(OSError):
        web(fake_slack, timeout=0.2).chat_postMessage(channel=ONCALL, text="sent anyway")
    await oncall.expect_message("sent anyway")  # Slack posted it; the client never knew
