"""Acting on incidents from ``/baton``: ack, resolve, escalate, hand off, note, page."""

from __future__ import annotations

from app.integrations.slack.page_blocks import ACTION_ACKNOWLEDGE
from tests.integrations.slack.conftest import (
    BOB_SLACK,
    STRANGER_SLACK,
    VIC_SLACK,
    World,
    text_of,
)
from tests.integrations.slack.conftest import (
    ONCALL_CHANNEL as ONCALL,
)
from tests.paging import api, fixture_bytes


async def _paged(world: World, summary: str = "p99 latency above 2s") -> tuple[int, object]:
    incident = await world.fire(summary)
    await world.engine.tick()
    page = await world.alice_s.expect_dm(f"#{incident} {summary}")
    return incident, page


async def test_page_then_ack_stops_the_escalation(world: World) -> None:
    incident, page = await _paged(world)

    acked = text_of(await world.alice_s.slash("ack"))  # no id: Alice's latest page
    assert acked == f"Acknowledged #{incident} p99 latency above 2s"
    assert (await world.incident(incident))["state"] == "acknowledged"
    [event] = await world.timeline(incident, "acknowledged")
    assert event["channel"] == "slack" and event["actor_user_id"] == world.alice.id

    await world.engine.tick()
    dm = world.dm(world.alice_s)
    await dm.expect_update(page, "Acknowledged by Alice via slack")
    await dm.expect_thread_reply(page, "Acknowledged by Alice via slack")
    # Step 2 (Bob) was due after 5 minutes: nobody is paged any more.
    await world.engine.advance(minutes=6)
    await world.engine.advance(minutes=15)
    await world.engine.drain()
    world.bob_s.assert_nothing_sent()
    assert not await world.timeline(incident, "escalated") or all(
        e["data"].get("step") == 0 for e in await world.timeline(incident, "escalated")
    )


async def test_handoff_pages_the_other_person_and_the_timeline_shows_it(world: World) -> None:
    incident, page = await _paged(world)
    handed = text_of(
        await world.alice_s.slash(f"handoff #{incident} <@{BOB_SLACK}|bob> db is yours")
    )
    assert handed == (f"Handed #{incident} p99 latency above 2s to Bob; they are being paged.")
    await world.engine.tick()
    await world.bob_s.expect_dm(f"#{incident} p99 latency above 2s")
    dm = world.dm(world.alice_s)
    await dm.expect_update(page, "handed the incident from Alice to Bob")
    await dm.expect_thread_reply(page, "handed the incident from Alice to Bob")
    [event] = await world.timeline(incident, "reassigned")
    assert event["message"] == (
        "Alice handed the incident from Alice to Bob via slack: db is yours"
    )
    assert event["data"]["to"] == world.bob.id and event["channel"] == "slack"
    detail = await world.incident(incident)
    assert [a["user_id"] for a in detail["assignees"] if not a["shadow"]] == [world.bob.id]


async def test_handoff_to_someone_unlinked_changes_nothing(world: World) -> None:
    incident, _ = await _paged(world)
    refused = text_of(await world.alice_s.slash(f"handoff #{incident} <@{STRANGER_SLACK}|x>"))
    assert refused.startswith(f"<@{STRANGER_SLACK}> is not linked to a Baton user")
    not_a_person = text_of(await world.alice_s.slash(f"handoff #{incident} bob"))
    assert "`bob` is not a person" in not_a_person and "/baton handoff" in not_a_person
    assert await world.timeline(incident, "reassigned") == []


async def test_a_viewer_cannot_acknowledge(world: World) -> None:
    incident, _ = await _paged(world)
    vic = world.device(VIC_SLACK)
    refused = text_of(await vic.slash(f"ack #{incident}"))
    assert refused == (
        f"Could not acknowledge #{incident}: viewers can look but not change anything"
    )
    assert (await world.incident(incident))["state"] == "triggered"
    # Looking is fine.
    assert "On call: Alice" in text_of(await vic.slash("oncall payments"))


