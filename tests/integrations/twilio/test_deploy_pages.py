"""SMS and voice pages of an incident that opened after a deploy say so (issue 14)."""

from __future__ import annotations

from typing import Any

import pytest

from app.core.clock import ManualClock
from app.core.db import Database
from app.integrations.twilio import sms_text
from app.integrations.twilio.voice import spoken_deploy
from tests.fakes.twilio import FakeTwilio, sms_segments
from tests.notify.conftest import ALICE_PHONE, BOB_PHONE, Oncall
from tests.notify.nearby_deploy import DEPLOY_WORDS, deploy_before_incident, judge
from tests.paging import Engine

DEPLOY = {
    "deployment_id": 7,
    "version": "v1.4.2",
    "previous_version": "v1.4.1",
    "environment": "production",
    "deployer": "dina",
    "minutes_ago": 12,
    "verdict": "suspected",
}
COMPACT = "after v1.4.2 by dina 12m ago (prev v1.4.1)"


def _page(title: str, deploy: dict[str, Any] | None = DEPLOY, **extra: Any) -> dict[str, Any]:
    context = {"incident_id": 987654, "service": "payments-api", "title": title, **extra}
    return context | ({"deploy": deploy} if deploy else {})


@pytest.mark.parametrize("title", ["", "disk full", "p99 latency above 2s " * 20])
def test_the_full_deploy_words_fit_one_segment_with_a_short_code(title: str) -> None:
    text = sms_text.page_sms(_page(title), 4)
    assert f" - {DEPLOY_WORDS} {sms_text.codes_hint(4)}" in text and text.endswith("escalate")
    assert sms_text.segments(text) == 1 and text.startswith("Baton #987654 payments-api: ")
    if len(title) > 30:
        assert "p99 latency above" in text and "..." in text  # the title gave way, not the deploy


@pytest.mark.parametrize("code", [1234, 99])
def test_with_many_alerts_and_long_codes_the_compact_words_keep_one_segment(code: int) -> None:
    text = sms_text.page_sms(_page("checkout error rate above 5% " * 10, alert_count=12), code)
    assert f" - {COMPACT} (12 alerts) {sms_text.codes_hint(code)}" in text
    assert sms_text.segments(text) == 1 and "checkout error r" in text


def test_a_confirmed_cause_says_caused_by() -> None:
    confirmed = DEPLOY | {"verdict": "confirmed"}
    assert "caused by deploy v1.4.2 by dina" in sms_text.page_sms(_page("t" * 20, confirmed), 4)
    long_title = sms_text.page_sms(_page("t" * 200, confirmed, alert_count=3), 1234)
    assert "caused by v1.4.2 by dina 12m ago (prev v1.4.1)" in long_title


def test_a_deploy_too_long_for_one_segment_takes_two_and_keeps_the_codes() -> None:
    deploy = DEPLOY | {"version": "release-2026.03.02-" + "a" * 40, "deployer": "Łukasz " * 8}
    text = sms_text.page_sms(_page("queue backlog " * 30, deploy, service="s" * 100), 42)
    assert sms_text.is_gsm7(text) and sms_text.segments(text) == 2
    assert "release-2026.03.02-aaaa" in text and "?ukasz" in text  # transliterated, still there
    assert text.endswith(sms_text.codes_hint(42)) and "queue bac..." in text

    absurd = DEPLOY | {"version": "v" * 200, "deployer": "d" * 200}
    text = sms_text.page_sms(_page("x", absurd), 42)
    assert sms_text.segments(text) == 2 and text.endswith(sms_text.codes_hint(42))
    assert " - after vvvv" in text


def test_no_deploy_no_words() -> None:
    text = sms_text.page_sms(_page("disk full", None), 4)
    assert text == f"Baton #987654 payments-api: disk full {sms_text.codes_hint(4)}"
    assert spoken_deploy(None) == "" and spoken_deploy({}) == ""


def test_the_call_says_the_deploy_as_a_sentence() -> None:
    assert spoken_deploy(DEPLOY) == (
        " This follows deploy version 1.4.2 by dina, 12 minutes ago."
        " The previous version was 1.4.1."
    )
    said = spoken_deploy(DEPLOY | {"verdict": "confirmed", "minutes_ago": 1, "deployer": ""})
    assert said == (
        " A responder confirmed the cause: deploy version 1.4.2, 1 minute ago."
        " The previous version was 1.4.1."
    )
    sha = spoken_deploy(DEPLOY | {"version": "3f9c2ab", "previous_version": "", "minutes_ago": 0})
    assert sha == " This follows deploy 3f9c2ab by dina, less than a minute ago."


async def test_sms_pages_name_the_deploy_until_it_is_judged_not_related(
    oncall: Oncall, twilio: FakeTwilio, engine: Engine, db: Database, clock: ManualClock
) -> None:
    await oncall.contact(oncall.alice, "sms", ALICE_PHONE)
    await oncall.contact(oncall.bob, "sms", BOB_PHONE)
    deployment = await deploy_before_incident(db, clock, oncall.service["id"])
    title = "\u201cCheckout\u201d latency \u2013 p99 above 2s for every EU region " * 5
    incident = await oncall.fire(title)
    await engine.tick()

    sms = await twilio.phone(ALICE_PHONE).expect_sms(f"#{incident} payments-api")
    assert f" - {DEPLOY_WORDS} Reply 1a to ack, 1r to resolve, 1e to escalate" in sms.body
    assert sms_segments(sms.body) == ("GSM-7", 1) and '"Checkout" latency' in sms.body

    # Alice says the deploy is not related; Bob's page 5 minutes later does not mention it.
    await judge(db, oncall.alice.id, incident, deployment, caused=False)
    await engine.advance(minutes=5)
    bob = await twilio.phone(BOB_PHONE).expect_sms(f"#{incident} payments-api")
    assert "deploy" not in bob.body and "v1.4.2" not in bob.body
    assert bob.body.endswith("Reply 1a to ack, 1r to resolve, 1e to escalate")


async def test_the_page_call_says_the_deploy(
    oncall: Oncall, twilio: FakeTwilio, engine: Engine, db: Database, clock: ManualClock
) -> None:
    await oncall.contact(oncall.alice, "voice", ALICE_PHONE)
    await deploy_before_incident(db, clock, oncall.service["id"])
    incident = await oncall.fire("checkout error rate above 5%")
    await engine.tick()
    call = await twilio.phone(ALICE_PHONE).expect_call(f"Incident {incident} on payments-api")
    assert (
        "checkout error rate above 5%. This follows deploy version 1.4.2 by dina, 12 minutes ago."
        " The previous version was 1.4.1. Press 4 to acknowledge"
    ) in call.spoken
