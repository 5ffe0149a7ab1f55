"""Per-schedule announcements: channel posts at hand-offs and daily, a user group, a topic.

The engine job is called directly while the clock moves around Tuesday's 09:00 hand-off.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI

from app.core.db import Database
from app.declarative.apply import ConfigFileError, apply_config, parse_config
from app.integrations.slack.announce import announce_oncall_changes, get_settings
from app.integrations.slack.client import SlackApi
from app.integrations.slack.jobs import slack_engine_jobs
from app.people.models import ContactType
from app.schedules.service import get_schedule_by_name
from tests.integrations.slack.conftest import (
    ALICE_SLACK,
    BOB_SLACK,
    DAN_SLACK,
    ONCALL_CHANNEL,
    World,
)
from tests.paging import api

GROUP = "S0PAYONCALL"


def slack_api(app: FastAPI) -> SlackApi:
    return app.state.notifier.provider_for(ContactType.SLACK).api


def path(world: World) -> str:
    return f"/api/v1/schedules/{world.schedule['id']}/slack-announcements"


async def configure(world: World, **settings: object) -> dict:
    return await api(world.client, world.alice, "PUT", path(world), json=settings)


async def test_settings_api(world: World) -> None:
    empty = await api(world.client, world.vic, "GET", path(world))
    assert empty == {**empty, "configured": False, "schedule_id": world.schedule["id"]}
    saved = await configure(
        world, channel_id=ONCALL_CHANNEL, daily_at="09:30", usergroup_id=GROUP, set_topic=True
    )
    assert saved["configured"] and saved["on_change"] and saved["daily_at"] == "09:30"
    assert (await api(world.client, world.vic, "GET", path(world)))["usergroup_id"] == GROUP

    outsider = await world.client.put(
        path(world), headers=world.olga.headers, json={"channel_id": ONCALL_CHANNEL}
    )
    assert outsider.status_code == 403
    for body in (
        {},  # on_change needs a channel
        {"channel_id": "general"},
        {"channel_id": ONCALL_CHANNEL, "daily_at": "25:00"},
        {"usergroup_id": "payments-oncall", "on_change": False},
        {"channel_id": ONCALL_CHANNEL, "colour": "red"},
    ):
        bad = await world.client.put(path(world), headers=world.alice.headers, json=body)
        assert bad.status_code == 422, body
    missing = await world.client.get(
        "/api/v1/schedules/999/slack-announcements", headers=world.vic.headers
    )
    assert missing.status_code == 404
    gone = await world.client.delete(path(world), headers=world.alice.headers)
    assert gone.status_code == 204
    assert not (await api(world.client, world.vic, "GET", path(world)))["configured"]


async def test_handoff_is_announced_once_with_user_group_and_topic(
    world: World, app: FastAPI, db: Database
) -> None:
    group = world.slack.add_usergroup(GROUP, "payments-oncall", users=[DAN_SLACK])
    await configure(
        world, channel_id=ONCALL_CHANNEL, daily_at="09:30", usergroup_id=GROUP, set_topic=True
    )
    channel = world.channel
    job = slack_api(app)

    # Monday 11:00 in Berlin: the first look. The daily post (09:30) is still fresh.
    assert await announce_oncall_changes(db, job) == 1
    daily = await channel.expect_message("Payments* today")
    assert f"<@{ALICE_SLACK}> on call, until Tue 03 Mar 09:00 CET" in daily.all_text
    assert f"Shadow: Carol. Next: <@{BOB_SLACK}>." in daily.all_text
    assert group.users == [ALICE_SLACK]
    assert channel.topic == "On call for Payments: Alice"

    assert await announce_oncall_changes(db, job) == 0  # nothing new: nothing said
    world.clock.set(datetime(2026, 3, 3, 7, 59, tzinfo=UTC))
    assert await announce_oncall_changes(db, job) == 0

    world.clock.set(datetime(2026, 3, 3, 8, 1, tzinfo=UTC))  # 09:01 in Berlin: Bob's turn
    assert await announce_oncall_changes(db, job) == 1
    handoff = await channel.expect_message("now on call")
    assert handoff.text == (
        ":pager: *Payments*: Bob is now on call, until Wed 04 Mar 09:00 CET "
        "(taking over from Alice). Shadow: Carol. Next: Dan."
    )
    assert f"<@{BOB_SLACK}> is now on call" in handoff.all_text
    assert group.users == [BOB_SLACK]
    assert channel.topic == "On call for Payments: Bob"
    assert await announce_oncall_changes(db, job) == 0

    # The hand-off post told today's news: no second post at 09:30.
    world.clock.set(datetime(2026, 3, 3, 8, 31, tzinfo=UTC))
    assert await announce_oncall_changes(db, job) == 0
    state = await api(world.client, world.vic, "GET", path(world))
    assert state["announced_responders"] == [world.bob.id]
    assert state["usergroup_members"] == [BOB_SLACK]
    assert state["daily_posted_on"] == "2026-03-03" and state["last_error"] == ""
    channel.assert_nothing_sent()
    assert len(world.slack.calls("usergroups.users.update")) == 2
    assert channel.topic_history == ["On call for Payments: Alice", "On call for Payments: Bob"]


async def test_replicas_racing_announce_once(world: World, app: FastAPI, db: Database) -> None:
    await configure(world, channel_id=ONCALL_CHANNEL)
    job = slack_api(app)
    assert await announce_oncall_changes(db, job) == 0  # first look: remembered, not posted
    world.clock.set(datetime(2026, 3, 3, 8, 1, tzinfo=UTC))
    done = await asyncio.gather(*(announce_oncall_changes(db, job) for _ in range(3)))
    assert sorted(done) == [0, 0, 1]
    await world.channel.expect_message("Bob is now on call")
    world.channel.assert_nothing_sent()


async def test_failures_are_recorded_and_retried(world: World, app: FastAPI, db: Database) -> None:
    group = world.slack.add_usergroup(GROUP, "payments-oncall")
    await configure(world, usergroup_id=GROUP, on_change=False)
    job = slack_api(app)
    world.slack.fail("usergroups.users.update", "no_such_subteam")
    await announce_oncall_changes(db, job)
    state = await api(world.client, world.vic, "GET", path(world))
    assert "no_such_subteam" in state["last_error"] and state["usergroup_members"] is None
    await announce_oncall_changes(db, job)  # tried again, and now it works
    assert group.users == [ALICE_SLACK]
    state = await api(world.client, world.vic, "GET", path(world))
    assert state["last_error"] == "" and state["usergroup_members"] == [ALICE_SLACK]


async def test_a_person_without_a_known_slack_id_is_looked_up_by_email(
    world: World, app: FastAPI, db: Database
) -> None:
    group = world.slack.add_usergroup(GROUP, "payments-oncall")
    carol = world.slack.user("U0CAROL007", email="carol@example.com", name="carol")
    await configure(world, usergroup_id=GROUP, on_change=False)
    await api(
        world.client,
        world.alice,
        "POST",
        f"/api/v1/schedules/{world.schedule['id']}/overrides",
        json={
            "start": "2026-03-02T09:30:00Z",
            "end": "2026-03-02T12:00:00Z",
            "user_id": world.carol.id,
        },
    )
    await announce_oncall_changes(db, slack_api(app))
    assert group.users == [carol.id]
    assert [c.args.get("email") for c in world.slack.calls("users.lookupByEmail")] == [
        "carol@example.com"
    ]


async def test_the_engine_gets_the_job_when_slack_is_configured(app: FastAPI) -> None:
    jobs = slack_engine_jobs(app.state.db, app.state.notifier)
    assert list(jobs) == ["slack-announcements"]


DECLARED = """
users:
  - {email: ada@example.com, name: Ada}
