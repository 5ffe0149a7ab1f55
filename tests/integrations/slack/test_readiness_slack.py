"""Hand-over and handback in Slack: the notices with Accept / Decline, their dialogs, and the
service changing hands as the clicker (docs/readiness.md).

The world: the Dev team ``payments-dev`` (Dave) owns ``payments-api`` and posts in
``C0DEVTEAM1``; the Ops team ``ops`` (Olive) has one escalation policy and posts in
``C0OPSTEAM1``. The organisation's checklist is two required items: an owner team with members
and a runbook URL, so a service without a runbook cannot be handed over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.catalog.models import Service
from app.core.auth import Role
from app.core.clock import ManualClock
from app.core.db import Database
from app.integrations.slack import readiness_blocks as rb
from app.integrations.slack.client import SlackApi
from app.integrations.slack.provider import SlackProvider
from app.notify.base import MessageKind, OutboundMessage
from app.people.models import ContactType
from app.readiness import service as readiness
from app.readiness.models import HandbackProposal, HandoverRequest
from tests.factories import Actor, Factory
from tests.fakes.slack import FakeSlack, FakeSlackChannel, FakeSlackUser, SlackMessage
from tests.paging import Engine, api

DEV_CHANNEL = "C0DEVTEAM1"
OPS_CHANNEL = "C0OPSTEAM1"
DAVE_SLACK = "U0DAVE0001"
OLIVE_SLACK = "U0OLIVE002"
ADA_SLACK = "U0ADA00003"
STRANGER_SLACK = "U0STRANGE4"
RUNBOOK = "https://runbooks.example.internal/payments-api"
GENERIC = "/api/v1/integrations/generic"
CHECKLIST = [
    {"key": "owner_team", "title": "An owner team with members", "kind": "automatic", "weight": 50},
    {"key": "runbook", "title": "A runbook URL", "kind": "automatic", "weight": 50},
]


@dataclass
class World:
    client: httpx.AsyncClient
    db: Database
    slack: FakeSlack
    engine: Engine
    clock: ManualClock
    admin: Actor
    dave: Actor
    olive: Actor
    dev_team: dict[str, Any]
    ops_team: dict[str, Any]
    dev_policy: dict[str, Any]
    ops_policy: dict[str, Any]

    @property
    def dev_channel(self) -> FakeSlackChannel:
        return self.slack.channel(DEV_CHANNEL)

    @property
    def ops_channel(self) -> FakeSlackChannel:
        return self.slack.channel(OPS_CHANNEL)

    def device(self, slack_id: str) -> FakeSlackUser:
        return self.slack.users[slack_id]

    async def service_named(self, name: str, *, runbook: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": name,
            "team_id": self.dev_team["id"],
            "escalation_policy_id": self.dev_policy["id"],
        }
        if runbook:
            body["runbook_url"] = RUNBOOK
        return await api(self.client, self.admin, "POST", "/api/v1/services", json=body)

    async def service(self, service_id: int) -> dict[str, Any]:
        return await api(self.client, self.admin, "GET", f"/api/v1/services/{service_id}")

    async def request_handover(self, service_id: int) -> dict[str, Any]:
        return await api(
            self.client,
            self.dave,
            "POST",
            f"/api/v1/services/{service_id}/handover",
            json={"ops_team_id": self.ops_team["id"], "note": "stable for a quarter"},
        )

    async def posted_to_both(self, contains: str) -> tuple[SlackMessage, SlackMessage]:
        """The notice as each team's channel got it (after the outbox ran)."""
        await self.engine.tick()
        return (
            await self.dev_channel.expect_message(contains),
            await self.ops_channel.expect_message(contains),
        )

    async def redrawn_in_both(
        self, posts: tuple[SlackMessage, SlackMessage], contains: str
    ) -> SlackMessage:
        dev_post, ops_post = posts
        await self.dev_channel.expect_update(dev_post, contains)
        return await self.ops_channel.expect_update(ops_post, contains)

    async def handed_over(self, service_id: int) -> None:
        """Dave asks, Olive accepts over the API; both notices consumed."""
        request = await self.request_handover(service_id)
        await self.posted_to_both("asks ops to take on")
        await api(
            self.client,
            self.olive,
            "POST",
            f"/api/v1/handover-requests/{request['id']}/accept",
            json={"escalation_policy_id": self.ops_policy["id"]},
        )
        await self.posted_to_both("ops now supports")

    async def propose_handback(self, service_id: int) -> int:
        """One high-urgency page while Ops supports it breaches a limit of no pages at all:
        the nightly review's own function opens the proposal."""
        await api(
            self.client,
            self.admin,
            "PATCH",
            "/api/v1/readiness/thresholds",
            json={"max_pages_per_shift": 0},
        )
        integration = await api(
            self.client,
            self.admin,
            "POST",
            f"/api/v1/services/{service_id}/integrations",
            json={"kind": "generic", "name": "scripts"},
        )
        fired = await self.client.post(
            GENERIC,
            json={"summary": "checkout errors"},
            headers={"Authorization": f"Bearer {integration['key']}"},
        )
        assert fired.status_code == 202, fired.text
        await self.engine.tick()
        incident = int(fired.json()["incidents"][0])
        await api(self.client, self.olive, "POST", f"/api/v1/incidents/{incident}/resolve")
        self.clock.advance(timedelta(hours=1))
        async with self.db.transaction() as session:
            service = await session.get(Service, service_id)
            assert service is not None
            limits = await readiness.thresholds(session)
            proposal = await readiness.propose_handback(session, service, self.clock.now(), limits)
            assert proposal is not None
            return proposal.id