async def test_someone_outside_the_team_cannot_touch_its_incident(world: World) -> None:
    incident, _ = await _paged(world)
    olga = world.device("U0OLGA0005")
    refused = text_of(await olga.slash(f"resolve #{incident} fixed it"))
    assert refused.startswith(f"Could not resolve #{incident}: only the service's team")
    assert (await world.incident(incident))["state"] == "triggered"


async def test_a_replayed_request_acts_once(world: World) -> None:
    incident, page = await _paged(world)
    first = await world.alice_s.slash(f"resolve #{incident}")
    assert text_of(first) == f"Resolved #{incident} p99 latency above 2s"
    replayed = await world.slack.replay()
    assert replayed.status_code == 403 and replayed.json()["code"] == "replayed"
    retried = await world.slack.replay(retry_num=1)
    assert retried.status_code == 200 and retried.content == b""
    assert len(await world.timeline(incident, "resolved")) == 1
    await world.engine.tick()
    dm = world.dm(world.alice_s)
    await dm.expect_update(page, "Resolved by Alice via slack")
    await dm.expect_thread_reply(page, "Resolved by Alice via slack")


async def test_resolve_with_a_note_note_and_escalate(world: World) -> None:
    incident, page = await _paged(world)
    dm = world.dm(world.alice_s)
    noted = text_of(await world.alice_s.slash(f"note #{incident} restarted the pods"))
    assert noted == f"Added your note to #{incident} p99 latency above 2s"
    [note] = await world.timeline(incident, "note")
    assert note["message"] == "restarted the pods" and note["channel"] == "slack"

    escalated = text_of(await world.alice_s.slash(f"escalate {incident}"))
    assert escalated == f"Escalated #{incident} p99 latency above 2s"
    await world.engine.tick()
    await dm.expect_thread_reply(page, "restarted the pods")
    await dm.expect_update(page, "Alice escalated to the next step via slack")
    await dm.expect_thread_reply(page, "Alice escalated to the next step via slack")
    await world.bob_s.expect_dm(f"#{incident}")

    resolved = text_of(await world.alice_s.slash(f"resolve INC-{incident} rolled back 1.4.2"))
    assert resolved == f"Resolved #{incident} p99 latency above 2s"
    [event] = await world.timeline(incident, "resolved")
    assert event["message"].endswith(": rolled back 1.4.2")
    await world.engine.tick()
    await dm.expect_update(page, "Resolved by Alice via slack")
    await dm.expect_thread_reply(page, "Resolved by Alice via slack")
    bob_page = world.slack.channel(world.bob_s.dm_channel).messages[0]
    bob_dm = world.dm(world.bob_s)
    await bob_dm.expect_update(bob_page, "Resolved by Alice via slack")
    await bob_dm.expect_thread_reply(bob_page, "Resolved by Alice via slack")


async def test_commands_typed_in_an_incident_thread_act_on_that_incident(world: World) -> None:
    first, first_page = await _paged(world, "disk full")
    second, second_page = await _paged(world, "cpu hot")
    dm = world.alice_s.dm_channel
    # Slack does not send thread_ts with slash commands today; Baton honours it if it comes.
    body = (
        f"team_id={world.slack.team_id}&channel_id={dm}&user_id={world.alice_s.id}"
        f"&command=%2Fbaton&text=ack&trigger_id=t-thread&thread_ts={first_page.ts}"
    ).encode()
    response = await world.slack.send_signed(world.slack.commands_path, body)
    assert response.json()["text"] == f"Acknowledged #{first} disk full"
    assert (await world.incident(second))["state"] == "triggered"
    # Without a thread, in a DM with two open pages: the latest page.
    assert text_of(await world.alice_s.slash("ack", channel=dm)) == (
        f"Acknowledged #{second} cpu hot"
    )
    await world.engine.tick()
    for page in (first_page, second_page):
        await world.dm(world.alice_s).expect_update(page, "Acknowledged by Alice")
        await world.dm(world.alice_s).expect_thread_reply(page, "Acknowledged by Alice")


