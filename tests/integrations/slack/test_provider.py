"""Slack pages through slack_sdk against the fake Slack: DMs, channels, buttons, updates."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx

from app.core.auth import Role
from app.core.clock import ManualClock
from app.integrations.slack.signature import SlackVerifier
from tests.fakes.slack import SIGNING_SECRET, FakeSlack
from tests.notify.conftest import Oncall
from tests.paging import Engine, api, fixture_bytes, fixture_json

ALICE_SLACK = "U0ALICE001"
BOB_SLACK = "U0BOB00002"


async def test_dm_page_acknowledge_button_updates_the_message_and_threads_who(
    oncall: Oncall, slack: FakeSlack, engine: Engine
) -> None:
    alice = slack.user(ALICE_SLACK, email="alice@example.com", name="alice")
    await oncall.contact(oncall.alice, "slack", ALICE_SLACK)
    incident = await oncall.fire("p99 latency above 2s on checkout")
    await engine.tick()

    page = await alice.expect_dm(f"#{incident} p99 latency above 2s on checkout")
    text = page.all_text
    assert "payments-api" in text and "High" in text and "Runbook" in text
    assert [e["action_id"] for _, e in page.actions()] == [
        "incident_acknowledge",
        "incident_resolve",
        "incident_escalate",
    ]
    assert {e["value"] for _, e in page.actions()} == {str(incident)}

    clicked = await alice.click(page, "incident_acknowledge")
    assert clicked.status_code == 200 and clicked.text == ""
    assert (await oncall.incident(incident))["state"] == "acknowledged"
    await engine.tick()

    dm = slack.channel(alice.dm_channel)
    updated = await dm.expect_update(page, "Acknowledged by Alice via slack")
    assert [e["action_id"] for _, e in slack.current(page).actions()] == [
        "incident_resolve",
        "incident_escalate",
    ]
    assert "Acknowledged" in updated.all_text
    await dm.expect_thread_reply(page, "Acknowledged by Alice via slack")
    [ack] = [e for e in await oncall.timeline(incident) if e["kind"] == "acknowledged"]
    assert ack["channel"] == "slack" and ack["actor_user_id"] == oncall.alice.id
    link = await api(
        oncall.client, oncall.admin, "GET", f"/api/v1/users/{oncall.alice.id}/slack-link"
    )
    assert link == {
        "user_id": oncall.alice.id,
        "linked": True,
        "slack_user_id": ALICE_SLACK,
        "slack_team_id": slack.team_id,
        "method": "email",
    }

    # Resolving from the API updates the same message again; the buttons go away.
    await api(oncall.client, oncall.alice, "POST", f"/api/v1/incidents/{incident}/resolve")
    await engine.tick()
    await dm.expect_update(page, "Resolved by Alice via api")
    await dm.expect_thread_reply(page, "Resolved by Alice via api")
    assert slack.current(page).actions() == []


async def test_channel_target_resolve_button_by_a_linked_colleague(
    oncall: Oncall, slack: FakeSlack, engine: Engine
) -> None:
    oncall_channel = slack.channel("C0ONCALL01", name="inc-payments")
    bob = slack.user(BOB_SLACK, email="bob.okafor@example.test", name="bob.okafor")
    await api(
        oncall.client,
        oncall.admin,
        "PUT",
        f"/api/v1/users/{oncall.bob.id}/slack-link",
        json={"slack_user_id": BOB_SLACK},
    )
    await api(
        oncall.client,
        oncall.admin,
        "PATCH",
        f"/api/v1/escalation-policies/{oncall.policy['id']}",
        json={
            "steps": [
                {
                    "delay_minutes": 5,
                    "targets": [{"kind": "slack_channel", "address": "C0ONCALL01"}],
                }
            ]
        },
    )
    incident = await oncall.fire("checkout down")
    await engine.tick()
    page = await oncall_channel.expect_message(f"#{incident} checkout down")

    await bob.click(page, "incident_resolve")
    await engine.tick()
    await oncall_channel.expect_update(page, "Resolved by Bob via slack")
    await oncall_channel.expect_thread_reply(page, "Resolved by Bob via slack")
    assert (await oncall.incident(incident))["resolved_by_id"] == oncall.bob.id


async def test_unlinked_and_viewer_clicks_change_nothing(
    oncall: Oncall, slack: FakeSlack, engine: Engine, factory
) -> None:
    alice = slack.user(ALICE_SLACK, email="alice@example.com", name="alice")
    stranger = slack.user("U0STRANGER", email="nobody@elsewhere.test", name="stranger")
    viewer = await factory.actor(Role.VIEWER, name="Vic", email="vic@example.com")
    vic = slack.user("U0VIEWER01", email="vic@example.com", name="vic")
    await oncall.contact(oncall.alice, "slack", ALICE_SLACK)
    incident = await oncall.fire()
    await engine.tick()
    page = await alice.expect_dm("p99 latency")

    await stranger.click(page, "incident_acknowledge")
    await stranger.expect_ephemeral("Baton does not know who you are yet")
    await vic.click(page, "incident_acknowledge")
    refusal = await vic.expect_ephemeral("Could not acknowledge")
    assert "viewers can look but not change anything" in refusal.all_text
    await engine.tick()
    assert (await oncall.incident(incident))["state"] == "triggered"
    assert viewer.id != oncall.alice.id


async def test_forged_stale_and_replayed_clicks_are_refused(
    oncall: Oncall, slack: FakeSlack, engine: Engine
) -> None:
    alice = slack.user(ALICE_SLACK, email="alice@example.com", name="alice")
    await oncall.contact(oncall.alice, "slack", ALICE_SLACK)
    incident = await oncall.fire()
    await engine.tick()
    page = await alice.expect_dm("p99 latency")

    for kwargs in (
        {"signature": "bad"},
        {"signature": "missing"},
        {"stale": True},
        {"timestamp": "not-a-number"},
        {"signature": "v0=00"},
    ):
        refused = await alice.click(page, "incident_acknowledge", **kwargs)
        assert refused.status_code == 403, kwargs
        assert refused.json()["code"] == "bad_signature"
    assert (await oncall.incident(incident))["state"] == "triggered"

    await alice.click(page, "incident_resolve")
    replayed = await slack.replay()
    assert replayed.status_code == 403 and replayed.json()["code"] == "replayed"
    retried = await slack.replay(retry_num=1)
    assert retried.status_code == 200
    await engine.tick()
    dm = slack.channel(alice.dm_channel)
    await dm.expect_update(page, "Resolved by Alice via slack")
    await dm.expect_thread_reply(page, "Resolved by Alice")
    resolved = [e for e in await oncall.timeline(incident) if e["kind"] == "resolved"]
    assert len(resolved) == 1


async def test_malformed_interaction_bodies_are_400_not_500(
    client: httpx.AsyncClient, slack: FakeSlack
) -> None:
    for body in (b"payload=not-json", b"nothing=here", b"payload=%5B1%5D", b"payload=%FF"):
        response = await slack.send_signed(slack.interactions_path, body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["code"] == "bad_payload"
    # Bytes that are not UTF-8 cannot be signed by Slack's scheme: refused, not a crash.
    garbage = await slack.send_signed(slack.interactions_path, b"\xff\xfe", signature="v0=ab")
    assert garbage.status_code == 403


async def test_slack_rate_limit_is_honoured(
    oncall: Oncall, slack: FakeSlack, engine: Engine
) -> None:
    alice = slack.user(ALICE_SLACK, email="alice@example.com", name="alice")
    await oncall.contact(oncall.alice, "slack", ALICE_SLACK)
    slack.rate_limit("chat.postMessage", retry_after=30)
    incident = await oncall.fire()
    await engine.tick()
    await engine.advance(seconds=29)
    await engine.drain()
    alice.assert_nothing_sent()
    await engine.advance(seconds=1)
    await alice.expect_dm("p99 latency")
    retry = [e for e in await oncall.timeline(incident) if e["kind"] == "notification_retry"]
    assert len(retry) == 1 and "rate limited" in retry[0]["message"]


async def test_unknown_slack_user_fails_at_once_and_disables_the_method(
    oncall: Oncall, slack: FakeSlack, engine: Engine
) -> None:
    await oncall.contact(oncall.alice, "slack", "U0GONE0001")
    await oncall.contact(oncall.alice, "webhook", "http://127.0.0.1:9/never", after_minutes=10)
    incident = await oncall.fire()
    slack_rows_before = len(slack.calls("conversations.open"))
    await engine.tick()
    assert len(slack.calls("conversations.open")) == slack_rows_before + 1
    rows = {n["contact_type"]: n for n in await oncall.notifications(incident)}
    assert rows["slack"]["status"] == "failed" and "user_not_found" in rows["slack"]["last_error"]
    assert rows["webhook"]["due_at"] is not None
    methods = await api(
        oncall.client, oncall.admin, "GET", f"/api/v1/users/{oncall.alice.id}/contact-methods"
    )
    assert [m["pageable"] for m in methods if m["type"] == "slack"] == [False]


async def test_admin_links_and_anyone_unlinks_themselves(
    oncall: Oncall, client: httpx.AsyncClient
) -> None:
    path = f"/api/v1/users/{oncall.bob.id}/slack-link"
    refused = await client.put(path, json={"slack_user_id": BOB_SLACK}, headers=oncall.bob.headers)
    assert refused.status_code == 403
    await api(client, oncall.admin, "PUT", path, json={"slack_user_id": BOB_SLACK})
    assert (await api(client, oncall.bob, "GET", path))["linked"] is True
    bad = await client.put(path, json={"slack_user_id": "not-an-id"}, headers=oncall.admin.headers)
    assert bad.status_code == 422
    assert (await client.delete(path, headers=oncall.bob.headers)).status_code == 204
    assert (await api(client, oncall.bob, "GET", path))["linked"] is False


def test_the_fixture_signature_vector_verifies_on_the_injected_clock() -> None:
    """shared/fixtures/slack/README.md: known-answer vectors at timestamp 1773480500."""
    clock = ManualClock(datetime.fromtimestamp(1773480500 + 120, UTC))
    verifier = SlackVerifier(SIGNING_SECRET, clock)
    payload = fixture_json("slack/block_actions_ack.json")
    body = urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()
    headers = {
        "x-slack-request-timestamp": "1773480500",
        "x-slack-signature": "v0=b42d6e517218f9c7d6c567fc1e47ea37b6a2fab0c34b81011526ee7016a0bd33",
    }
    assert verifier.is_valid(body, headers)
    slash = fixture_bytes("slack/slash_oncall.txt")
    assert verifier.is_valid(
        slash,
        {
            "x-slack-request-timestamp": "1773480500",
            "x-slack-signature": "v0=b02223de810eb2f67a191a9010fd83eb"
            "e85194028ab46b5c9ac864ff721f357d",
        },
    )
    assert not verifier.is_valid(body + b"x", headers)
    clock.advance(seconds=200)  # now 320 s after the timestamp: outside the window
    assert not verifier.is_valid(body, headers)
    assert not verifier.is_valid(body, {**headers, "x-slack-request-timestamp": "17734805OO"})


async def test_a_channel_named_by_name_is_posted_to_and_updated_by_id(
    oncall: Oncall, slack: FakeSlack, engine: Engine
) -> None:
    channel = slack.channel("C0ONCALL01", name="inc-payments")
    await api(
        oncall.client,
        oncall.admin,
        "PATCH",
        f"/api/v1/escalation-policies/{oncall.policy['id']}",
        json={
            "steps": [
                {
                    "delay_minutes": 5,
                    "targets": [{"kind": "slack_channel", "address": "#inc-payments"}],
                }
            ]
        },
    )
    incident = await oncall.fire("named channel")
    await engine.tick()
    page = await channel.expect_message(f"#{incident} named channel")
    [row] = await oncall.notifications(incident)
    assert row["provider_message_id"] == f"C0ONCALL01:{page.ts}"
    await api(oncall.client, oncall.admin, "POST", f"/api/v1/incidents/{incident}/acknowledge")
    await engine.tick()
    await channel.expect_update(page, "Acknowledged by")
    await channel.expect_thread_reply(page, "Acknowledged by")


async def test_an_exhausted_escalation_is_posted_to_the_fallback_channel(
    oncall: Oncall, slack: FakeSlack, engine: Engine, fake_smtp
) -> None:
    leads = slack.channel("C0LEADS001", name="incident-leads")
    await oncall.contact(oncall.alice, "email", "alice@example.com")
    await api(
        oncall.client,
        oncall.admin,
        "PATCH",
        f"/api/v1/escalation-policies/{oncall.policy['id']}",
        json={
            "steps": [
                {"delay_minutes": 5, "targets": [{"kind": "user", "user_id": oncall.alice.id}]}
            ]
        },
    )
    await api(
        oncall.client,
        oncall.admin,
        "PATCH",
        f"/api/v1/services/{oncall.service['id']}",
        json={"fallback_slack_channel": "#incident-leads"},
    )
    incident = await oncall.fire("nobody home")
    await engine.tick()
    await fake_smtp.expect_mail(to="alice@example.com", subject="nobody home")
    await engine.advance(minutes=5)
    await leads.expect_message(f"Nobody acknowledged incident #{incident}")
    await engine.advance(minutes=30)
    await engine.drain()
    leads.assert_nothing_sent()
