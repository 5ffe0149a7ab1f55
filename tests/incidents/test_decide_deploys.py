"""The deploy watch's rules, decided without a database: where the deploy stands in an opening,
who the deployer hears from, and judging the deploy."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Literal

import pytest

from app.incidents import decide
from app.incidents import events as ev
from app.incidents.decide import Audience, Facts, Refused
from app.incidents.lifecycle import IncidentState
from tests.incidents.test_decide import ALICE, NOW, SOURCE, TWO_STEPS, resolved

DINA = 4
DEPLOY = decide.NearbyDeploy(
    deployment_id=7,
    version="v1.4.2",
    deployed_at=NOW - timedelta(minutes=12, seconds=30),
    previous_version="v1.4.1",
    environment="production",
    deployer_user_id=DINA,
    deployer_name="Dina",
)
ON_CALL = {0: Audience(responders=(1,)), 1: Audience(responders=(2,))}


def opening(
    notice: Literal["off", "notify", "page"] = "notify",
    deploy: decide.NearbyDeploy = DEPLOY,
    **changes: object,
) -> decide.Open:
    command = decide.Open(
        actor=SOURCE,
        service_id=1,
        service_name="payments-api",
        title="5xx",
        deploy=decide.DeployWatch(deploy=deploy, deployer_notice=notice),
    )
    return replace(command, **changes)  # type: ignore[arg-type]


def new_incident() -> Facts:
    return Facts(state=IncidentState.TRIGGERED, urgency="high", policy=TWO_STEPS)


def told(events: list[ev.Event]) -> str:
    return next(e for e in events if isinstance(e, ev.DeployNearby)).deployer_told


def test_the_deploy_comes_right_after_the_opening_before_any_page() -> None:
    happened = decide.decide(new_incident(), opening(), ON_CALL, NOW)
    assert [type(e) for e in happened] == [ev.Opened, ev.DeployNearby, ev.Escalated]
    nearby = happened[1]
    assert isinstance(nearby, ev.DeployNearby)
    assert (nearby.version, nearby.previous_version, nearby.minutes_before) == (
        "v1.4.2",
        "v1.4.1",
        12,
    )
    assert nearby.deployer_told == "notify"
    after = decide.evolve_all(new_incident(), happened, NOW)
    assert after.deploy == DEPLOY


@pytest.mark.parametrize(
    ("notice", "changes", "deploy", "expected"),
    [
        ("off", {}, DEPLOY, "off"),
        ("notify", {}, replace(DEPLOY, deployer_user_id=None), "off"),  # nobody to tell
        ("page", {}, replace(DEPLOY, deployer_user_id=1), "responder"),  # on call already
        (
            "page",
            {"maintenance": decide.MaintenanceWindow(NOW + timedelta(hours=1))},
            DEPLOY,
            "held",
        ),
        ("notify", {"direct_to": DINA}, DEPLOY, "responder"),  # paged by name
    ],
)
def test_who_the_deployer_hears_from(
    notice: Literal["off", "notify", "page"],
    changes: dict[str, object],
    deploy: decide.NearbyDeploy,
    expected: str,
) -> None:
    happened = decide.decide(new_incident(), opening(notice, deploy, **changes), ON_CALL, NOW)
    assert told(happened) == expected
    assert [e for e in happened if isinstance(e, ev.Paged) and e.user_id == DINA] == (
        [] if "direct_to" not in changes else [happened[-1]]
    )


def test_page_adds_the_deployer_as_a_responder_after_the_first_step() -> None:
    happened = decide.decide(new_incident(), opening("page"), ON_CALL, NOW)
    assert [type(e) for e in happened] == [ev.Opened, ev.DeployNearby, ev.Escalated, ev.Paged]
    paged = happened[-1]
    assert isinstance(paged, ev.Paged)
    assert (paged.user_id, paged.reason) == (DINA, "deployed v1.4.2 12 min before")
    assert told(happened) == "page"


def test_an_opening_without_a_deploy_says_nothing_of_deploys() -> None:
    happened = decide.decide(new_incident(), replace(opening(), deploy=None), ON_CALL, NOW)
    assert not [e for e in happened if isinstance(e, ev.DeployNearby)]


def suspected() -> Facts:
    return replace(new_incident(), deploy=DEPLOY)


def test_judging_the_deploy_and_correcting_the_judgement() -> None:
    confirm = decide.JudgeDeploy(ALICE, deployment_id=7, caused=True, note="bad migration")
    happened = decide.decide(suspected(), confirm, {}, NOW)
    assert happened == [
        ev.DeployConfirmed(**ALICE.by(), deployment_id=7, version="v1.4.2", note="bad migration")
    ]
    confirmed = decide.evolve_all(suspected(), happened, NOW)
    assert confirmed.deploy is not None and confirmed.deploy.verdict == "confirmed"
    assert decide.decide(confirmed, confirm, {}, NOW) == []  # the same judgement is not news
    reject = decide.JudgeDeploy(ALICE, deployment_id=7, caused=False)
    corrected = decide.evolve_all(confirmed, decide.decide(confirmed, reject, {}, NOW), NOW)
    assert corrected.deploy is not None and corrected.deploy.verdict == "rejected"
    # Nothing else about the incident changes when a deploy is judged.
    assert replace(corrected, deploy=None) == replace(suspected(), deploy=None)


def test_a_resolved_incident_still_takes_a_judgement() -> None:
    facts = replace(resolved(), deploy=DEPLOY)
    happened = decide.decide(facts, decide.JudgeDeploy(ALICE, 7, caused=True), {}, NOW)
    assert [type(e) for e in happened] == [ev.DeployConfirmed]


@pytest.mark.parametrize(
    "facts", [new_incident(), replace(suspected(), deploy=replace(DEPLOY, deployment_id=8))]
)
def test_only_the_incidents_own_deploy_can_be_judged(facts: Facts) -> None:
    with pytest.raises(Refused, match="deploy 7 is not the deploy this incident followed"):
        decide.decide(facts, decide.JudgeDeploy(ALICE, 7, caused=True), {}, NOW)


def test_judging_needs_nobody_on_call() -> None:
    assert not decide.needs_on_call(decide.JudgeDeploy(ALICE, 7, caused=True))
