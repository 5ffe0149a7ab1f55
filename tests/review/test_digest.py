"""The weekly digest, end to end: a scenario week of the team ``sre`` (Europe/Berlin), the
engine job run by hand against the test's clock, and what arrives at the fake Slack and the fake
SMTP server through Baton's real providers.

The team's digest is due on Mondays at 09:00 in Berlin (08:00 UTC in winter, 07:00 in summer).
The clock starts on Monday 2 March 2026, 10:00 UTC, after that day's slot: the team did not
exist at the slot, so its first digest is the one of Monday 9 March.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.core.clock import ManualClock
from app.core.db import Database, make_engine
from app.notify.models import Notification
from app.people.models import ContactType
from app.review import digest
from app.review.models import ActionItem, ActionStatus, Review, TeamDigest
from tests.factories import Factory
from tests.fakes.slack import FakeSlack, FakeSlackChannel
from tests.fakes.smtp import FakeSMTP
from tests.notify.conftest import engine, settings, slack, twilio  # noqa: F401
from tests.paging import Engine, api
from tests.worlds import PaymentsWorld, build_payments_world

DIGEST_CHANNEL = "C0DIGEST01"
DIGEST_EMAIL = "sre-leads@example.com"
ALICE_EMAIL = "alice@example.com"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@dataclass
class World(PaymentsWorld):
    db: Database
    clock: ManualClock
    engine: Engine
    slack: FakeSlack
    smtp: FakeSMTP

    @property
    def team_id(self) -> int:
        return int(self.team["id"])

    @property
    def channel(self) -> FakeSlackChannel:
        return self.slack.channel(DIGEST_CHANNEL)

    async def settings(self, **fields: Any) -> None:
        await api(self.client, self.admin, "PATCH", f"/api/v1/teams/{self.team_id}", json=fields)

    async def incident(  # type: ignore[override]
        self, at: datetime, summary: str, *, ack_after: timedelta, resolve_after: timedelta
    ) -> int:
        """Alice is paged by e-mail at ``at``, acknowledges and resolves after the given times."""
        self.clock.set(at)
        incident_id = await self.fire(summary)
        await self.engine.drain()
        await self.smtp.expect_mail(ALICE_EMAIL, summary)
        self.clock.set(at + ack_after)
        await api(self.client, self.alice, "POST", f"/api/v1/incidents/{incident_id}/acknowledge")
        self.clock.set(at + resolve_after)
        await api(self.client, self.alice, "POST", f"/api/v1/incidents/{incident_id}/resolve")
        await self.engine.drain()
        return incident_id

    async def run_job(self, db: Database | None = None) -> int:
        """One run of the ``weekly-digest`` job (in the replica of ``db``), then the sends."""
        queued = await digest.send_due_digests(db or self.db)
        await self.engine.drain()
        return queued

    async def sent_weeks(self) -> list[date]:
        async with self.db.new_session() as session:
            rows = await session.scalars(
                select(TeamDigest.week_start)
                .where(TeamDigest.team_id == self.team_id)
                .order_by(TeamDigest.week_start)
            )
            return list(rows)


@pytest.fixture
async def world(
    client: httpx.AsyncClient,
    factory: Factory,
    db: Database,
    clock: ManualClock,
    engine: Engine,  # noqa: F811
    slack: FakeSlack,  # noqa: F811
    fake_smtp: FakeSMTP,
) -> World:
    base = await build_payments_world(client, factory, time_zone="Europe/Berlin")
    await api(
        client,
        base.admin,
        "PATCH",
        f"/api/v1/teams/{base.team['id']}",
        json={
            "time_zone": "Europe/Berlin",
            "digest_weekday": 0,
            "digest_time": "09:00",
            "digest_slack_channel": DIGEST_CHANNEL,
            "digest_email": DIGEST_EMAIL,
        },
    )
    slack.channel(DIGEST_CHANNEL, name="sre-digest")
    # Alice hears of her pages by e-mail at once (an interruption the digest counts).
    method = await factory.contact_method(base.alice.id, ContactType.EMAIL, ALICE_EMAIL)
    await api(
        client,
        base.admin,
        "POST",
        f"/api/v1/users/{base.alice.id}/notification-rules",
        json={"contact_method_id": method.id, "delay_minutes": 0, "urgency": "high"},
    )
    return World(**base.parts(), db=db, clock=clock, engine=engine, slack=slack, smtp=fake_smtp)


async def _scenario_week(world: World) -> tuple[int, int]:
    """Two incidents in the week of 2-9 March: one at 11:00 in Berlin, one at 03:00 (night),
    and an action item overdue by the digest; returns their ids."""
    daytime = await world.incident(
        utc(2026, 3, 3, 10, 0),
        "checkout latency",
        ack_after=timedelta(minutes=2),
        resolve_after=timedelta(minutes=30),
    )
    night = await world.incident(
        utc(2026, 3, 5, 2, 0),
        "ledger down",
        ack_after=timedelta(minutes=4),
        resolve_after=timedelta(minutes=60),
    )
    async with world.db.transaction() as session:
        review = Review(incident_id=daytime, owner_id=world.alice.id)
        session.add(review)
        await session.flush()
        session.add_all(
            [
                ActionItem(
                    review_id=review.id,
                    title="Add a retry budget",
                    owner_id=world.bob.id,
                    due_date=date(2026, 3, 6),
                    status=ActionStatus.OPEN,
                ),
                ActionItem(
                    review_id=review.id,
                    title="Due after the digest",
                    owner_id=world.bob.id,
                    due_date=date(2026, 3, 9),
                    status=ActionStatus.OPEN,
                ),
            ]
        )
    world.clock.set(utc(2026, 3, 7, 12, 0))
    await api(
        world.client,
        world.admin,
        "POST",
        "/api/v1/deployments",
        json={"service": "payments-api", "version": "v42"},
    )
    return daytime, night


async def test_the_weekly_digest_arrives_once_at_slack_and_by_email(world: World) -> None:
    # The team did not exist at this Monday's slot: nothing now.
    assert await world.run_job() == 0
    daytime, night = await _scenario_week(world)

    world.clock.set(utc(2026, 3, 9, 7, 59))  # 08:59 in Berlin
    assert await world.run_job() == 0
    world.channel.assert_nothing_sent()

    world.clock.set(utc(2026, 3, 9, 8, 0))  # 09:00 in Berlin
    assert await world.run_job() == 1
    posted = await world.channel.expect_message("Weekly digest: sre")
    text = posted.all_text
    assert "Mon 02 Mar to Mon 09 Mar 2026 (Europe/Berlin)" in text
    assert "Incidents: 2 (last week 0, +2)" in text
    assert "MTTA (median): 3m (last week —)" in text
    assert "MTTR (median): 45m (last week —)" in text
    assert "Alice: 2 interruptions, 1 at night" in text
    assert f"#{night} payments-api: ledger down" in text and "(owner Alice)" in text
    assert f"#{daytime} payments-api" not in text.split("Reviews owed")[1].split("Overdue")[0]
    assert "Add a retry budget — Bob, due 2026-03-06" in text
    assert "Due after the digest" not in text
    assert "payments-api: 1 deploy (medium), change failure rate 0% (elite)" in text
    assert f"http://baton.test/teams/{world.team_id}" in str(posted.blocks)

    mail = await world.smtp.expect_mail(DIGEST_EMAIL, "Incidents: 2 (last week 0, +2)")
    assert mail.subject == "Baton weekly digest for sre: Mon 02 Mar to Mon 09 Mar 2026"
    assert "Alice: 2 interruptions, 1 at night" in mail.all_text
    # The HTML part keeps the digest's lines apart, as the text part does.
    assert "<p style='white-space:pre-wrap'>" in mail.html

    # Later runs in the same week send nothing more.
    for hours in (0, 1, 24 * 6 + 23):
        world.clock.set(utc(2026, 3, 9, 8, 0) + timedelta(hours=hours))
        assert await world.run_job() == 0
    world.channel.assert_nothing_sent()
    world.smtp.assert_nothing_sent()
    assert await world.sent_weeks() == [date(2026, 3, 2)]

    # The next week compares with this one.
    world.clock.set(utc(2026, 3, 16, 8, 0))
    assert await world.run_job() == 1
    following = await world.channel.expect_message("Weekly digest: sre")
    assert "Incidents: 0 (last week 2, -2)" in following.all_text
    assert "MTTA (median): — (last week 3m)" in following.all_text
    await world.smtp.expect_mail(DIGEST_EMAIL, "Incidents: 0 (last week 2, -2)")


async def test_two_replicas_racing_send_it_once(world: World, database_url: str) -> None:
    await _scenario_week(world)
    world.clock.set(utc(2026, 3, 9, 8, 0))
    other = Database(make_engine(database_url), world.clock)
    try:
        queued = await asyncio.gather(
            digest.send_due_digests(world.db), digest.send_due_digests(other)
        )
        assert sorted(queued) == [0, 1]
        # A replica that decided the team was due before the other's claim committed: its
        # own claim finds the week taken and it queues nothing.
        slot = digest.latest_slot(
            world.clock.now(), digest.ZoneInfo("Europe/Berlin"), 0, digest.time(9, 0)
        )
        assert await digest.send_digest(other, world.team_id, slot) is False
    finally:
        await other.dispose()
    await world.engine.drain()
    await world.channel.expect_message("Weekly digest: sre")
    await world.smtp.expect_mail(DIGEST_EMAIL, "Weekly digest for sre")
    world.channel.assert_nothing_sent()
    world.smtp.assert_nothing_sent()
    async with world.db.new_session() as session:
        queued_rows = await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.context["event"].as_string() == "team.digest")
        )
    assert queued_rows == 2  # one Slack post, one e-mail


async def test_a_missed_slot_is_sent_late_once(world: World) -> None:
    await _scenario_week(world)
    # No engine ran from before the slot until Wednesday afternoon.
    world.clock.set(utc(2026, 3, 11, 15, 0))
    assert await world.run_job() == 1
    late = await world.channel.expect_message("Weekly digest: sre")
    # Late, but about the week it was due for, not the days since.
    assert "Mon 02 Mar to Mon 09 Mar 2026" in late.all_text
    assert "Incidents: 2" in late.all_text
    await world.smtp.expect_mail(DIGEST_EMAIL, "Mon 02 Mar to Mon 09 Mar 2026")
    world.clock.set(utc(2026, 3, 11, 15, 5))
    assert await world.run_job() == 0
    # Down for two whole slots: only the latest week is sent, once.
    world.clock.set(utc(2026, 3, 24, 9, 0))
    assert await world.run_job() == 1
    latest = await world.channel.expect_message("Weekly digest: sre")
    assert "Mon 16 Mar to Mon 23 Mar 2026" in latest.all_text
    await world.smtp.expect_mail(DIGEST_EMAIL, "Mon 16 Mar to Mon 23 Mar 2026")
    assert await world.run_job() == 0
    assert await world.sent_weeks() == [date(2026, 3, 2), date(2026, 3, 16)]


async def test_the_week_across_the_dst_change_is_the_wall_clock_week(world: World) -> None:
    # Berlin moves to summer time on Sunday 29 March: the digest of Monday 30 March is due at
    # 07:00 UTC and covers 167 hours from Monday 23 March 08:00 UTC.
    world.clock.set(utc(2026, 3, 23, 8, 0))
    assert await world.run_job() == 1
    await world.channel.expect_message("Mon 16 Mar to Mon 23 Mar 2026")
    await world.smtp.expect_mail(DIGEST_EMAIL, "Mon 16 Mar to Mon 23 Mar 2026")
    # 08:30 in Berlin on the 23rd: before that week's slot, so last week's.
    await world.incident(
        utc(2026, 3, 23, 7, 30),
        "before the week",
        ack_after=timedelta(minutes=1),
        resolve_after=timedelta(minutes=2),
    )
    # 08:30 in Berlin (summer time) on the 30th: the last half hour of the week.
    await world.incident(
        utc(2026, 3, 30, 6, 30),
        "last half hour",
        ack_after=timedelta(minutes=1),
        resolve_after=timedelta(minutes=2),
    )
    world.clock.set(utc(2026, 3, 30, 6, 59))  # 08:59 CEST
    assert await world.run_job() == 0
    world.clock.set(utc(2026, 3, 30, 7, 0))  # 09:00 CEST
    assert await world.run_job() == 1
    posted = await world.channel.expect_message("Mon 23 Mar to Mon 30 Mar 2026")
    assert "Incidents: 1 (last week 1, same)" in posted.all_text
    await world.smtp.expect_mail(DIGEST_EMAIL, "Incidents: 1 (last week 1, same)")


async def test_without_a_digest_address_the_managers_get_it(world: World, factory: Factory) -> None:
    await world.settings(digest_email="", digest_slack_channel="")
    manager = await factory.actor(name="Mia", email="mia@example.com")
    await api(
        world.client,
        world.admin,
        "POST",
        f"/api/v1/teams/{world.team_id}/members",
        json={"user_id": manager.id, "role": "manager"},
    )
    world.clock.set(utc(2026, 3, 9, 8, 0))
    assert await world.run_job() == 1
    await world.smtp.expect_mail("mia@example.com", "Weekly digest for sre")
    world.smtp.assert_nothing_sent()
    world.channel.assert_nothing_sent()


async def test_a_team_with_nobody_to_tell_or_switched_off_sends_nothing(world: World) -> None:
    await world.settings(digest_enabled=False)
    world.clock.set(utc(2026, 3, 9, 8, 0))
    assert await world.run_job() == 0
    await world.settings(digest_enabled=True, digest_email="", digest_slack_channel="")
    assert await world.run_job() == 0  # no channel, no address, no manager
    assert await world.sent_weeks() == []
    # Told where to send it later that week, the team gets that week's digest then.
    await world.settings(digest_email=DIGEST_EMAIL)
    assert await world.run_job() == 1
    await world.smtp.expect_mail(DIGEST_EMAIL, "Weekly digest for sre")
