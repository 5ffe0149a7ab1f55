"""``/baton oncall`` (and ``/oncall``): who is on call now and next, around a hand-off."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.integrations.slack.conftest import World, answer, text_of


async def test_oncall_payments_around_the_handoff(world: World) -> None:
    alice = world.alice_s
    before = text_of(await alice.slash("oncall payments"))
    assert "On call for Payments" in before
    assert "On call: Alice until Tue 03 Mar 09:00 CET" in before
    assert "Shadow: Carol" in before and "Next: Bob" in before

    world.clock.set(datetime(2026, 3, 3, 7, 59, tzinfo=UTC))  # 08:59 in Berlin
    assert "On call: Alice until Tue 03 Mar 09:00 CET" in text_of(
        await alice.slash("oncall payments")
    )

    world.clock.set(datetime(2026, 3, 3, 8, 1, tzinfo=UTC))  # 09:01 in Berlin
    after = text_of(await alice.slash("oncall payments"))
    assert "On call: Bob until Wed 04 Mar 09:00 CET" in after
    assert "Next: Dan" in after and "Shadow: Carol" in after
    assert "Alice" not in after


async def test_answers_are_ephemeral_unless_here(world: World) -> None:
    private = answer(await world.alice_s.slash("oncall payments"))
    assert private["response_type"] == "ephemeral"
    public = answer(await world.alice_s.slash("oncall payments --here"))
    assert public["response_type"] == "in_channel"
    assert "On call: Alice" in public["text"]


async def test_oncall_shortcut_and_every_schedule(world: World) -> None:
    shortcut = await world.alice_s.slash("payments", command="/oncall")
    assert "On call: Alice" in text_of(shortcut)
    everything = text_of(await world.alice_s.slash("", command="/oncall"))
    assert everything.startswith("On call now") and "*Payments*" in everything


async def test_oncall_for_a_service_and_a_team(world: World) -> None:
    service = text_of(await world.alice_s.slash("oncall payments-api"))
    assert "On call for payments-api" in service and "On call: Alice" in service
    assert "Paged directly by payments: Bob (step 2)" in service
    team = text_of(await world.alice_s.slash("oncall sre"))
    assert "On call for sre" in team and "On call: Alice" in team
    partial = text_of(await world.alice_s.slash("oncall paym"))
    assert "could be several things" in partial and "payments-api (service)" in partial
    unknown = text_of(await world.alice_s.slash("oncall nothing-like-this"))
    assert "No schedule, service or team is called `nothing-like-this`" in unknown
