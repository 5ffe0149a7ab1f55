"""A send cut short by a crash: nobody is left uncovered, and repeats happen only where cheap.

The dispatcher claims a page (marks it ``sending``) and the process dies before it records
what the provider said. Tests do exactly that: claim, drop the claim, move the clock past the
send deadline and let the engine's recovery run, as a restarted replica would.
"""

from __future__ import annotations

import httpx

from app.notify.console import ConsoleProvider
from tests.engine.conftest import Fire, Setup
from tests.engine.test_escalation import kinds
from tests.fakes.webhook import WebhookReceiver
from tests.paging import ConsoleInbox, Engine, add_contact, api


async def notifications(client: httpx.AsyncClient, setup: Setup, incident: int) -> list[dict]:
    return await api(client, setup.admin, "GET", f"/api/v1/incidents/{incident}/notifications")


async def _only_email_for_alice(client: httpx.AsyncClient, setup: Setup) -> None:
    """Alice's one rule: e-mail at once (the console stands in for SMTP)."""
    for method in await api(
        client, setup.admin, "GET", f"/api/v1/users/{setup.alice.id}/contact-methods"
    ):
        await api(
            client,
            setup.admin,
            "DELETE",
            f"/api/v1/users/{setup.alice.id}/contact-methods/{method['id']}",
        )
    await add_contact(client, setup.admin, setup.alice.id, "email", "alice@example.com")


async def _crash_mid_send(app, engine: Engine) -> list[str]:
    claimed = await app.state.dispatcher.claim()  # ... and then the process is killed
    await engine.advance(seconds=31)  # past the send deadline: a restarted replica recovers
    await engine.advance(seconds=1)  # the engine's next tick acts on what recovery decided
    return [c.message.address for c in claimed]


async def test_a_webhook_is_sent_again_with_the_same_delivery_id(
    client: httpx.AsyncClient,
    setup: Setup,
    engine: Engine,
    webhook_receiver: WebhookReceiver,
    app,
    fire: Fire,
) -> None:
    incident = await fire()
    assert await _crash_mid_send(app, engine) == [webhook_receiver.url_for("/alice")]
    again = await webhook_receiver.expect_event(path="/alice")
    await engine.drain()
    webhook_receiver.assert_nothing_sent()
    [row] = await notifications(client, setup, incident)
    assert row["status"] == "sent" and row["attempts"] == 2
    assert again.header("X-Baton-Delivery") == str(row["id"])
    assert "notification_retry" in await kinds(client, setup, incident)


async def test_a_single_rule_person_is_covered_by_the_next_step_at_once(
    client: httpx.AsyncClient,
    setup: Setup,
    engine: Engine,
    webhook_receiver: WebhookReceiver,
    console: ConsoleProvider,
    app,
    fire: Fire,
) -> None:
    await _only_email_for_alice(client, setup)
    inbox = ConsoleInbox(console)
    incident = await fire("checkout down")
    assert await _crash_mid_send(app, engine) == ["alice@example.com"]
    # Not five minutes later: Bob, the next step, is paged as soon as the crash is noticed.
    await webhook_receiver.expect_event(path="/bob", match={"event": "incident.page"})
    await engine.drain()
    webhook_receiver.assert_nothing_sent()
    inbox.assert_no_unexpected()  # Alice's e-mail is not repeated
    timeline = await kinds(client, setup, incident)
    after_crash = timeline[timeline.index("escalation_brought_forward") :]
    assert "escalated" in after_crash  # step 2, brought forward
    alice = next(
        n for n in await notifications(client, setup, incident) if n["user_id"] == setup.alice.id
    )
    assert alice["status"] == "failed" and "next step covers" in alice["last_error"]


async def test_the_next_rule_moves_up_instead_of_a_repeat(
    client: httpx.AsyncClient,
    setup: Setup,
    engine: Engine,
    webhook_receiver: WebhookReceiver,
    console: ConsoleProvider,
    app,
    fire: Fire,
) -> None:
    await _only_email_for_alice(client, setup)
    await add_contact(
        client,
        setup.admin,
        setup.alice.id,
        "webhook",
        webhook_receiver.url_for("/alice-phone"),
        after_minutes=3,
    )
    inbox = ConsoleInbox(console)
    await fire()
    assert await _crash_mid_send(app, engine) == ["alice@example.com"]
    await webhook_receiver.expect_event(path="/alice-phone")
    await engine.drain()
    webhook_receiver.assert_nothing_sent()  # Bob waits for his step's time
    inbox.assert_no_unexpected()


async def test_with_nothing_else_to_reach_anyone_the_page_is_repeated_once_as_a_possible_duplicate(
    client: httpx.AsyncClient,
    setup: Setup,
    engine: Engine,
    console: ConsoleProvider,
    app,
    fire: Fire,
) -> None:
    await _only_email_for_alice(client, setup)
    await setup.only_alice(client)
    inbox = ConsoleInbox(console)
    incident = await fire("checkout down")
    assert await _crash_mid_send(app, engine) == ["alice@example.com"]
    repeat = inbox.expect("alice@example.com", "(possible duplicate)")
    assert "checkout down" in repeat.subject
    inbox.assert_no_unexpected()
    [row] = await notifications(client, setup, incident)
    assert row["status"] == "sent" and row["attempts"] == 2


async def test_a_repeat_cut_short_again_is_not_sent_a_third_time(
    client: httpx.AsyncClient,
    setup: Setup,
    engine: Engine,
    console: ConsoleProvider,
    clock,
    app,
    fire: Fire,
) -> None:
    await _only_email_for_alice(client, setup)
    await setup.only_alice(client)
    incident = await fire()
    dispatcher = app.state.dispatcher
    for _ in range(2):  # the first send and its repeat both die mid-call
        assert len(await dispatcher.claim()) == 1
        clock.advance(seconds=31)
        assert await dispatcher.fail_stale_sends() == 1
    [row] = await notifications(client, setup, incident)
    assert row["status"] == "failed" and "already repeated once" in row["last_error"]
    await engine.tick()
    ConsoleInbox(console).assert_no_unexpected()