async def test_in_a_channel_with_several_incidents_the_command_asks_which(
    world: World,
) -> None:
    await api(
        world.client,
        world.admin,
        "PATCH",
        f"/api/v1/escalation-policies/{world.policy['id']}",
        json={
            "steps": [
                {"delay_minutes": 5, "targets": [{"kind": "slack_channel", "address": ONCALL}]}
            ]
        },
    )
    first = await world.fire("disk full")
    second = await world.fire("cpu hot")
    await world.engine.tick()
    await world.channel.expect_message(f"#{first} disk full")
    await world.channel.expect_message(f"#{second} cpu hot")
    asked = text_of(await world.alice_s.slash("ack", channel=ONCALL))
    assert asked == (
        f"Several open incidents were posted here (#{second}, #{first}): "
        f"name one, e.g. `#{second}`."
    )
    assert (await world.incident(first))["state"] == "triggered"


async def test_page_a_service_a_team_and_a_person(world: World) -> None:
    opened = text_of(await world.bob_s.slash("page payments-api checkout is failing"))
    assert opened.startswith("Opened #") and "on payments-api and paged its escalation" in opened
    incident = int(opened.split("#")[1].split(" ")[0])
    await world.engine.tick()
    await world.alice_s.expect_dm(f"#{incident} checkout is failing")
    [event] = await world.timeline(incident, "opened")
    assert event["channel"] == "slack" and event["actor_user_id"] == world.bob.id

    team = text_of(await world.bob_s.slash("page sre the queue is stuck"))
    assert "on payments-api" in team
    team_incident = int(team.split("#")[1].split(" ")[0])
    await world.engine.tick()
    await world.alice_s.expect_dm(f"#{team_incident} the queue is stuck")

    direct = text_of(await world.alice_s.slash(f"page <@{BOB_SLACK}|bob> can you look at the db"))
    assert "paged Bob directly (filed under payments-api)" in direct
    direct_incident = int(direct.split("#")[1].split(" ")[0])
    await world.engine.tick()
    await world.bob_s.expect_dm(f"#{direct_incident} can you look at the db")
    detail = await world.incident(direct_incident)
    assert detail["escalation_policy"] is None and detail["next_escalation_at"] is None
    assert [a["user_id"] for a in detail["assignees"]] == [world.bob.id]


async def test_the_fixture_body_opens_an_incident_on_payments_api(world: World) -> None:
    """``shared/fixtures/slack/slash_oncall.txt``: ``/oncall page payments-api ...``, re-signed."""
    response = await world.slack.send_signed(
        world.slack.commands_path, fixture_bytes("slack/slash_oncall.txt")
    )
    text = response.json()["text"]
    assert text.startswith("Opened #") and "payments-api" in text
    incident = int(text.split("#")[1].split(" ")[0])
    assert (await world.incident(incident))["title"] == "Checkout failing for EU cards"
    await world.engine.tick()
    await world.alice_s.expect_dm("Checkout failing for EU cards")


async def test_incidents_lists_mine_with_buttons(world: World) -> None:
    incident, _ = await _paged(world)
    listed = await world.alice_s.slash("incidents")
    body = listed.json()
    assert body["text"].startswith("Your open incidents")
    assert f"#{incident} [triggered] payments-api: p99 latency above 2s" in body["text"]
    actions = [b for b in body["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in actions[0]["elements"]] == [
        ACTION_ACKNOWLEDGE,
        "baton_resolve_open",
        "baton_handoff_open",
        "baton_note_open",
    ]
    service = text_of(await world.bob_s.slash("incidents payments-api"))
    assert f"#{incident}" in service
    none = text_of(await world.bob_s.slash("incidents"))
    assert none == "Your open incidents: none open. :tada:"
