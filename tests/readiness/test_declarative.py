"""``baton apply`` for readiness: the checklist, teams' additions, the handback criteria and
sign-offs from the file; services' Ops team and teams' channels; refusals that write nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.catalog.models import Service, SupportModel
from app.core.auth import Principal, Role
from app.core.db import Database
from app.core.declarative import Action, ApplyReport
from app.declarative.apply import ConfigFileError, apply_config, parse_config
from app.escalation.service import get_policy_by_name
from app.people.models import Team, User
from app.people.service import get_team_by_name
from app.readiness import service as readiness
from app.readiness.models import ReadinessSettings, SignOff, TeamReadinessItems

DEMO = (Path(__file__).parents[2] / "config" / "demo.yaml").read_text()

# The demo's people, teams, policies and services, without its readiness section.
BASE = DEMO.split("\nreadiness:\n")[0] + "\n"

CHECKLIST = """
readiness:
  checklist:
    - {key: owner_team, title: An owner team with members, kind: automatic, weight: 20}
    - {key: runbook, title: A runbook URL, kind: automatic, weight: 20}
    - key: escalation_policy
      title: A policy with three steps
      kind: automatic
      weight: 20
      params: {min_steps: 3}
    - {key: monitoring, title: Monitoring reviewed, kind: sign_off, weight: 30}
    - {key: capacity, title: Capacity plan, kind: sign_off, weight: 10, required: false}