@pytest.fixture
async def world(
    client: httpx.AsyncClient,
    factory: Factory,
    db: Database,
    slack: FakeSlack,
    engine: Engine,
    clock: ManualClock,
) -> World:
    admin = await factory.actor(Role.ADMIN, name="Ada", email="ada@example.com")
    dave = await factory.actor(Role.MEMBER, name="Dave", email="dave@example.com")
    olive = await factory.actor(Role.MEMBER, name="Olive", email="olive@example.com")
    dev_team = await api(
        client,
        admin,
        "POST",
        "/api/v1/teams",
        json={"name": "payments-dev", "kind": "dev", "slack_channel": DEV_CHANNEL},
    )
    ops_team = await api(
        client,
        admin,
        "POST",
        "/api/v1/teams",
        json={"name": "ops", "kind": "ops", "slack_channel": OPS_CHANNEL},
    )
    for team, person in ((dev_team, dave), (ops_team, olive)):
        await api(
            client,
            admin,
            "POST",
            f"/api/v1/teams/{team['id']}/members",
            json={"user_id": person.id},
        )

    async def policy(name: str, team: dict[str, Any], who: Actor) -> dict[str, Any]:
        step = {"delay_minutes": 30, "targets": [{"kind": "user", "user_id": who.id}]}
        return await api(
            client,
            admin,
            "POST",
            "/api/v1/escalation-policies",
            json={"name": name, "team_id": team["id"], "steps": [step, step]},
        )

    dev_policy = await policy("payments-dev", dev_team, dave)
    ops_policy = await policy("ops-primary", ops_team, olive)
    await api(client, admin, "PUT", "/api/v1/readiness/checklist", json={"items": CHECKLIST})
    for slack_id, name, email in (
        (DAVE_SLACK, "dave", dave.email),
        (OLIVE_SLACK, "olive", olive.email),
        (ADA_SLACK, "ada", admin.email),
        (STRANGER_SLACK, "stranger", "stranger@elsewhere.test"),
    ):
        slack.user(slack_id, email=email, name=name)
    slack.channel(DEV_CHANNEL, name="payments-dev")
    slack.channel(OPS_CHANNEL, name="ops")
    return World(
        client,
        db,
        slack,
        engine,
        clock,
        admin,
        dave,
        olive,
        dev_team,
        ops_team,
        dev_policy,
        ops_policy,
    )


def _buttons(message: SlackMessage) -> dict[str, str]:
    return {e["action_id"]: e["value"] for _, e in message.actions()}


async def _request_state(db: Database, request_id: int) -> HandoverRequest:
    async with db.new_session() as session:
        found = await session.get(HandoverRequest, request_id)
        assert found is not None
        return found


async def _proposal(db: Database, proposal_id: int) -> HandbackProposal:
    async with db.new_session() as session:
        found = await session.scalar(
            select(HandbackProposal).where(HandbackProposal.id == proposal_id)
        )
        assert found is not None
        return found


# -------------------------------------------------------------------------------- hand-over


