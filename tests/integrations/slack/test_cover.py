"""``/baton cover``: colleagues get Accept; the first to accept gets the override."""

from __future__ import annotations

from tests.integrations.slack.conftest import World, text_of
from tests.paging import api


async def test_cover_two_hours_accept_and_oncall_shows_the_cover(world: World) -> None:
    asked = text_of(await world.alice_s.slash("cover 2h"))
    assert asked == (
        "Asked the rest of the Payments rotation to cover you from Mon 02 Mar 11:00 CET to "
        "Mon 02 Mar 13:00 CET (cover request 1). The first to accept takes it; you will be told."
    )
    await world.engine.tick()  # the requests leave through the outbox
    to_bob = await world.bob_s.expect_dm("Alice asks for cover on Payments")
    to_dan = await world.dan_s.expect_dm("Alice asks for cover on Payments")
    assert [e["action_id"] for _, e in to_bob.actions()] == ["cover_accept"]

    accepted = await world.bob_s.click(to_bob, "cover_accept")
    assert accepted.status_code == 200
    await world.dm(world.bob_s).expect_update(to_bob, "You took cover request 1")
    assert world.slack.current(to_bob).actions() == []
    overrides = await api(
        world.client,
        world.admin,
        "GET",
        f"/api/v1/schedules/{world.schedule['id']}/overrides",
    )
    [override] = overrides["items"]
    assert override["user_id"] == world.bob.id
    assert override["replaces_user_id"] == world.alice.id

    await world.engine.tick()
    await world.alice_s.expect_dm("Bob covers you on Payments")
    await world.bob_s.expect_dm("You cover Alice on Payments")

    await world.dan_s.click(to_dan, "cover_accept")
    await world.dan_s.expect_ephemeral("Too late: Bob already took cover request 1.")

    oncall = text_of(await world.alice_s.slash("oncall payments"))
    assert "On call: Bob (override) until Mon 02 Mar 13:00 CET" in oncall
    assert "Next: Alice" in oncall


async def test_cover_needs_a_shift_to_cover(world: World) -> None:
    refused = text_of(await world.bob_s.slash("cover 2h"))
    assert refused == "You are not on call then: there is nothing to cover."
    tomorrow = text_of(await world.bob_s.slash("cover 2026-03-03T10:00/2026-03-03T12:00 Payments"))
    assert tomorrow.startswith("Asked the rest of the Payments rotation to cover you from Tue 03")
    await world.engine.tick()
    await world.alice_s.expect_dm("Bob asks for cover on Payments")
    await world.dan_s.expect_dm("Bob asks for cover on Payments")
    not_a_schedule = text_of(await world.bob_s.slash("cover 2h payments-api"))
    assert not_a_schedule == "`payments-api` is a service; name the schedule you need cover on."
