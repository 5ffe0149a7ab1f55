"""An alert storm to one person: a few texts and one summary, not fifty texts."""

from __future__ import annotations

from tests.fakes.twilio import FakeTwilio, sms_segments
from tests.notify.conftest import ALICE_PHONE, Oncall
from tests.paging import Engine, api


async def test_fifty_incidents_become_three_pages_and_one_summary_with_ack_all(
    oncall: Oncall, twilio: FakeTwilio, engine: Engine
) -> None:
    await api(
        oncall.client,
        oncall.admin,
        "PATCH",
        f"/api/v1/escalation-policies/{oncall.policy['id']}",
        json={
            "steps": [
                {"delay_minutes": 30, "targets": [{"kind": "user", "user_id": oncall.alice.id}]}
            ]
        },
    )
    await oncall.contact(oncall.alice, "sms", ALICE_PHONE)
    phone = twilio.phone(ALICE_PHONE)
    incidents = [await oncall.fire(f"node-{n} unreachable") for n in range(50)]
    await engine.tick()

    # The default limit is 4 SMS per 5 minutes: three pages go out, the fourth text sums up.
    for n in range(3):
        await phone.expect_sms(f"#{incidents[n]} payments-api: node-{n} unreachable")
    summary = await phone.expect_sms("47 more pages need you (payments-api x47)")
    assert summary.body.endswith("Reply 51a to ack all 47")
    assert sms_segments(summary.body) == ("GSM-7", 1)
    await engine.drain()
    phone.assert_nothing_sent()
    assert len(twilio.attempts(to=ALICE_PHONE)) == 4

    answer = await phone.reply("51a")
    assert answer.startswith("Acknowledged 47 of 47 incidents: #")
    states = [(await oncall.incident(i))["state"] for i in incidents]
    assert states[:3] == ["triggered"] * 3 and states[3:] == ["acknowledged"] * 47
    assert await phone.reply("51r") == (
        "Code 51 stands for 47 incidents: reply 51a to acknowledge them all."
    )
    bundled = [
        e for e in await oncall.timeline(incidents[10]) if e["kind"] == "notification_bundled"
    ]
    assert len(bundled) == 1 and "folded into one summary of 47 pages" in bundled[0]["message"]