async def test_a_handover_request_is_accepted_from_slack_with_ops_policy(world: World) -> None:
    service = await world.service_named("payments-api")
    request = await world.request_handover(service["id"])
    posts = await world.posted_to_both("payments-dev asks ops to take on payments-api")
    dev_post, ops_post = posts
    for post in posts:
        assert _buttons(post) == {
            rb.ACTION_HANDOVER_ACCEPT: str(request["id"]),
            rb.ACTION_HANDOVER_DECLINE: str(request["id"]),
        }
        assert "Note: stable for a quarter" in post.all_text
        assert "Every required item passes." in post.all_text
        assert f"http://baton.test/services/{service['id']}/readiness" in post.all_text
    assert dev_post.text == (
        "payments-api: payments-dev asks ops to take on payments-api (readiness 100/100, passing)"
    )

    olive = world.device(OLIVE_SLACK)
    clicked = await olive.click(ops_post, rb.ACTION_HANDOVER_ACCEPT)
    assert clicked.status_code == 200 and clicked.content == b""
    view = await olive.expect_view(callback_id=rb.VIEW_HANDOVER_ACCEPT)
    assert "ops takes on payments-api" in view.all_text
    policy_block = next(b for b in view.blocks if b.get("block_id") == rb.BLOCK_POLICY)
    options = [o["value"] for o in policy_block["element"]["options"]]
    # Ops's own policy first, and preselected since it is Ops's only one.
    assert options == [str(world.ops_policy["id"]), str(world.dev_policy["id"])]
    assert policy_block["element"]["initial_option"]["value"] == str(world.ops_policy["id"])
    assert "Keep the developers as a last step" in view.all_text
    assert (await world.service(service["id"]))["support_model"] == "dev"

    done = await olive.submit_view(view, {rb.INPUT_POLICY: str(world.ops_policy["id"])})
    assert done.status_code == 200 and done.content == b""
    assert not olive.open_views
    await olive.expect_ephemeral("You accepted the hand-over: ops now supports payments-api")
    updated = await world.redrawn_in_both(posts, "Accepted by Olive via Slack")
    assert _buttons(world.slack.current(ops_post)) == {}
    assert "new incidents escalate by ops-primary" in updated.all_text

    moved = await world.service(service["id"])
    assert moved["support_model"] == "ops"
    assert moved["escalation_policy_id"] == world.ops_policy["id"]
    assert moved["developer_policy_id"] == world.dev_policy["id"]
    accepted = await world.posted_to_both("ops now supports payments-api")
    assert all(_buttons(post) == {} for post in accepted)  # a decision has nothing to answer
    readiness_view = await api(
        world.client, world.admin, "GET", f"/api/v1/services/{service['id']}/readiness"
    )
    [transition] = readiness_view["transitions"]
    assert transition["direction"] == "handover"
    assert transition["decided_by_id"] == world.olive.id


async def test_keeping_the_developers_makes_a_policy_ending_with_them(world: World) -> None:
    step = {"delay_minutes": 30, "targets": [{"kind": "user", "user_id": world.olive.id}]}
    secondary = await api(
        world.client,
        world.admin,
        "POST",
        "/api/v1/escalation-policies",
        json={"name": "ops-secondary", "team_id": world.ops_team["id"], "steps": [step]},
    )
    service = await world.service_named("payments-api")
    await world.request_handover(service["id"])
    posts = await world.posted_to_both("asks ops to take on")
    olive = world.device(OLIVE_SLACK)
    await olive.click(posts[1], rb.ACTION_HANDOVER_ACCEPT)
    view = await olive.expect_view(callback_id=rb.VIEW_HANDOVER_ACCEPT)
    policy_block = next(b for b in view.blocks if b.get("block_id") == rb.BLOCK_POLICY)
    # Ops has two policies now: both first, and none chosen for Olive.
    assert [o["value"] for o in policy_block["element"]["options"]] == [
        str(world.ops_policy["id"]),
        str(secondary["id"]),
        str(world.dev_policy["id"]),
    ]
    assert "initial_option" not in policy_block["element"]
    missing = await olive.submit_view(view, {})
    assert missing.json()["errors"] == {
        rb.BLOCK_POLICY: "Pick the escalation policy the service moves to."
    }
    await olive.submit_view(
        view,
        {rb.INPUT_POLICY: str(world.ops_policy["id"]), rb.INPUT_KEEP_DEVELOPERS: ["keep"]},
    )
    await olive.expect_ephemeral("escalate by payments-api: ops-primary, then developers")
    await world.redrawn_in_both(posts, "Accepted by Olive via Slack")
    moved = await world.service(service["id"])
    assert moved["support_model"] == "ops"
    assert moved["escalation_policy_id"] not in (world.ops_policy["id"], world.dev_policy["id"])
    await world.posted_to_both("ops now supports payments-api")


