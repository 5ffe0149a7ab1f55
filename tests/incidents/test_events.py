"""Typed events: every kind has a class, every class survives the timeline table unchanged."""

from __future__ import annotations

import dataclasses
from typing import get_args

import pytest

from app.catalog.models import Service
from app.core.db import Database
from app.incidents import events as ev
from app.incidents import timeline
from app.incidents.models import Incident, IncidentEvent
from app.notify.base import MessageKind
from app.people.models import ContactType, Urgency
from tests.factories import Factory
from tests.incidents.examples import ALICE, AT, EXAMPLES


def test_every_kind_has_exactly_one_class_and_an_example() -> None:
    registry = ev.registered()
    assert set(registry) == set(ev.EventKind)
    assert all(cls.kind is kind for kind, cls in registry.items())
    assert set(EXAMPLES) == set(ev.EventKind)
    assert all(type(EXAMPLES[kind]) is cls for kind, cls in registry.items())


def test_a_second_class_for_a_kind_is_refused_at_definition() -> None:
    before = ev.registered()
    with pytest.raises(TypeError, match="already NoteAdded"):

        @dataclasses.dataclass(frozen=True, kw_only=True)
        class AnotherNote(ev.Event):
            kind = ev.EventKind.NOTE

    assert ev.registered() == before


def test_value_names_match_the_enums_they_stand_for() -> None:
    """events.py imports no models: its literals must follow the enums kept beside them."""
    assert set(get_args(ev.ContactTypeName)) == {c.value for c in ContactType}
    assert set(get_args(ev.UrgencyName)) == {u.value for u in Urgency}
    assert set(get_args(ev.MessageKindName)) == {m.value for m in MessageKind}


@pytest.mark.parametrize("kind", list(ev.EventKind))
def test_payload_round_trip(kind: ev.EventKind) -> None:
    event = EXAMPLES[kind]
    payload = ev.to_payload(event)
    assert payload["v"] == 1
    assert ev.from_payload(kind.value, payload) == event


def test_a_keyword_field_is_stored_under_the_keyword() -> None:
    payload = ev.to_payload(EXAMPLES[ev.EventKind.REASSIGNED])
    assert payload["from"] == [1, 3] and payload["to"] == 2
    assert "from_" not in payload


@pytest.mark.parametrize(
    ("kind", "payload", "problem"),
    [
        ("no_such_kind", {"v": 1}, "unknown event kind"),
        ("note", {"text": "x", **ALICE}, "no version"),
        ("note", {"v": 2, "text": "x"}, "no payload version 2"),
        ("note", {"v": 1, "by_user_id": 1, "by_name": "A", "channel": "slack"}, "text is missing"),
        (
            "note",
            {"v": 1, "text": 3, "by_user_id": 1, "by_name": "A", "channel": "slack"},
            "string",
        ),
        ("note", {"v": 1, "text": "x", "by_user_id": 1, "by_name": "A", "channel": "fax"}, "fax"),
        ("ack_timeout", {"v": 1, "minutes": True}, "integer"),
        ("alert_resolved", {"v": 1, "alert": [], "ended_at": AT.isoformat()}, "object"),
        ("maintenance_hold", {"v": 1, "service_name": "s", "until": "soon"}, "instant"),
        ("opened", [], "not an object"),
    ],
)
def test_payloads_that_are_not_their_kind_are_refused(
    kind: str, payload: object, problem: str
) -> None:
    with pytest.raises(ev.EventDecodeError, match=problem):
        ev.from_payload(kind, payload)


def test_fields_a_later_version_adds_are_ignored_by_this_one() -> None:
    payload = {**ev.to_payload(EXAMPLES[ev.EventKind.MAINTENANCE_ENDED]), "by_window": 4}
    assert ev.from_payload("maintenance_ended", payload) == ev.MaintenanceEnded()


async def test_every_kind_round_trips_through_the_timeline_table(
    db: Database, factory: Factory
) -> None:
    alice = await factory.user(name="Alice")
    written = [
        dataclasses.replace(e, by_user_id=alice.id) if isinstance(e, ev.ActedEvent) else e
        for e in EXAMPLES.values()
    ]
    team = await factory.team(name="sre")
    async with db.transaction() as session:
        service = Service(name="checkout", team_id=team.id)
        session.add(service)
        await session.flush()
        incident = Incident(
            service_id=service.id, title="t", created_at=AT, updated_at=AT, urgency=Urgency.HIGH
        )
        session.add(incident)
        await session.flush()
        incident_id = incident.id
        for event in written:
            timeline.append(session, incident_id, event, at=AT)
    async with db.transaction() as session:
        rows = await timeline.events_for(session, incident_id)
    assert [timeline.typed(r) for r in rows] == written
    assert all(r.message is None for r in rows)  # words are rendered, not stored
    by_kind = {r.kind: r for r in rows}
    # Who acted and how: from the event when it says so, else Baton itself.
    assert (by_kind["note"].actor_user_id, by_kind["note"].channel) == (alice.id, "slack")
    assert (by_kind["escalated"].actor_user_id, by_kind["escalated"].channel) == (None, "system")


def test_a_row_that_is_not_typed_shows_its_stored_words() -> None:
    row = IncidentEvent(kind="acknowledged", message="Acknowledged by Ann via api", data={})
    assert timeline.typed(row) is None
    assert timeline.message_of(row, None) == "Acknowledged by Ann via api"
