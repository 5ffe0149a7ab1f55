"""``/baton items``: the caller's open action items, with due dates and overdue flags, on the
caller's own calendar (Alice lives in Europe/Berlin)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from app.core.db import Database
from app.integrations.slack.review_commands import ItemLine, flag, items_reply
from app.review.models import ActionItem, ActionStatus, Review
from tests.integrations.slack.conftest import World, answer, text_of


async def _items(world: World, db: Database) -> int:
    """A reviewed incident of payments-api with items for Alice (and one for Bob)."""
    incident = await world.fire("checkout failing")
    await world.engine.tick()
    await world.alice_s.expect_dm(f"#{incident} checkout failing")
    async with db.transaction() as session:
        review = Review(incident_id=incident, owner_id=world.alice.id)
        session.add(review)
        await session.flush()
        for title, due, status, owner in (
            ("Add a retry budget", date(2026, 3, 1), ActionStatus.OPEN, world.alice.id),
            ("Alert on queue depth", date(2026, 3, 2), ActionStatus.OPEN, world.alice.id),
            ("Write the runbook", date(2026, 3, 10), ActionStatus.OPEN, world.alice.id),
            ("Someday", None, ActionStatus.OPEN, world.alice.id),
            ("Already done", date(2026, 2, 1), ActionStatus.DONE, world.alice.id),
            ("Bob's", date(2026, 2, 1), ActionStatus.OPEN, world.bob.id),
        ):
            session.add(
                ActionItem(
                    review_id=review.id,
                    title=title,
                    due_date=due,
                    status=status,
                    owner_id=owner,
                    tracker_url="https://tracker.example/T-1" if title == "Someday" else "",
                )
            )
    return incident


async def test_items_lists_my_open_action_items_overdue_first(world: World, db: Database) -> None:
    incident = await _items(world, db)
    reply = await world.alice_s.slash("items")
    body = answer(reply)
    assert body["response_type"] == "ephemeral"
    lines = text_of(reply).splitlines()
    assert lines[0] == "Your open action items (4, 1 overdue)"
    assert lines[1] == (
        f"Add a retry budget (due 2026-03-01, overdue) — #{incident} checkout failing"
    )
    assert lines[2].startswith("Alert on queue depth (due 2026-03-02, due today)")
    assert lines[3].startswith("Write the runbook (due 2026-03-10)")
    assert lines[4].startswith("Someday (no due date)")
    everything = str(body["blocks"])
    assert "Already done" not in everything and "Bob's" not in everything
    assert "*OVERDUE*" in everything
    assert f"http://baton.test/incidents/{incident}/review" in everything
    assert "<https://tracker.example/T-1|Someday>" in everything
    # The alias says the same.
    assert text_of(await world.alice_s.slash("todo")).splitlines()[0] == lines[0]


async def test_overdue_is_by_the_callers_own_calendar(world: World, db: Database) -> None:
    await _items(world, db)
    # 23:30 UTC on 2 March is already 3 March in Berlin: the item due on the 2nd is overdue.
    world.clock.set(datetime(2026, 3, 2, 23, 30, tzinfo=UTC))
    lines = text_of(await world.alice_s.slash("items")).splitlines()
    assert lines[0] == "Your open action items (4, 2 overdue)"
    assert lines[2].startswith("Alert on queue depth (due 2026-03-02, overdue)")


async def test_nobody_owes_anything(world: World) -> None:
    assert text_of(await world.dan_s.slash("items")) == "You have no open action items. :tada:"


def test_flags_and_the_cut() -> None:
    today = date(2026, 3, 2)
    assert flag(date(2026, 3, 1), today) == "overdue"
    assert flag(today, today) == "due today"
    assert flag(date(2026, 3, 3), today) == "" and flag(None, today) == ""
    many = [ItemLine(i, f"item {i}", date(2026, 3, 5), None, "", "") for i in range(20)]
    reply = items_reply(many, today, "https://baton.example")
    assert reply.text.splitlines()[-1] == "… and 5 more in Baton"
    assert "<https://baton.example/me|open My on-call>" in str(reply.blocks)
