"""Dialogs: hand off with a user picker, add a note, resolve with a resolution note."""

from __future__ import annotations

from typing import Any

import pytest

from app.integrations.slack import background
from tests.fakes.slack import SlackMessage
from tests.integrations.slack.conftest import BOB_SLACK, STRANGER_SLACK, VIC_SLACK, World


async def _paged(world: World) -> tuple[int, SlackMessage]:
    incident = await world.fire()
    await world.engine.tick()
    return incident, await world.alice_s.expect_dm(f"#{incident}")


def _listing(body: dict[str, Any], channel: str = "C0ONCALL01") -> SlackMessage:
    """An inline (ephemeral) command answer as the message the user sees and clicks."""
    return SlackMessage("ephemeral", channel, None, body["text"], blocks=body["blocks"])


async def test_handoff_dialog_picks_a_person(world: World) -> None:
    incident, page = await _paged(world)
    opened = await world.alice_s.slash(f"handoff #{incident}")
    assert opened.status_code == 200 and opened.content == b""  # the dialog says it all
    view = await world.alice_s.expect_view(callback_id="baton_handoff")
    assert f"#{incident} p99 latency above 2s" in view.all_text

    refused = await world.alice_s.submit_view(view, {"user": STRANGER_SLACK})
    errors = refused.json()
    assert errors["response_action"] == "errors"
    assert "is not linked to a Baton user" in errors["errors"]["handoff_user"]
    assert world.alice_s.open_views, "the dialog stays open to pick someone else"

    done = await world.alice_s.submit_view(view, {"user": BOB_SLACK, "text": "yours now"})
    assert done.status_code == 200 and done.content == b""
    assert not world.alice_s.open_views
    await world.alice_s.expect_ephemeral(f"Handed #{incident} p99 latency above 2s to Bob")
    [event] = await world.timeline(incident, "reassigned")
    assert event["message"].endswith("to Bob via slack: yours now")
    await world.engine.tick()
    await world.bob_s.expect_dm(f"#{incident}")
    dm = world.dm(world.alice_s)
    await dm.expect_update(page, "to Bob via slack")
    await dm.expect_thread_reply(page, "to Bob via slack")


async def test_buttons_on_the_incident_list(world: World) -> None:
    incident, page = await _paged(world)
    listing = _listing((await world.alice_s.slash("incidents")).json())

    await world.alice_s.click(listing, "baton_note_open")
    note = await world.alice_s.expect_view(callback_id="baton_note")
    empty = await world.alice_s.submit_view(note, {})
    assert empty.json() == {"response_action": "errors", "errors": {"note": "Write the note."}}
    await world.alice_s.submit_view(note, {"text": "looking at the db"})
    await world.alice_s.expect_ephemeral(f"Added your note to #{incident}")

    await world.alice_s.click(listing, "incident_acknowledge")
    await world.alice_s.expect_ephemeral(f"Acknowledged #{incident}")

    await world.alice_s.click(listing, "baton_resolve_open")
    resolve = await world.alice_s.expect_view(callback_id="baton_resolve")
    await world.alice_s.submit_view(resolve, {"text": "rolled back 1.4.2"})
    await world.alice_s.expect_ephemeral(f"Resolved #{incident}")
    [event] = await world.timeline(incident, "resolved")
    assert event["message"].startswith("Resolved by Alice via slack")
    assert event["message"].endswith(": rolled back 1.4.2")
    [noted] = await world.timeline(incident, "note")
    assert noted["message"] == "looking at the db" and noted["channel"] == "slack"

    await world.engine.tick()
    dm = world.dm(world.alice_s)
    await dm.expect_thread_reply(page, "looking at the db")
    await dm.expect_update(page, "Resolved by Alice via slack")
    await dm.expect_thread_reply(page, "Acknowledged by Alice via slack")
    await dm.expect_thread_reply(page, "rolled back 1.4.2")


async def test_a_viewer_submitting_a_dialog_is_refused_in_the_dialog(world: World) -> None:
    incident, _ = await _paged(world)
    vic = world.device(VIC_SLACK)
    listing = _listing((await world.alice_s.slash("incidents")).json())
    await vic.click(listing, "baton_resolve_open")
    view = await vic.expect_view(callback_id="baton_resolve")
    refused = await vic.submit_view(view, {"text": "done"})
    assert refused.json()["errors"]["note"] == (
        f"Could not resolve #{incident}: viewers can look but not change anything"
    )
    assert (await world.incident(incident))["state"] == "triggered"


async def test_a_slow_dialog_closes_in_time_and_reports_later(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bob is not linked yet: reading his Slack profile is slow, so the answer comes later.

    A short inline budget lets the test prove the order (the dialog closes while Slack still
    holds users.info, and nothing has changed yet) without timing this machine.
    """
    monkeypatch.setattr(background, "INLINE_SECONDS", 0.2)
    incident, page = await _paged(world)
    await world.alice_s.slash(f"handoff #{incident}")
    view = await world.alice_s.expect_view(callback_id="baton_handoff")
    world.slack.hold("users.info", 1.5, deliver=True)
    done = await world.alice_s.submit_view(view, {"user": BOB_SLACK})
    assert done.status_code == 200 and done.content == b""
    assert await world.timeline(incident, "reassigned") == []
    await world.alice_s.expect_ephemeral(f"Handed #{incident} p99 latency above 2s to Bob")
    await world.engine.tick()
    await world.bob_s.expect_dm(f"#{incident}")
    await world.dm(world.alice_s).expect_update(page, "to Bob via slack")
    await world.dm(world.alice_s).expect_thread_reply(page, "to Bob via slack")