teams:
  - {name: payments, kind: dev, members: [ada@example.com]}
schedules:
  - name: payments
    team: payments
    layers:
      - {name: weekly, participants: [ada@example.com], start: 2026-01-05}
    slack:
      channel_id: C0ONCALL01
      daily_at: "09:00"
      usergroup_id: S0PAYONCALL
      set_topic: true
"""


async def test_declared_under_the_schedule_and_applied_idempotently(db: Database) -> None:
    async def apply(text: str) -> list[tuple[str, str]]:
        async with db.transaction() as session:
            report = await apply_config(session, parse_config(text))
        return [(c.action.value, c.kind) for c in report.changes if "slack" in c.kind]

    assert await apply(DECLARED) == [("create", "slack announcements")]
    assert await apply(DECLARED) == [("unchanged", "slack announcements")]
    assert await apply(DECLARED.replace('"09:00"', '"10:00"')) == [
        ("update", "slack announcements")
    ]
    async with db.transaction() as session:
        schedule = await get_schedule_by_name(session, "payments")
        assert schedule is not None
        row = await get_settings(session, schedule.id)
    assert row is not None and row.daily_at == "10:00" and row.usergroup_id == GROUP
    with pytest.raises(ConfigFileError, match="channel_id"):
        parse_config(DECLARED.replace("channel_id: C0ONCALL01", "channel_id: general"))
