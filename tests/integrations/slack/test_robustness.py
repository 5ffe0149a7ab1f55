"""Bad input gets a clear ephemeral answer and changes nothing; Slack gets its answer in 3 s."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from app.integrations.slack import background
from tests.integrations.slack.conftest import ALICE_SLACK, STRANGER_SLACK, World, answer, text_of


async def _signed(world: World, fields: dict[str, str], **send: object):
    body = urlencode(fields).encode()
    return await world.slack.send_signed(world.slack.commands_path, body, **send)


async def test_help_lists_every_subcommand(world: World) -> None:
    text = text_of(await world.alice_s.slash("help"))
    for sub in (
        "oncall",
        "incidents",
        "ack",
        "resolve",
        "escalate",
        "handoff",
        "note",
        "page",
        "cover",
        "link",
        "unlink",
        "help",
    ):
        assert f"`/baton {sub}" in text, sub
    assert text_of(await world.alice_s.slash("")) == text
    one = text_of(await world.alice_s.slash("help cover"))
    assert one.startswith("`/baton cover <2h|until 18:00|14:00-18:00|start/end> [schedule]`")


async def test_unknown_and_malformed_subcommands_show_what_was_wrong(world: World) -> None:
    unknown = text_of(await world.alice_s.slash("frobnicate now"))
    assert unknown.startswith(":warning: `frobnicate` is not a Baton subcommand.")
    assert "`/baton oncall" in unknown
    no_message = text_of(await world.alice_s.slash("page payments-api"))
    assert no_message == (
        ":warning: add a message saying what is wrong.\n"
        "Usage: `/baton page <service|team|@user> <message>`\n"
        "`/baton help` lists every subcommand."
    )
    bad_range = text_of(await world.alice_s.slash("cover soonish"))
    assert "`soonish` is not a range" in bad_range


async def test_missing_incidents_and_unknown_names(world: World) -> None:
    assert text_of(await world.alice_s.slash("ack #999")) == "Incident #999 does not exist"
    assert text_of(await world.alice_s.slash("note #999 hello")) == (
        "Could not add a note to #999: incident #999 does not exist"
    )
    assert text_of(await world.alice_s.slash("ack")) == (
        "You have no open page to act on. Name the incident, e.g. `/baton ack #123`."
    )
    assert text_of(await world.alice_s.slash("page nobody-here the sky fell")) == (
        "No service or team is called `nobody-here`; nobody was paged."
    )
    assert text_of(await world.alice_s.slash("incidents nobody-here")) == (
        "No service or team is called `nobody-here`."
    )


async def test_unlinked_callers_are_told_how_to_link(world: World) -> None:
    incident = await world.fire()
    await world.engine.tick()
    await world.alice_s.expect_dm(f"#{incident}")
    stranger = world.device(STRANGER_SLACK)
    told = text_of(await stranger.slash(f"ack #{incident}"))
    assert told.startswith("Baton does not know who you are yet, so nothing was done.")
    assert (await world.incident(incident))["state"] == "triggered"
    refused = text_of(await stranger.slash("link"))
    assert refused.startswith(
        "No Baton user has the e-mail address of your Slack profile (stranger@elsewhere.test)"
    )


async def test_link_and_unlink(world: World) -> None:
    linked = text_of(await world.alice_s.slash("link"))
    assert linked == "Linked: you are the Baton user Alice <alice@example.com>."
    again = text_of(await world.alice_s.slash("link"))
    assert again == "You are linked to the Baton user Alice <alice@example.com>."
    gone = text_of(await world.alice_s.slash("unlink"))
    assert gone.startswith("Unlinked.")
    link = await world.client.get(
        f"/api/v1/users/{world.alice.id}/slack-link", headers=world.admin.headers
    )
    assert link.json()["linked"] is False


async def test_malformed_bodies_and_unknown_commands(world: World) -> None:
    garbage = await world.slack.send_signed(world.slack.commands_path, b"%%%not a form&&")
    assert answer(garbage)["response_type"] == "ephemeral"
    assert answer(garbage)["text"].startswith(
        ":warning: Baton could not read this command: the field `command` is missing"
    )
    other = await _signed(
        world,
        {"team_id": "T0EXMPL01", "user_id": ALICE_SLACK, "command": "/deploy", "text": "now"},
    )
    assert answer(other)["text"].startswith(":warning: Baton does not handle the command /deploy")


async def test_signatures_are_checked_before_anything_else(world: World) -> None:
    incident = await world.fire()
    await world.engine.tick()
    await world.alice_s.expect_dm(f"#{incident}")
    for kwargs in (
        {"signature": "bad"},
        {"signature": "missing"},
        {"stale": True},
        {"timestamp": "soon"},
    ):
        refused = await world.alice_s.slash(f"resolve #{incident}", **kwargs)
        assert refused.status_code == 403, kwargs
        assert refused.json()["code"] == "bad_signature"
    assert (await world.incident(incident))["state"] == "triggered"


async def test_ssl_check_is_answered_with_an_empty_200(world: World) -> None:
    fields = {"ssl_check": "1", "token": world.slack.verification_token}
    unsigned = await _signed(world, fields, signature="missing")
    assert unsigned.status_code == 200 and unsigned.content == b""
    signed = await _signed(world, fields)
    assert signed.status_code == 200 and signed.content == b""
    smuggled = await _signed(
        world, {"ssl_check": "true", "command": "/baton", "text": "help"}, signature="missing"
    )
    assert smuggled.status_code == 403


async def test_slow_slack_gets_working_on_it_then_the_answer_by_response_url(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alice is not linked yet: Baton reads her profile, and Slack takes its time answering.

    The inline budget is shortened so the test proves the order of events (the HTTP answer
    comes back while Slack still holds users.info) without depending on this machine's speed.
    """
    monkeypatch.setattr(background, "INLINE_SECONDS", 0.2)
    incident = await world.fire()
    await world.engine.tick()
    page = await world.alice_s.expect_dm(f"#{incident}")
    world.slack.hold("users.info", 1.5, deliver=True)

    response = await world.alice_s.slash(f"ack #{incident}")
    assert answer(response) == {
        "response_type": "ephemeral",
        "text": "Working on it… the answer follows in a moment.",
    }
    assert (await world.incident(incident))["state"] == "triggered"
    late = await world.alice_s.expect_ephemeral(f"Acknowledged #{incident}")
    assert late.kind == "response"
    assert (await world.incident(incident))["state"] == "acknowledged"
    await world.engine.tick()
    await world.dm(world.alice_s).expect_update(page, "Acknowledged by Alice via slack")
    await world.dm(world.alice_s).expect_thread_reply(page, "Acknowledged by Alice via slack")
