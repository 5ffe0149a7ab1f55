"""Self-tests of the recording webhook receiver."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import subprocess
import sys
from collections import Counter

import httpx
import pytest

from tests.fakes.plugin import webhook_receiver  # noqa: F401 - fixture
from tests.fakes.webhook import WebhookReceiver

SECRET = "test-only-webhook-secret"


def signed_headers(body: bytes, timestamp: str | None = None) -> dict[str, str]:
    message = body if timestamp is None else timestamp.encode() + b":" + body
    digest = hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Baton-Signature": f"sha256={digest}"}
    if timestamp is not None:
        headers["X-Baton-Timestamp"] = timestamp
    return headers


async def test_records_and_expects_events(webhook_receiver: WebhookReceiver) -> None:  # noqa: F811
    body = json.dumps({"event": "incident.triggered", "incident": {"id": "INC-1042"}}).encode()
    async with httpx.AsyncClient() as http:
        response = await http.post(
            webhook_receiver.url_for("/hooks/ops?x=1"), content=body, headers=signed_headers(body)
        )
    assert response.status_code == 200
    event = await webhook_receiver.expect_event(
        path="/hooks/ops", match={"incident": {"id": "INC-1042"}}
    )
    assert event.query == "x=1" and event.method == "POST"
    assert event.json["event"] == "incident.triggered"
    assert event.get("incident.id") == "INC-1042" and event.get("nope.x") is None
    assert webhook_receiver.verify_signature(event, SECRET)
    assert not webhook_receiver.verify_signature(event, "another-secret")
    assert not webhook_receiver.verify_signature(event, SECRET, header="X-Missing")


def test_timestamped_signature() -> None:
    with WebhookReceiver() as receiver:
        body = b'{"status":"firing"}'
        httpx.put(receiver.url_for("/g"), content=body, headers=signed_headers(body, "1773480500"))
        (event,) = receiver.events
        verify = receiver.verify_signature
        kwargs = {"timestamp_header": "X-Baton-Timestamp", "max_age": 300}
        assert verify(event, SECRET, **kwargs, now=1773480600)
        assert not verify(event, SECRET, **kwargs, now=1773481000)  # stale
        assert not verify(event, SECRET)  # the timestamp is part of the signed message
        assert event.method == "PUT"
        receiver.consume_all()


async def test_failures_and_holds(webhook_receiver: WebhookReceiver) -> None:  # noqa: F811
    webhook_receiver.fail(500, times=2)
    webhook_receiver.hold(5)
    # Well under the hold, well over a request's time on a loaded machine (0.2 s timed out once).
    async with httpx.AsyncClient(timeout=1.5) as http:
        statuses = [
            (await http.post(webhook_receiver.url_for(), json={"n": i})).status_code
            for i in range(2)
        ]
        with pytest.raises(httpx.ReadTimeout):
            await http.post(webhook_receiver.url_for(), json={"n": 2})
        assert (await http.post(webhook_receiver.url_for(), json={"n": 3})).status_code == 200
    assert statuses == [500, 500]
    assert [r.status for r in webhook_receiver.requests] == [500, 500, None, 200]
    assert [e.get("n") for e in webhook_receiver.events] == [3]
    await webhook_receiver.expect_event(match={"n": 3})


async def test_hold_then_accept_makes_a_duplicate_visible(
    webhook_receiver: WebhookReceiver,  # noqa: F811
) -> None:
    webhook_receiver.hold(0.3, status=200, path="/slow")
    async with httpx.AsyncClient(timeout=0.1) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(webhook_receiver.url_for("/slow"), json={"event_id": "ev-1"})
        await http.post(webhook_receiver.url_for("/slow"), json={"event_id": "ev-1"})  # retry
    await asyncio.sleep(0.4)
    assert webhook_receiver.count_by("event_id") == Counter({"ev-1": 2})
    assert len(webhook_receiver.consume_all("/slow")) == 2


def test_count_by_with_senders_in_other_processes() -> None:
    script = (
        "import json, sys, urllib.request\n"
        "url, replica, ids = sys.argv[1], sys.argv[2], sys.argv[3:]\n"
        "for event_id in ids:\n"
        "    req = urllib.request.Request(url, data=json.dumps({'event_id': event_id}).encode(),\n"
        "        headers={'Content-Type': 'application/json', 'X-Replica': replica})\n"
        "    urllib.request.urlopen(req, timeout=5).read()\n"
    )
    with WebhookReceiver() as receiver:
        procs = [
            subprocess.Popen([sys.executable, "-c", script, receiver.url_for("/e"), name, *ids])
            for name, ids in [("r1", ["a", "b"]), ("r2", ["c"]), ("r3", ["b"])]
        ]
        assert [p.wait(timeout=20) for p in procs] == [0, 0, 0]
        assert receiver.count_by("event_id") == Counter({"a": 1, "b": 2, "c": 1})
        assert receiver.count_by("header:X-Replica") == Counter({"r1": 2, "r2": 1, "r3": 1})
        duplicates = {k for k, n in receiver.count_by(lambda r: r.get("event_id")).items() if n > 1}
        assert duplicates == {"b"}
        with pytest.raises(AssertionError, match="unexpected"):
            receiver.assert_no_unexpected()
        receiver.consume_all()
        receiver.assert_no_unexpected()


async def test_expect_event_timeout_and_quiet(webhook_receiver: WebhookReceiver) -> None:  # noqa: F811
    webhook_receiver.assert_nothing_sent()
    async with httpx.AsyncClient() as http:
        await http.post(webhook_receiver.url_for("/a"), json={"event": "resolved"})
    with pytest.raises(AssertionError) as info:
        await webhook_receiver.expect_event("triggered", timeout=0.1)
    assert "resolved" in str(info.value)
    with pytest.raises(AssertionError, match="resolved"):
        webhook_receiver.assert_nothing_sent()
    await webhook_receiver.expect_event("resolved", path="/a")