async def test_a_failing_required_item_is_told_to_the_clicker_and_changes_nothing(
    world: World,
) -> None:
    service = await world.service_named("payments-api", runbook=False)
    request = await world.request_handover(service["id"])
    posts = await world.posted_to_both("asks ops to take on payments-api")
    assert "A runbook URL (required, NOT met)" in posts[1].all_text

    olive = world.device(OLIVE_SLACK)
    await olive.click(posts[1], rb.ACTION_HANDOVER_ACCEPT)
    view = await olive.expect_view(callback_id=rb.VIEW_HANDOVER_ACCEPT)
    done = await olive.submit_view(view, {rb.INPUT_POLICY: str(world.ops_policy["id"])})
    assert done.status_code == 200
    refusal = await olive.expect_ephemeral("Could not accept the hand-over of payments-api")
    assert "required items fail: A runbook URL" in refusal.text

    unchanged = await world.service(service["id"])
    assert unchanged["support_model"] == "dev"
    assert unchanged["escalation_policy_id"] == world.dev_policy["id"]
    assert (await _request_state(world.db, request["id"])).state.value == "open"
    # The notice keeps its buttons: someone can still answer once the runbook is there.
    assert rb.ACTION_HANDOVER_ACCEPT in _buttons(world.slack.current(posts[1]))

    # A member overriding is refused (403) the same way; the override is for admins.
    world.clock.advance(timedelta(seconds=5))  # a new click, not a replay of the first
    await olive.click(posts[1], rb.ACTION_HANDOVER_ACCEPT)
    view = await olive.expect_view(callback_id=rb.VIEW_HANDOVER_ACCEPT)
    await olive.submit_view(
        view, {rb.INPUT_POLICY: str(world.ops_policy["id"]), "text": "we know it well"}
    )
    refused = await olive.expect_ephemeral("Could not accept the hand-over of payments-api")
    assert "only admins can accept a hand-over while required items fail" in refused.text
    assert (await world.service(service["id"]))["support_model"] == "dev"


async def test_only_ops_may_answer_and_unlinked_users_are_told_to_link(world: World) -> None:
    service = await world.service_named("payments-api")
    request = await world.request_handover(service["id"])
    posts = await world.posted_to_both("asks ops to take on")

    dave = world.device(DAVE_SLACK)
    await dave.click(posts[0], rb.ACTION_HANDOVER_ACCEPT)
    refusal = await dave.expect_ephemeral("Only members of the Ops team (ops) or admins")
    assert "nothing was done" in refusal.text
    assert not dave.open_views

    stranger = world.device(STRANGER_SLACK)
    await stranger.click(posts[1], rb.ACTION_HANDOVER_DECLINE)
    await stranger.expect_ephemeral("Baton does not know who you are yet")
    assert not stranger.open_views
    assert (await _request_state(world.db, request["id"])).state.value == "open"


async def test_a_handover_is_declined_with_the_reason_from_the_dialog(world: World) -> None:
    service = await world.service_named("payments-api")
    request = await world.request_handover(service["id"])
    posts = await world.posted_to_both("asks ops to take on")

    olive = world.device(OLIVE_SLACK)
    await olive.click(posts[1], rb.ACTION_HANDOVER_DECLINE)
    view = await olive.expect_view(callback_id=rb.VIEW_DECLINE)
    assert "Decline the hand-over request of payments-api" in view.all_text
    blank = await olive.submit_view(view, {"text": "   "})
    assert blank.json() == {
        "response_action": "errors",
        "errors": {rb.BLOCK_REASON: "Say why: both teams see the reason."},
    }
    assert olive.open_views, "the dialog stays open for the reason"

    done = await olive.submit_view(view, {"text": "no on-call training yet"})
    assert done.status_code == 200 and done.content == b""
    await olive.expect_ephemeral("You declined the hand-over request of payments-api")
    await world.redrawn_in_both(posts, "Declined by Olive via Slack: no on-call training yet")
    stored = await _request_state(world.db, request["id"])
    assert stored.state.value == "declined" and stored.reason == "no on-call training yet"
    assert stored.decided_by_id == world.olive.id
    assert (await world.service(service["id"]))["support_model"] == "dev"
    await world.posted_to_both("ops declined to take on payments-api")

    # A click on a copy still showing the buttons (a client that missed the redraw) is told
    # it is too late.
    stale = SlackMessage("ephemeral", DEV_CHANNEL, None, posts[0].text, blocks=posts[0].blocks)
    await olive.click(stale, rb.ACTION_HANDOVER_ACCEPT)
    await olive.expect_ephemeral("This hand-over request was already declined by Olive")