"""


async def _apply(db: Database, text: str, *, prune: bool = False) -> ApplyReport:
    async with db.transaction() as session:
        return await apply_config(session, parse_config(text), prune=prune)


def _readiness_changes(report: ApplyReport) -> list[tuple[str, str, str]]:
    kinds = {"readiness_checklist", "readiness_thresholds", "sign_off"}
    return [(c.action.value, c.kind, c.key) for c in report.changes if c.kind in kinds]


async def _count(db: Database, model: type) -> int:
    async with db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _service(db: Database, name: str) -> Service:
    async with db.transaction() as session:
        found = await session.scalar(select(Service).where(Service.name == name))
        assert found is not None
        return found


async def test_the_demo_sets_readiness_once_and_then_changes_nothing(db: Database) -> None:
    first = await _apply(db, DEMO)
    assert _readiness_changes(first) == [
        ("create", "readiness_thresholds", "organisation"),
        ("create", "readiness_checklist", "team payments"),
        ("create", "sign_off", "payments-api monitoring"),
        ("create", "sign_off", "payments-api rollback"),
    ]
    again = await _apply(db, DEMO)
    assert not again.changed, [
        c.describe() for c in again.changes if c.action is not Action.UNCHANGED
    ]
    assert {a for a, _, _ in _readiness_changes(again)} == {"unchanged"}

    async with db.transaction() as session:
        payments = await get_team_by_name(session, "payments")
        assert payments is not None
        merged = await readiness.checklist_of_team(session, payments.id)
        pager = next(i for i in merged if i.key == "pager_load")
        assert pager.param("max_pages_per_shift") == 1
        assert sum(i.weight for i in merged) == 100
        limits = await readiness.thresholds(session)
        assert (limits.window_days, limits.max_pages_per_shift, limits.grace_days) == (28, 3, 7)
        service = await session.scalar(select(Service).where(Service.name == "payments-api"))
        assert service is not None
        signed = {s.item_key: s for s in await readiness.sign_offs_of(session, service.id)}
        assert signed["rollback"].signed_by_name == "Alice Nguyen"
        assert signed["rollback"].signed_on.isoformat() == "2026-01-14"
        evaluation = await readiness.evaluate(session, service)
        met = {r.key: r.met for r in evaluation.results}
        assert met["monitoring"] and met["rollback"] and not met["data"]


async def test_a_checklist_in_the_file_replaces_the_organisations(db: Database) -> None:
    report = await _apply(db, BASE + CHECKLIST)
    assert ("create", "readiness_checklist", "organisation") in _readiness_changes(report)
    async with db.transaction() as session:
        items = await readiness.organisation_items(session)
    assert [(i.key, i.weight, i.required) for i in items] == [
        ("owner_team", 20, True),
        ("runbook", 20, True),
        ("escalation_policy", 20, True),
        ("monitoring", 30, True),
        ("capacity", 10, False),
    ]
    assert items[2].param("min_steps") == 3

    again = await _apply(db, BASE + CHECKLIST)
    assert _readiness_changes(again) == [("unchanged", "readiness_checklist", "organisation")]

    moved = CHECKLIST.replace("weight: 30}", "weight: 25}").replace("weight: 10,", "weight: 15,")
    changed = await _apply(db, BASE + moved)
    assert _readiness_changes(changed) == [("update", "readiness_checklist", "organisation")]


async def test_left_out_parts_keep_what_is_there_and_prune_removes_nothing(db: Database) -> None:
    await _apply(db, DEMO)
    report = await _apply(db, BASE, prune=True)
    assert _readiness_changes(report) == []
    assert await _count(db, SignOff) == 2
    assert await _count(db, TeamReadinessItems) == 1


async def test_thresholds_in_the_file_are_all_that_differ_from_the_default(db: Database) -> None:
    await _apply(db, BASE + "readiness:\n  thresholds: {window_days: 21, grace_days: 3}\n")
    report = await _apply(db, BASE + "readiness:\n  thresholds: {grace_days: 5}\n")
    [change] = [c for c in report.changes if c.kind == "readiness_thresholds"]
    assert (change.action, change.fields) == (Action.UPDATE, ("grace_days", "window_days"))
    async with db.transaction() as session:
        limits = await readiness.thresholds(session)
    assert (limits.window_days, limits.grace_days) == (14, 5)


async def test_a_team_can_drop_its_additions(db: Database) -> None:
    await _apply(db, DEMO)
    text = BASE + "readiness:\n  teams:\n    payments: []\n"
    report = await _apply(db, text)
    [change] = [c for c in report.changes if c.kind == "readiness_checklist"]
    assert (change.action, change.key, change.fields) == (
        Action.UPDATE,
        "team payments",
        ("no additions",),
    )
    assert await _count(db, TeamReadinessItems) == 0
    again = await _apply(db, text)
    assert _readiness_changes(again) == [("unchanged", "readiness_checklist", "team payments")]


async def test_a_changed_sign_off_is_an_update(db: Database) -> None:
    await _apply(db, DEMO)
    text = DEMO.replace(
        "on: 2026-01-14, comment: Rehearsed a rollback in staging.",
        "on: 2026-02-01, comment: Rehearsed again.",
    )
    report = await _apply(db, text)
    updates = [(c.key, c.fields) for c in report.changes if c.action is Action.UPDATE]
    assert updates == [("payments-api rollback", ("signed_on", "comment"))]


def _parse_error(text: str) -> str:
    with pytest.raises(ConfigFileError) as caught:
        parse_config(text, "readiness.yaml")
    return str(caught.value)


def test_weights_that_do_not_sum_to_100_are_refused_where_they_are() -> None:
    message = _parse_error(BASE + CHECKLIST.replace("weight: 30}", "weight: 20}"))
    assert "readiness.checklist: " in message
    assert "the weights sum to 90, not 100" in message


def test_a_weight_outside_0_to_100_is_refused_where_it_is() -> None:
    message = _parse_error(BASE + CHECKLIST.replace("weight: 30}", "weight: 130}"))
    assert "readiness.checklist.3.weight" in message
    team = BASE + "readiness:\n  teams:\n    payments:\n      - {key: x, title: X, weight: -5}\n"
    assert "readiness.teams.payments.0.weight" in _parse_error(team)


def test_other_mistakes_in_the_section_are_refused_where_they_are() -> None:
    unknown_check = CHECKLIST.replace("key: runbook,", "key: runbook, check: tea_kettle,")
    assert "no automatic check 'tea_kettle'" in _parse_error(BASE + unknown_check)
    assert "readiness.thresholds.window_days" in _parse_error(
        BASE + "readiness:\n  thresholds: {window_days: 0}\n"
    )
    assert "readiness.sign_offs.payments-api.monitoring.on" in _parse_error(
        BASE
        + "readiness:\n  sign_offs:\n    payments-api:\n      monitoring: {by: bob@example.com}\n"
    )
    assert "readiness.colour" in _parse_error(BASE + "readiness:\n  colour: blue\n")


async def _refused(db: Database, text: str) -> str:
    with pytest.raises(ConfigFileError) as caught:
        await _apply(db, text)
    return str(caught.value)


async def _nothing_written(db: Database) -> None:
    assert await _count(db, User) == 0, "the people of the refused file were rolled back"
    assert await _count(db, ReadinessSettings) == 0
    assert await _count(db, TeamReadinessItems) == 0
    assert await _count(db, SignOff) == 0


async def test_additions_that_unbalance_a_teams_checklist_fail_the_whole_apply(
    db: Database,
) -> None:
    text = DEMO.replace(
        "        weight: 10\n        params:", "        weight: 15\n        params:"
    )
    message = await _refused(db, text)
    assert "readiness.teams.payments: the weights sum to 105, not 100" in message
    await _nothing_written(db)


async def test_a_new_checklist_must_suit_the_additions_made_outside_the_file(
    db: Database,
) -> None:
    await _apply(db, DEMO)
    # payments' pager_load replaces nothing in this checklist: it adds 10 to its 100.
    message = await _refused(db, BASE + CHECKLIST)
    assert "team payments's additions, set outside the file" in message
    assert "sum to 110" in message


async def test_a_sign_off_by_someone_outside_both_teams_fails_the_whole_apply(
    db: Database,
) -> None:
    text = DEMO.replace("rollback: {by: alice@example.com", "rollback: {by: frank@example.com")
    message = await _refused(db, text)
    assert "readiness.sign_offs.payments-api.rollback: frank@example.com is in neither" in message
    await _nothing_written(db)


async def test_only_the_services_own_ops_team_can_sign_off(db: Database) -> None:
    # Another Ops team takes payments-api on: Alice (SRE) may no longer sign for it.
    text = DEMO.replace(
        "  - name: sre\n    kind: ops\n",
        "  - name: dba\n    kind: ops\n    members: [frank@example.com]\n\n"
        "  - name: sre\n    kind: ops\n",
    ).replace("    ops_team: sre ", "    ops_team: dba ")
    assert "ops_team: dba" in text
    message = await _refused(db, text)
    assert "payments-api.rollback: alice@example.com is in neither" in message
    allowed = text.replace("rollback: {by: alice@example.com", "rollback: {by: frank@example.com")
    await _apply(db, allowed)
    assert await _count(db, SignOff) == 2


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("    payments-api:\n      monitoring", "    payroll:\n      monitoring"),
            "readiness.sign_offs.payroll: service payroll is unknown",
        ),
        (
            ("by: bob@example.com", "by: zed@example.com"),
            "readiness.sign_offs.payments-api.monitoring: zed@example.com is not a user",
        ),
        (
            ("      rollback: {", "      rollbacks: {"),
            "readiness.sign_offs.payments-api.rollbacks: not a sign-off item",
        ),
        (
            ("      monitoring: {", "      runbook: {"),
            "readiness.sign_offs.payments-api.runbook: not a sign-off item",
        ),
        (
            ("  teams:\n    payments:", "  teams:\n    payroll:"),
            "readiness.teams.payroll: team payroll is unknown",
        ),
    ],
)
async def test_unknown_names_fail_the_whole_apply(
    db: Database, change: tuple[str, str], expected: str
) -> None:
    text = DEMO.replace(*change, 1)
    assert text != DEMO
    assert expected in await _refused(db, text)
    await _nothing_written(db)


async def test_services_and_teams_carry_support_review_and_digest_settings(db: Database) -> None:
    text = DEMO.replace(
        "    review_nudge_days: 3\n", "    review_nudge_days: 5\n    handback_on_silence: true\n"
    ).replace('    digest_time: "09:00"\n', "    digest_time: 17:30\n    digest_enabled: false\n")
    await _apply(db, text)
    service = await _service(db, "payments-api")
    async with db.transaction() as session:
        sre = await get_team_by_name(session, "sre")
        payments = await get_team_by_name(session, "payments")
    assert sre is not None and payments is not None
    assert (service.ops_team_id, service.handback_on_silence) == (sre.id, True)
    assert (service.review_after_minutes, service.review_nudge_days) == (30, 5)
    assert (payments.time_zone, payments.digest_weekday, payments.digest_time) == (
        "America/New_York",
        0,
        "17:30",
    )
    assert (payments.digest_enabled, payments.slack_channel) == (False, "C0PAYMENTS1")
    assert not (await _apply(db, text)).changed

    # Left out, the Ops team stays (a hand-over request names it too); null clears it.
    kept = await _apply(db, text.replace("    ops_team: sre ", "    # no ops team "))
    assert not kept.changed
    assert (await _service(db, "payments-api")).ops_team_id == sre.id
    await _apply(db, text.replace("    ops_team: sre ", "    ops_team: null "))
    assert (await _service(db, "payments-api")).ops_team_id is None


async def test_an_ops_team_must_be_an_ops_team(db: Database) -> None:
    text = DEMO.replace("    ops_team: sre ", "    ops_team: payments ")
    message = await _refused(db, text)
    assert "service payments-api: ops_team payments is a dev team, not an Ops team" in message
    unknown = await _refused(db, DEMO.replace("    ops_team: sre ", "    ops_team: nobody "))
    assert "service payments-api: ops_team nobody is unknown" in unknown


async def test_a_changed_support_model_restarts_the_developers_time(db: Database) -> None:
    await _apply(db, DEMO)
    assert (await _service(db, "edge-proxy")).support_since is None
    await _apply(db, DEMO.replace("    support_model: ops\n", "    support_model: dev\n"))
    moved = await _service(db, "edge-proxy")
    assert moved.support_model is SupportModel.DEV
    assert moved.support_since is not None


async def test_reapplying_the_file_does_not_undo_a_hand_over(db: Database) -> None:
    await _apply(db, DEMO)
    async with db.transaction() as session:
        admin = User(name="Admin", email="admin@example.com", time_zone="UTC", role=Role.ADMIN)
        session.add(admin)
        await session.flush()
        principal = Principal(user_id=admin.id, role=Role.ADMIN)
        service = await session.scalar(select(Service).where(Service.name == "payments-api"))
        sre = await session.scalar(select(Team).where(Team.name == "sre"))
        ops_policy = await get_policy_by_name(session, "sre-platform")
        assert service is not None and sre is not None and ops_policy is not None
        request = await readiness.request_handover(
            session, principal, service.id, ops_team_id=sre.id
        )
        await readiness.accept_handover(
            session,
            principal,
            request.id,
            escalation_policy_id=ops_policy.id,
            override_reason="demo",
        )
    report = await _apply(db, DEMO)
    [change] = [c for c in report.changes if c.kind == "service" and c.key == "payments-api"]
    assert change.action is Action.UNCHANGED
    assert "supported by Ops since a hand-over; support and policy kept" in change.fields
    service = await _service(db, "payments-api")
    assert service.support_model is SupportModel.OPS
    assert service.escalation_policy_id == ops_policy.id

    async with db.transaction() as session:
        await readiness.hand_back(session, principal, service.id, reason="too noisy")
    assert not (await _apply(db, DEMO)).changed
    back = await _service(db, "payments-api")
    assert back.support_model is SupportModel.DEV
