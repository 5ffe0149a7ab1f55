"""``baton readiness``, ``baton handover`` and ``baton handback`` against a real ``baton serve``
on 127.0.0.1, as the admin (the bootstrap token) or as a person with their own token."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import CliRunner, Result

from app.catalog.models import Service
from app.cli import main
from app.core.clock import SystemClock
from app.core.db import Database, make_engine
from app.readiness import service as readiness
from app.readiness.checklist import HandbackThresholds
from tests.e2e.processes import BatonProcess, migrate

TOKEN = "baton_" + "h" * 40


@dataclass(frozen=True)
class World:
    baton: BatonProcess
    dev_team: dict[str, Any]
    ops_team: dict[str, Any]
    ops_policy: dict[str, Any]
    developer_token: str  # a member of the developers' team, not of Ops, not an admin


@pytest.fixture(scope="module")
def baton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BatonProcess]:
    where = tmp_path_factory.mktemp("cli-readiness")
    database = f"sqlite:///{where / 'readiness.db'}"
    migrate(database)
    process = BatonProcess(database, TOKEN).start(where)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def world(baton: BatonProcess) -> World:
    dev = baton.api("POST", "/api/v1/teams", json={"name": "payments", "kind": "dev"})
    ops = baton.api("POST", "/api/v1/teams", json={"name": "sre", "kind": "ops"})
    dina = baton.api("POST", "/api/v1/users", json={"name": "Dina", "email": "dina@example.com"})
    baton.api("POST", f"/api/v1/teams/{dev['id']}/members", json={"user_id": dina["id"]})
    issued = baton.api("POST", "/api/v1/tokens", json={"name": "cli", "user_id": dina["id"]})
    policy = baton.api(
        "POST",
        "/api/v1/escalation-policies",
        json={
            "name": "sre-platform",
            "team_id": ops["id"],
            "steps": [{"delay_minutes": 10, "targets": [{"kind": "user", "user_id": dina["id"]}]}],
        },
    )
    return World(baton, dev, ops, policy, issued["token"])


def _service(world: World, name: str) -> dict[str, Any]:
    return world.baton.api(
        "POST", "/api/v1/services", json={"name": name, "team_id": world.dev_team["id"]}
    )


def _baton(world: World, *args: str, token: str = TOKEN) -> Result:
    return CliRunner().invoke(
        main, list(args), env={"BATON_URL": world.baton.url, "BATON_TOKEN": token}
    )


def _ok(world: World, *args: str, token: str = TOKEN) -> str:
    result = _baton(world, *args, token=token)
    assert result.exit_code == 0, result.output
    return result.output


def _refused(world: World, *args: str, code: int = 1, token: str = TOKEN) -> str:
    result = _baton(world, *args, token=token)
    assert result.exit_code == code, result.output
    return result.output


def test_readiness_prints_the_score_each_item_and_the_verdict(world: World) -> None:
    _service(world, "ledger")
    out = _ok(world, "readiness", "ledger")
    lines = out.splitlines()
    view = json.loads(_ok(world, "readiness", "ledger", "--json"))
    score, band = view["current"]["score"], view["current"]["band"]
    assert lines[0] == f"ledger: {score}/100, {band.replace('_', ' ')}"
    assert lines[1] == "supported by its developers"
    failing = view["failing_required"]
    assert "runbook" in failing
    assert lines[2] == "hand-over: blocked by required items: " + ", ".join(failing)
    runbook = next(line for line in lines if " runbook " in line)
    assert runbook.split()[:3] == ["NOT", "MET", "required"]
    owner = next(line for line in lines if " owner_team " in line)
    assert owner.split()[:3] == ["met", "required", "5"]
    assert "payments" in owner, "the evidence is printed"
    capacity = next(line for line in lines if " capacity " in line)
    assert "optional" in capacity
    assert len([line for line in lines if line.startswith("  ")]) == len(view["current"]["results"])
    assert "open hand-over" not in out and "last transitions" not in out


def test_the_overview_lists_every_service_lowest_first(world: World) -> None:
    _service(world, "atlas")
    out = _ok(world, "readiness")
    assert any(line.startswith("atlas") and "not evaluated" in line for line in out.splitlines())
    rows = json.loads(_ok(world, "readiness", "--json"))
    assert "atlas" in {row["service_name"] for row in rows}


def test_a_hand_over_is_requested_refused_while_items_fail_and_overridden(world: World) -> None:
    service = _service(world, "checkout")
    out = _ok(world, "handover", "checkout", "--ops-team", "sre", "--note", "launch in May")
    request_id = int(out.split()[2])
    assert out.strip() == f"hand-over request {request_id} for checkout: open"
    shown = _ok(world, "readiness", "checkout")
    assert f"open hand-over request {request_id} to sre, requested " in shown
    assert shown.rstrip().endswith(": launch in May")
    overview = _ok(world, "readiness")
    row = next(line for line in overview.splitlines() if line.startswith("checkout"))
    assert "(hand-over requested)" in row and "/100" in row, "the request stored an evaluation"

    again = _refused(world, "handover", "checkout", "--ops-team", "sre")
    assert "409: checkout already has an open hand-over request" in again

    refused = _refused(world, "handover", "checkout", "--accept", "--policy", "sre-platform")
    assert "409: required items fail: " in refused
    assert "A runbook URL (" in refused, "the failing items are listed with their evidence"
    assert world.baton.api("GET", f"/api/v1/services/{service['id']}")["support_model"] == "dev"

    # A developer is not in Ops: even with a reason, they cannot accept.
    not_ops = _refused(
        world,
        "handover",
        "checkout",
        "--accept",
        "--policy",
        "sre-platform",
        "--override-reason",
        "launch day",
        token=world.developer_token,
    )
    assert "403: only members of the Ops team (sre) or admins can accept a hand-over" in not_ops

    done = _ok(
        world,
        "handover",
        "checkout",
        "--accept",
        "--policy",
        "sre-platform",
        "--override-reason",
        "launch day",
    )
    assert done.startswith("checkout is now supported by Ops at readiness ")
    assert done.rstrip().endswith("(overriding failing required items)")
    after = world.baton.api("GET", f"/api/v1/services/{service['id']}")
    assert (after["support_model"], after["escalation_policy_id"]) == (
        "ops",
        world.ops_policy["id"],
    )
    shown = _ok(world, "readiness", "checkout")
    assert "supported by Ops (sre)" in shown
    assert "hand-over:" not in shown and "open hand-over" not in shown
    moves = shown.split("last transitions:\n")[1].splitlines()
    assert "handover dev -> ops by " in moves[0]
    assert "(overriding failing required items): launch day" in moves[0]

    # Handing back needs a reason, and then it is on record.
    assert "handing back needs --reason" in _refused(world, "handback", "checkout", code=2)
    back = _ok(world, "handback", "checkout", "--reason", "too noisy for Ops")
    assert back.strip() == "checkout is back with its developers"
    shown = _ok(world, "readiness", "checkout")
    assert "supported by its developers, handed back (sre consults)" in shown
    moves = shown.split("last transitions:\n")[1].splitlines()
    assert "handback ops -> dev by " in moves[0] and moves[0].endswith(": too noisy for Ops")
    assert "handover dev -> ops" in moves[1]
    assert "409: checkout is not supported by Ops" in _refused(
        world, "handback", "checkout", "--reason", "again"
    )


def test_a_hand_over_request_can_be_declined(world: World) -> None:
    _service(world, "search")
    assert "--accept and --decline exclude each other" in _refused(
        world, "handover", "search", "--accept", "--decline", code=2
    )
    assert "no open hand-over request" in _refused(
        world, "handover", "search", "--decline", "--reason", "not yet"
    )
    assert "--decline needs --reason" in _refused(world, "handover", "search", "--decline", code=2)
    assert "--accept needs --policy" in _refused(world, "handover", "search", "--accept", code=2)
    assert "--policy cannot be used when requesting" in _refused(
        world, "handover", "search", "--policy", "sre-platform", code=2
    )
    _ok(world, "handover", "search", "--ops-team", "sre")
    declined = json.loads(
        _ok(world, "handover", "search", "--decline", "--reason", "no runbook", "--json")
    )
    assert (declined["state"], declined["reason"]) == ("declined", "no runbook")
    assert "open hand-over" not in _ok(world, "readiness", "search")


def test_unknown_names_say_so(world: World) -> None:
    assert "404: service 'nowhere' not found" in _refused(world, "readiness", "nowhere")
    _service(world, "billing")
    assert "404: team 'dba' not found" in _refused(
        world, "handover", "billing", "--ops-team", "dba"
    )
    assert "422: team payments is not an Ops team" in _refused(
        world, "handover", "billing", "--ops-team", "payments"
    )
    _ok(world, "handover", "billing", "--ops-team", "sre")
    assert "404: escalation policy 'ops-gold' not found" in _refused(
        world, "handover", "billing", "--accept", "--policy", "ops-gold"
    )


def _propose(world: World, service_id: int) -> None:
    """The nightly review's step, run on the server's database: the change failure rate in
    DORA's lowest band breaches the handback criteria."""

    async def work() -> None:
        url = world.baton.database_url.replace("sqlite://", "sqlite+aiosqlite://", 1)
        db = Database(make_engine(url), SystemClock())
        try:
            async with db.transaction() as session:
                service = await session.get(Service, service_id)
                assert service is not None
                proposal = await readiness.propose_handback(
                    session, service, db.clock.now(), HandbackThresholds()
                )
                assert proposal is not None
        finally:
            await db.dispose()

    asyncio.run(work())


