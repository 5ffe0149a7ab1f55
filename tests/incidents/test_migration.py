"""Migration 0010: timeline rows written before events were typed still read, through the API,
as typed events; their words come out as today's renderer says them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from app.core.auth import Role
from app.core.clock import ManualClock
from app.core.db import Database, JSONType, UTCDateTime, make_engine
from app.core.migrations import downgrade, upgrade
from app.core.settings import Environment, Settings
from app.main import Overrides, create_app
from tests import dbutil
from tests.factories import Factory

AT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
# Explicit ids do not move PostgreSQL's sequences: the admin made later must not collide.
ALICE, BOB = 101, 102
SMS, WEBHOOK = 1, 2  # contact methods and their notifications share ids


def _table(name: str, *columns: str, json: tuple[str, ...] = (), at: tuple[str, ...] = ()):
    return sa.table(
        name,
        *(sa.column(c) for c in columns),
        *(sa.column(c, JSONType) for c in json),
        *(sa.column(c, UTCDateTime()) for c in at),
    )


USERS = _table(
    "users",
    "id",
    "name",
    "email",
    "time_zone",
    "role",
    "config_managed",
    at=("created_at", "updated_at"),
)
TEAMS = _table(
    "teams", "id", "name", "kind", "description", "config_managed", at=("created_at", "updated_at")
)
SERVICES = _table(
    "services",
    "id",
    "name",
    "description",
    "team_id",
    "support_model",
    "runbook_url",
    "urgency_rule",
    "config_managed",
    "fallback_email",
    "fallback_slack_channel",
    json=("labels",),
    at=("created_at", "updated_at"),
)
INCIDENTS = _table(
    "incidents",
    "id",
    "service_id",
    "title",
    "state",
    "urgency",
    "escalation_step",
    "escalation_loop",
    "held_for_maintenance",
    "alert_count",
    "truncated_alerts",
    at=("created_at", "updated_at"),
)
ALERTS = _table(
    "alerts",
    "id",
    "service_id",
    "incident_id",
    "dedup_key",
    "status",
    "summary",
    "severity",
    "source",
    "seen_count",
    json=("details", "links"),
    at=("first_seen_at", "last_seen_at"),
)
METHODS = _table(
    "contact_methods",
    "id",
    "user_id",
    "type",
    "address",
    "label",
    "disabled_reason",
    "verification_attempts",
    "config_managed",
    at=("created_at", "updated_at", "verified_at"),
)
NOTIFICATIONS = _table(
    "notifications",
    "id",
    "incident_id",
    "user_id",
    "contact_method_id",
    "kind",
    "contact_type",
    "address",
    "subject",
    "body",
    "status",
    "attempts",
    json=("context",),
    at=("due_at", "created_at"),
)
EVENTS = _table(
    "incident_events",
    "incident_id",
    "kind",
    "actor_user_id",
    "channel",
    "message",
    json=("data",),
    at=("at",),
)

INSTANCES = ("10.0.0.1:9090", "10.0.0.2:9090", "10.0.0.3:9090")
SUMMARY = "HighLatency on checkout"
NOTE = "every alert resolved at the source"

# (kind, actor, channel, message as the code before 0010 wrote it, data, message rendered now)
OLD_ROWS: list[tuple[str, int | None, str, str, dict[str, Any], str | None]] = [
    (
        "opened",
        None,
        "integration",
        f"Incident opened (high urgency) on checkout: {SUMMARY}",
        {},
        None,
    ),
    (
        "opened",
        ALICE,
        "api",
        f"Incident opened (low urgency) on checkout: {SUMMARY} — since the deploy",
        {},
        None,
    ),
    (
        "alert_triggered",
        None,
        "integration",
        f"3 alerts triggered: {SUMMARY} [critical]; {SUMMARY} [critical]; {SUMMARY} [critical]",
        {"dedup_keys": ["a1", "a2", "a3"], "sources": list(INSTANCES)},
        "3 alerts triggered: "
        + "; ".join(f"{SUMMARY} [critical] (instance={i})" for i in INSTANCES),
    ),
    (
        "escalated",
        None,
        "system",
        "Step 1 of 2 (incident opened): paged Alice: sms now, webhook at +5m; shadow Bob: sms "
        "now; webhook https://hooks.example.com/secret/path",
        {
            "step": 0,
            "loop": 0,
            "responders": [ALICE],
            "shadows": [BOB],
            "next_escalation_at": "2026-03-02T10:05:00+00:00",
            "last_step": False,
        },
        "Step 1 of 2 (incident opened): paged Alice: sms now, webhook at +5m; shadow Bob: sms "
        "now; webhook https://hooks.example.com/…",
    ),
    (
        "notification_sent",
        None,
        "system",
        "Page by sms to +…0123 sent via twilio",
        {"notification_id": SMS, "provider": "twilio", "provider_message_id": "SM1"},
        "Page by sms to +…0123 (work) sent via twilio",
    ),
    (
        "notification_status",
        None,
        "system",
        "Page by sms to +…0123: Twilio reports queued (late; not going back)",
        {"notification_id": SMS, "provider_status": "queued"},
        "Page by sms to +…0123 (work): Twilio reports queued (late; not going back)",
    ),
    (
        "notification_retry",
        None,
        "system",
        "Page by webhook to https://hooks.example.com/… failed temporarily (HTTP 503); "
        "attempt 1 of 5, retrying in 5s",
        {"notification_id": WEBHOOK, "attempt": 1},
        "Page by webhook to https://hooks.example.com/… (contact method 2) failed temporarily "
        "(HTTP 503); attempt 1 of 5, retrying in 5s",
    ),
    (
        "notification_retry",
        None,
        "system",
        "Page by webhook to https://hooks.example.com/…: outcome unknown: the sender stopped "
        "before recording the result; sending it again (the receiver deduplicates)",
        {"notification_id": WEBHOOK, "attempt": 2},
        "Page by webhook to https://hooks.example.com/… (contact method 2): outcome unknown: "
        "the sender stopped before recording the result; sending it again (the receiver "
        "deduplicates)",
    ),
    (
        "notification_failed",
        None,
        "system",
        "Page by webhook to https://hooks.example.com/… failed: HTTP 410: gone",
        {"notification_id": WEBHOOK, "attempts": 3},
        "Page by webhook to https://hooks.example.com/… (contact method 2) failed: HTTP 410: gone",
    ),
    (
        "notification_blocked",
        None,
        "system",
        "Page by webhook to https://hooks.example.com/… blocked: blocked by network policy",
        {"notification_id": WEBHOOK, "attempts": 1},
        "Page by webhook to https://hooks.example.com/… (contact method 2) blocked: blocked by "
        "network policy",
    ),
    (
        "notification_bundled",
        None,
        "system",
        "Page by sms to +…0123: more than 4 messages in 5 min to this address, so it is folded "
        "into one summary of 47 pages",
        {"notification_id": SMS, "summary_id": 9},
        "Page by sms to +…0123 (work): more than 4 messages in 5 min to this address, so it is "
        "folded into one summary of 47 pages",
    ),
    (
        "notification_fallthrough",
        None,
        "system",
        "Page by sms to +…0123 moved up to now: the previous channel failed",
        {"notification_id": SMS},
        "Page by sms to +…0123 (work) moved up to now: the previous channel failed",
    ),
    (
        "escalation_brought_forward",
        None,
        "system",
        "Page by sms to +…0123 may not have arrived and the person has no later rule: "
        "escalating to the next step now",
        {"notification_id": SMS},
        "Page by sms to +…0123 (work) may not have arrived and the person has no later rule: "
        "escalating to the next step now",
    ),
    (
        "acknowledged",
        ALICE,
        "slack",
        "Acknowledged by Alice via slack; 1 pending notifications cancelled",
        {},
        "Acknowledged by Alice via slack; 1 pending notification cancelled",
    ),
    ("unacknowledged", ALICE, "api", "Unacknowledged by Alice via api: paging again", {}, None),
    (
        "ack_timeout",
        None,
        "system",
        "Acknowledged 1 minutes ago and still not resolved: triggered again",
        {},
        "Acknowledged 1 minute ago and still not resolved: triggered again",
    ),
    (
        "step_empty",
        None,
        "system",
        "Step 2 of 2 (pass 1 of 2) has nobody on call; moving on at once",
        {"step": 1, "loop": 0},
        None,
    ),
    (
        "escalation_exhausted",
        None,
        "system",
        "Nobody acknowledged within 1 minutes of the last step; the escalation policy is "
        "exhausted and the incident stays triggered",
        {},
        "Nobody acknowledged within 1 minute of the last step; the escalation policy is "
        "exhausted and the incident stays triggered",
    ),
    (
        "escalation_exhausted",
        None,
        "system",
        "Nobody could be paged: every step of the escalation policy is empty",
        {},
        None,
    ),
    ("escalate_requested", BOB, "cli", "Bob escalated to the next step via cli", {}, None),
    (
        "reassigned",
        ALICE,
        "slack",
        "Alice handed the incident from Alice to Bob via slack: db is yours",
        {"from": [ALICE], "to": BOB, "note": "db is yours"},
        None,
    ),
    (
        "paged",
        None,
        "system",
        "Paged Bob has no verified contact method and cannot be reached",
        {"user_id": BOB},
        None,
    ),
    ("note", BOB, "slack", "restarted the pods", {}, None),
    ("urgency_changed", BOB, "api", "Bob set urgency to low via api", {}, None),
    (
        "maintenance_hold",
        None,
        "system",
        "checkout is in maintenance until 2026-03-02T12:00:00+00:00 (db upgrade): nobody is "
        "paged until it ends",
        {},
        None,
    ),
    (
        "maintenance_ended",
        None,
        "system",
        "Maintenance ended: escalation starts from the first step",
        {},
        None,
    ),
    (
        "no_escalation_policy",
        None,
        "system",
        "checkout has no escalation policy: nobody is paged",
        {},
        None,
    ),
    (
        "alerts_truncated",
        None,
        "integration",
        "The source left 12 alerts out of its message (max_alerts): this incident does not "
        "show every alert of the group",
        {},
        None,
    ),
    *[
        (
            "alert_resolved",
            None,
            "integration",
            f"Alert resolved at the source: {SUMMARY}",
            {"alert_id": n, "dedup_key": f"a{n}", "ended_at": "2026-03-02T10:01:00+00:00"},
            f"Alert resolved at the source: {SUMMARY} [critical] (instance={INSTANCES[n - 1]})",
        )
        for n in (1, 2, 3)
    ],
    (
        "resolved",
        ALICE,
        "api",
        "Resolved by Alice via api (2 alerts still firing at the source were closed): rolled back",
        {"note": "rolled back"},
        None,
    ),
    ("resolved", None, "integration", f"Resolved automatically: {NOTE}", {"note": NOTE}, None),
    (
        "engine_error",
        None,
        "system",
        "The engine failed to re-trigger this incident; retrying in 30s",
        {},
        None,
    ),
]
# Words that are not their kind's sentence: the row stays as it was.
UNREADABLE = ("acknowledged", ALICE, "slack", "Acknowledged (by hand, from the database)", {})


@pytest.fixture
async def empty_database_url(tmp_path: Path) -> AsyncIterator[str]:
    base = dbutil.postgres_base_url()
    if base:
        url = dbutil.create_postgres_database(base, f"ev_{tmp_path.name[-12:]}".lower())
        yield url
        dbutil.drop_postgres_database(url)
    else:
        yield dbutil.sqlite_url(tmp_path / "events.db")


async def _world_before_0010(engine: sa.ext.asyncio.AsyncEngine) -> int:
    stamps = {"created_at": AT, "updated_at": AT}
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(USERS),
            [
                {"id": i, "name": name, "email": f"{name.lower()}@example.com", "time_zone": "UTC",
                 "role": "member", "config_managed": False, **stamps}
                for i, name in ((ALICE, "Alice"), (BOB, "Bob"))
            ],
        )  # fmt: skip
        await conn.execute(
            sa.insert(TEAMS).values(
                id=1, name="sre", kind="ops", description="", config_managed=False, **stamps
            )
        )
        await conn.execute(
            sa.insert(SERVICES).values(
                id=1, name="checkout", description="", team_id=1, support_model="ops",
                runbook_url="", urgency_rule="high", config_managed=False, fallback_email="",
                fallback_slack_channel="", labels={}, **stamps,
            )
        )  # fmt: skip
        await conn.execute(
            sa.insert(INCIDENTS).values(
                id=1, service_id=1, title=SUMMARY, state="resolved", urgency="high",
                escalation_step=0, escalation_loop=0, held_for_maintenance=False, alert_count=3,
                truncated_alerts=12, **stamps,
            )
        )  # fmt: skip
        await conn.execute(
            sa.insert(ALERTS),
            [
                {"id": n, "service_id": 1, "incident_id": 1, "dedup_key": f"a{n}",
                 "status": "resolved", "summary": SUMMARY, "severity": "critical",
                 "source": instance, "seen_count": 1, "links": [],
                 "details": {"labels": {"alertname": "HighLatency", "instance": instance}},
                 "first_seen_at": AT, "last_seen_at": AT}
                for n, instance in enumerate(INSTANCES, start=1)
            ],
        )  # fmt: skip
        await conn.execute(
            sa.insert(METHODS),
            [
                {"id": SMS, "user_id": ALICE, "type": "sms", "address": "+447700900123",
                 "label": "work", "disabled_reason": "", "verification_attempts": 0,
                 "config_managed": False, "verified_at": AT, **stamps},
                {"id": WEBHOOK, "user_id": ALICE, "type": "webhook",
                 "address": "https://hooks.example.com/alice", "label": "",
                 "disabled_reason": "", "verification_attempts": 0, "config_managed": False,
                 "verified_at": AT, **stamps},
            ],
        )  # fmt: skip
        await conn.execute(
            sa.insert(NOTIFICATIONS),
            [
                {"id": method, "incident_id": 1, "user_id": ALICE, "contact_method_id": method,
                 "kind": "page", "contact_type": kind, "address": address, "subject": "s",
                 "body": "b", "status": "sent", "attempts": 1, "context": {}, "due_at": AT,
                 "created_at": AT}
                for method, kind, address in (
                    (SMS, "sms", "+447700900123"),
                    (WEBHOOK, "webhook", "https://hooks.example.com/alice"),
                )
            ],
        )  # fmt: skip
        await conn.execute(
            sa.insert(EVENTS),
            [
                {"incident_id": 1, "kind": kind, "actor_user_id": actor, "channel": channel,
                 "message": message, "data": data, "at": AT}
                for kind, actor, channel, message, data, *_ in [*OLD_ROWS, UNREADABLE]
            ],
        )  # fmt: skip
    return 1


async def _timeline_through_the_api(url: str) -> list[dict[str, Any]]:
    clock = ManualClock(AT)
    db = Database(make_engine(url), clock)
    settings = Settings(env=Environment.TEST, database_url=url, engine_enabled=False)
    app = create_app(settings, clock=clock, overrides=Overrides(database=db))
    try:
        async with app.router.lifespan_context(app):
            admin = await Factory(db).actor(Role.ADMIN, email="admin@example.com")
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                answer = await client.get("/api/v1/incidents/1/timeline", headers=admin.headers)
                assert answer.status_code == 200, answer.text
                detail = await client.get("/api/v1/incidents/1", headers=admin.headers)
                assert detail.json()["timeline"] == answer.json()
                return answer.json()
    finally:
        await db.dispose()


async def test_old_rows_read_as_typed_events_after_the_upgrade(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        await upgrade(engine, "0009")
        await _world_before_0010(engine)
        await upgrade(engine)
    finally:
        await engine.dispose()
    entries = await _timeline_through_the_api(empty_database_url)

    *typed, untyped = entries
    assert [e["kind"] for e in entries] == [r[0] for r in OLD_ROWS] + [UNREADABLE[0]]
    for entry, (kind, _, _, old_message, _, now_said) in zip(typed, OLD_ROWS, strict=True):
        assert entry["event"] is not None, f"{kind}: {old_message!r} was not typed"
        assert entry["event"]["kind"] == kind and entry["data"]["v"] == 1
        assert entry["message"] == (now_said or old_message)
    assert untyped["event"] is None
    assert untyped["message"] == UNREADABLE[3] and untyped["data"] == {}

    by_kind = {e["kind"]: e["event"] for e in typed}
    assert by_kind["escalated"]["paged"][1] == {
        "user_id": BOB,
        "name": "Bob",
        "shadow": True,
        "contacts": [{"contact_type": "sms", "delay_minutes": 0}],
    }
    assert by_kind["reassigned"]["from"] == [ALICE] and by_kind["reassigned"]["to_name"] == "Bob"
    assert by_kind["notification_sent"]["notification"] == {
        "id": SMS,
        "message_kind": "page",
        "contact_type": "sms",
        "contact_method_id": SMS,
        "address": "+…0123",
        "method_label": "work",
    }
    assert by_kind["opened"]["service_id"] == 1
    assert by_kind["acknowledged"]["by_name"] == "Alice"
    assert by_kind["resolved"]["automatic"] is True and by_kind["resolved"]["note"] == NOTE


async def test_a_downgrade_gives_every_row_words_again(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        await upgrade(engine, "0009")
        await _world_before_0010(engine)
        await upgrade(engine)
        async with engine.begin() as conn:
            await conn.execute(
                sa.insert(EVENTS).values(
                    incident_id=1, kind="note", actor_user_id=BOB, channel="api", message=None,
                    data={"v": 1, "text": "new", "by_user_id": BOB, "by_name": "Bob",
                          "channel": "api"}, at=AT,
                )
            )  # fmt: skip
        await downgrade(engine, "0009")
        async with engine.connect() as conn:
            messages = (
                (await conn.execute(sa.text("SELECT message FROM incident_events ORDER BY id")))
                .scalars()
                .all()
            )
    finally:
        await engine.dispose()
    assert messages == [r[3] for r in OLD_ROWS] + [UNREADABLE[3], "note"]