async def test_a_forged_click_or_submission_changes_nothing(world: World) -> None:
    service = await world.service_named("payments-api")
    request = await world.request_handover(service["id"])
    posts = await world.posted_to_both("asks ops to take on")
    olive = world.device(OLIVE_SLACK)

    forged = await olive.click(posts[1], rb.ACTION_HANDOVER_DECLINE, signature="bad")
    assert forged.status_code == 403
    assert not olive.open_views

    await olive.click(posts[1], rb.ACTION_HANDOVER_ACCEPT)
    view = await olive.expect_view(callback_id=rb.VIEW_HANDOVER_ACCEPT)
    forged = await olive.submit_view(
        view, {rb.INPUT_POLICY: str(world.ops_policy["id"])}, signature="bad"
    )
    assert forged.status_code == 403
    assert (await world.service(service["id"]))["support_model"] == "dev"
    assert (await _request_state(world.db, request["id"])).state.value == "open"


# -------------------------------------------------------------------------------- handback


async def test_a_handback_is_accepted_at_once_from_slack(world: World) -> None:
    service = await world.service_named("payments-api")
    await world.handed_over(service["id"])
    proposal_id = await world.propose_handback(service["id"])
    posts = await world.posted_to_both("Handback proposed: payments-api back to payments-dev")
    for post in posts:
        assert _buttons(post) == {
            rb.ACTION_HANDBACK_ACCEPT: str(proposal_id),
            rb.ACTION_HANDBACK_DECLINE: str(proposal_id),
        }
        assert "More than 0 pages per 12-hour shift" in post.all_text

    # The developers cannot accept for Ops.
    dave = world.device(DAVE_SLACK)
    await dave.click(posts[0], rb.ACTION_HANDBACK_ACCEPT)
    refusal = await dave.expect_ephemeral("Could not accept the handback of payments-api")
    assert "only members of the Ops team (ops) or admins can accept a handback" in refusal.text
    assert (await world.service(service["id"]))["support_model"] == "ops"

    olive = world.device(OLIVE_SLACK)
    clicked = await olive.click(posts[1], rb.ACTION_HANDBACK_ACCEPT)
    assert clicked.status_code == 200
    assert not olive.open_views  # no dialog: it acts at once
    await olive.expect_ephemeral(
        "You accepted the handback: payments-api is back with payments-dev"
    )
    await world.redrawn_in_both(posts, "Handback accepted by Olive via Slack.")
    assert _buttons(world.slack.current(posts[0])) == {}

    back = await world.service(service["id"])
    assert back["support_model"] == "dev"
    assert back["escalation_policy_id"] == world.dev_policy["id"]
    assert (await _proposal(world.db, proposal_id)).state.value == "accepted"
    await world.posted_to_both("payments-api is back with payments-dev")


async def test_a_handback_is_declined_with_the_reason_from_the_dialog(world: World) -> None:
    service = await world.service_named("payments-api")
    await world.handed_over(service["id"])
    proposal_id = await world.propose_handback(service["id"])
    posts = await world.posted_to_both("Handback proposed")

    olive = world.device(OLIVE_SLACK)
    await olive.click(posts[1], rb.ACTION_HANDBACK_DECLINE)
    view = await olive.expect_view(callback_id=rb.VIEW_DECLINE)
    assert "Decline the handback proposal of payments-api" in view.all_text
    await olive.submit_view(view, {"text": "one noisy night, fixed since"})
    await olive.expect_ephemeral("You declined the handback proposal of payments-api")
    await world.redrawn_in_both(posts, "Declined by Olive via Slack: one noisy night, fixed since")
    stored = await _proposal(world.db, proposal_id)
    assert stored.state.value == "declined" and stored.reason == "one noisy night, fixed since"
    assert (await world.service(service["id"]))["support_model"] == "ops"
    await world.posted_to_both("ops keeps payments-api: handback declined")


def test_a_notice_the_provider_cannot_read_is_posted_as_plain_text() -> None:
    provider = SlackProvider(SlackApi("xoxb-test", "http://127.0.0.1:9/api/"), "http://baton.test")
    message = OutboundMessage(
        contact_type=ContactType.SLACK,
        address=OPS_CHANNEL,
        kind=MessageKind.INFO,
        subject="[Baton] payments-api",
        text="payments-api changed hands",
        context={"event": "readiness", "notice": {"kind": "handover_requested"}},
    )
    text, blocks = provider.render(message)
    assert text == "payments-api changed hands"
    assert [b["type"] for b in blocks] == ["section"]