def _on_ops(world: World, name: str) -> dict[str, Any]:
    service = _service(world, name)
    _ok(world, "handover", name, "--ops-team", "sre")
    _ok(
        world,
        "handover",
        name,
        "--accept",
        "--policy",
        "sre-platform",
        "--keep-developers",
        "--override-reason",
        "test",
    )
    for status in ("succeeded", "failed"):
        world.baton.api(
            "POST",
            "/api/v1/deployments",
            json={"service": name, "version": status, "status": status},
        )
    return service


def test_a_handback_proposal_is_answered(world: World) -> None:
    assert "no open handback proposal" in _refused(world, "handback", "checkout", "--accept")
    kept = _on_ops(world, "orders")
    _propose(world, kept["id"])
    shown = _ok(world, "readiness", "orders")
    assert "open handback proposal " in shown and ", waits for Ops's answer" in shown
    assert "  breach: " in shown
    assert "(handback proposed)" in _ok(world, "readiness")
    assert "--decline needs --reason" in _refused(world, "handback", "orders", "--decline", code=2)
    declined = _ok(world, "handback", "orders", "--decline", "--reason", "we fixed the deploys")
    assert declined.strip().endswith("for orders: declined")
    assert world.baton.api("GET", f"/api/v1/services/{kept['id']}")["support_model"] == "ops"

    moved = _on_ops(world, "invoices")
    _propose(world, moved["id"])
    accepted = json.loads(_ok(world, "handback", "invoices", "--accept", "--json"))
    assert (accepted["direction"], accepted["to_support"]) == ("handback", "dev")
    assert world.baton.api("GET", f"/api/v1/services/{moved['id']}")["support_model"] == "dev"
