"""A Slack page of an incident that opened after a deploy names it and asks whether it caused
it; a click records the verdict as the clicker, and the page shows the verdict (issue 14)."""

from __future__ import annotations

from app.core.auth import Role
from app.core.clock import ManualClock
from app.core.db import Database
from app.deploys.models import Deployment
from app.integrations.slack import page_blocks
from tests.factories import Factory
from tests.fakes.slack import FakeSlack, SlackMessage
from tests.notify.conftest import Oncall
from tests.notify.nearby_deploy import DEPLOY_WORDS, deploy_before_incident
from tests.paging import Engine

ALICE_SLACK = "U0ALICE001"
BOB_SLACK = "U0BOB00002"
DEPLOY_BUTTONS = [page_blocks.ACTION_DEPLOY_CAUSED, page_blocks.ACTION_DEPLOY_UNRELATED]


def _deploy_buttons(message: SlackMessage) -> list[str]:
    return [e["action_id"] for _, e in message.actions() if e["action_id"] in DEPLOY_BUTTONS]


async def _deployment(db: Database, deployment_id: int) -> Deployment:
    async with db.new_session() as session:
        found = await session.get(Deployment, deployment_id)
        assert found is not None
        return found


async def test_caused_by_this_deploy_confirms_it_as_the_clicker(
    oncall: Oncall, slack: FakeSlack, engine: Engine, db: Database, clock: ManualClock
) -> None:
    alice = slack.user(ALICE_SLACK, email="alice@example.com", name="alice")
    await oncall.contact(oncall.alice, "slack", ALICE_SLACK)
    deployment = await deploy_before_incident(db, clock, oncall.service["id"])
    incident = await oncall.fire("checkout error rate above 5%")
    await engine.tick()

    page = await alice.expect_dm(f"#{incident} checkout error rate above 5%")
    assert f"checkout error rate above 5% - {DEPLOY_WORDS}" in page.text  # the push alert
    assert f":rocket: A{DEPLOY_WORDS[1:]} · production" in page.all_text
    assert _deploy_buttons(page) == DEPLOY_BUTTONS
    labels = {e["action_id"]: e["text"]["text"] for _, e in page.actions()}
    assert labels[page_blocks.ACTION_DEPLOY_CAUSED] == "Caused by this deploy"
    assert labels[page_blocks.ACTION_DEPLOY_UNRELATED] == "Not related"
    values = {e["value"] for _, e in page.actions() if e["action_id"] in DEPLOY_BUTTONS}
    assert values == {f"{incident}:{deployment}"}

    clicked = await alice.click(page, page_blocks.ACTION_DEPLOY_CAUSED)
    assert clicked.status_code == 200 and clicked.text == ""
    await engine.tick()

    dm = slack.channel(alice.dm_channel)
    said = "Alice confirmed deploy v1.4.2 as the cause via slack"
    updated = await dm.expect_update(page, said)
    await dm.expect_thread_reply(page, said)
    assert ":rotating_light: Caused by deploy v1.4.2 by dina 12 min ago" in updated.all_text
    assert _deploy_buttons(slack.current(page)) == []
    # The incident's own buttons are still there: the verdict changes nothing else.
    assert "incident_acknowledge" in [e["action_id"] for _, e in slack.current(page).actions()]

    [confirmed] = await oncall.timeline(incident, "deploy_confirmed")
    assert confirmed["actor_user_id"] == oncall.alice.id and confirmed["channel"] == "slack"
    found = await _deployment(db, deployment)
    assert found.caused_incident is True and found.suspect is False

    # A later change of the incident keeps showing the verdict, not the buttons.
    await alice.click(slack.current(page), "incident_acknowledge")
    await engine.tick()
    acked = await dm.expect_update(page, "Acknowledged by Alice via slack")
    await dm.expect_thread_reply(page, "Acknowledged by Alice via slack")
    assert "Caused by deploy v1.4.2" in acked.all_text and _deploy_buttons(acked) == []


async def test_not_related_shows_the_verdict_and_refuses_a_viewer(
    oncall: Oncall,
    slack: FakeSlack,
    engine: Engine,
    db: Database,
    clock: ManualClock,
    factory: Factory,
) -> None:
    alice = slack.user(ALICE_SLACK, email="alice@example.com", name="alice")
    bob = slack.user(BOB_SLACK, email="bob@example.com", name="bob")
    await factory.actor(Role.VIEWER, name="Vic", email="vic@example.com")
    vic = slack.user("U0VIEWER01", email="vic@example.com", name="vic")
    await oncall.contact(oncall.alice, "slack", ALICE_SLACK)
    deployment = await deploy_before_incident(db, clock, oncall.service["id"])
    incident = await oncall.fire()
    await engine.tick()
    page = await alice.expect_dm(f"#{incident}")

    await vic.click(page, page_blocks.ACTION_DEPLOY_UNRELATED)
    refusal = await vic.expect_ephemeral("Could not record that")
    assert "viewers can look but not change anything" in refusal.all_text
    assert (await _deployment(db, deployment)).suspect is True

    await bob.click(page, page_blocks.ACTION_DEPLOY_UNRELATED)
    await engine.tick()
    dm = slack.channel(alice.dm_channel)
    said = "Bob judged deploy v1.4.2 not related via slack"
    updated = await dm.expect_update(page, said)
    await dm.expect_thread_reply(page, said)
    assert ":heavy_check_mark: Not related: deploy v1.4.2 by dina" in updated.all_text
    assert "- after deploy" not in updated.text and _deploy_buttons(updated) == []
    [rejected] = await oncall.timeline(incident, "deploy_rejected")
    assert rejected["actor_user_id"] == oncall.bob.id and rejected["channel"] == "slack"
    found = await _deployment(db, deployment)
    assert found.suspect is False and found.caused_incident is False


async def test_a_page_without_a_deploy_has_no_deploy_line_or_buttons(
    oncall: Oncall, slack: FakeSlack, engine: Engine
) -> None:
    alice = slack.user(ALICE_SLACK, email="alice@example.com", name="alice")
    await oncall.contact(oncall.alice, "slack", ALICE_SLACK)
    incident = await oncall.fire()
    await engine.tick()
    page = await alice.expect_dm(f"#{incident}")
    assert "deploy" not in page.all_text.lower() and _deploy_buttons(page) == []
