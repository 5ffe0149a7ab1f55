"""incident timeline rows hold typed events; their words are rendered when read

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 09:00:00

Every row's ``data`` becomes the version-1 payload of its kind (app/incidents/events.py), built
from what the row holds: its old ``data`` dict and, for what only the words said (names, counts,
reasons, who was paged how), its ``message``; the incident, service, alert, notification and
contact method rows fill in ids and labels. A row whose words do not read as its kind's sentence
keeps its old ``data`` and is shown by its stored message (the API's ``event`` is null).

``message`` becomes nullable: rows written from now on leave it NULL. Old rows keep their words,
so a downgrade gets them back; a downgrade writes the kind as the message of newer rows.

The conversion is frozen here, not imported: later changes to the events must not change what
this revision did.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
BATCH = 500

_EVENTS = sa.table(
    'incident_events',
    sa.column('id', sa.BigInteger()),
    sa.column('incident_id', sa.BigInteger()),
    sa.column('kind', sa.String()),
    sa.column('actor_user_id', sa.BigInteger()),
    sa.column('channel', sa.String()),
    sa.column('message', sa.String()),
    sa.column('data', _JSON),
)
_ALERTS = sa.table(
    'alerts',
    sa.column('id', sa.BigInteger()),
    sa.column('incident_id', sa.BigInteger()),
    sa.column('dedup_key', sa.String()),
    sa.column('severity', sa.String()),
    sa.column('details', _JSON),
)

CHANNELS = {'api', 'web', 'cli', 'slack', 'sms', 'voice', 'email', 'integration', 'system'}
CONTACT_TYPES = {'sms', 'voice', 'email', 'slack', 'webhook'}
MESSAGE_KINDS = {'page', 'verification', 'test', 'reminder', 'status_update', 'summary', 'info'}
IDENTITY_LABELS = ('instance', 'pod', 'host', 'hostname', 'node', 'container', 'device', 'job')


class Unreadable(Exception):
    """The row's words are not its kind's sentence: it stays as it was."""


def upgrade() -> None:
    with op.batch_alter_table('incident_events', schema=None) as batch_op:
        batch_op.alter_column('message', existing_type=sa.String(length=2000), nullable=True)
    connection = op.get_bind()
    look = _Lookups(connection)
    after = 0
    while True:
        rows = connection.execute(
            sa.select(_EVENTS).where(_EVENTS.c.id > after).order_by(_EVENTS.c.id).limit(BATCH)
        ).all()
        if not rows:
            break
        after = rows[-1].id
        typed = []
        for row in rows:
            payload = _convert(row, look)
            if payload is not None:
                typed.append({'row_id': row.id, 'payload': {'v': 1, **payload}})
        if typed:
            connection.execute(
                sa.update(_EVENTS)
                .where(_EVENTS.c.id == sa.bindparam('row_id'))
                .values(data=sa.bindparam('payload', type_=_JSON)),
                typed,
            )


def downgrade() -> None:
    op.execute("UPDATE incident_events SET message = kind WHERE message IS NULL")
    with op.batch_alter_table('incident_events', schema=None) as batch_op:
        batch_op.alter_column('message', existing_type=sa.String(length=2000), nullable=False)


# --------------------------------------------------------------------------------- lookups


class _Lookups:
    """The rows around an event, read once each."""

    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection
        self._users: dict[int, str | None] = {}
        self._incidents: dict[int, Any] = {}
        self._alerts: dict[int, list[Any]] = {}
        self._notifications: dict[int, Any] = {}

    def user_name(self, user_id: int | None) -> str | None:
        if user_id is None:
            return 'Baton'
        if user_id not in self._users:
            self._users[user_id] = self.connection.execute(
                sa.text('SELECT name FROM users WHERE id = :id'), {'id': user_id}
            ).scalar()
        return self._users[user_id]

    def incident(self, incident_id: int) -> Any:
        if incident_id not in self._incidents:
            self._incidents[incident_id] = self.connection.execute(
                sa.text(
                    'SELECT i.service_id, i.title, s.name AS service_name FROM incidents i '
                    'LEFT JOIN services s ON s.id = i.service_id WHERE i.id = :id'
                ),
                {'id': incident_id},
            ).first()
        return self._incidents[incident_id]

    def alerts(self, incident_id: int) -> list[Any]:
        if len(self._alerts) > 100:
            self._alerts.clear()  # a storm's incidents hold many alerts each
        if incident_id not in self._alerts:
            self._alerts[incident_id] = list(
                self.connection.execute(
                    sa.select(_ALERTS).where(_ALERTS.c.incident_id == incident_id)
                ).all()
            )
        return self._alerts[incident_id]

    def notification(self, notification_id: Any) -> Any:
        if not isinstance(notification_id, int):
            return None
        if notification_id not in self._notifications:
            self._notifications[notification_id] = self.connection.execute(
                sa.text(
                    'SELECT n.kind, n.contact_type, n.contact_method_id, m.label '
                    'FROM notifications n LEFT JOIN contact_methods m '
                    'ON m.id = n.contact_method_id WHERE n.id = :id'
                ),
                {'id': notification_id},
            ).first()
        return self._notifications[notification_id]


# ------------------------------------------------------------------------------ conversion


def _convert(row: Any, look: _Lookups) -> dict[str, Any] | None:
    convert = _CONVERTERS.get(row.kind)
    data = row.data if isinstance(row.data, dict) else {}
    if convert is None or row.message is None or 'v' in data:
        return None
    try:
        return convert(row, data, look)
    except (Unreadable, KeyError, TypeError, ValueError):
        return None


def _match(pattern: str, text: str) -> re.Match[str]:
    found = re.match(pattern, text, re.DOTALL)
    if found is None:
        raise Unreadable(pattern)
    return found


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise Unreadable('not an integer')
    return value


def _ids(value: Any) -> list[int]:
    if not isinstance(value, list):
        raise Unreadable('not a list')
    return [_int(v) for v in value]


def _channel(row: Any) -> str:
    if row.channel not in CHANNELS:
        raise Unreadable('channel')
    return row.channel


def _by(row: Any, look: _Lookups, said: str | None = None) -> dict[str, Any]:
    """Who acted: the name as the words said it, else as the person is called now."""
    name = said if said is not None else look.user_name(row.actor_user_id)
    if name is None:
        name = f'user {row.actor_user_id}'
    return {'by_user_id': row.actor_user_id, 'by_name': name, 'channel': _channel(row)}


def _without_note(message: str, note: str) -> str:
    suffix = f': {note}'
    return message[: -len(suffix)] if note and message.endswith(suffix) else message


def _instant(value: Any) -> str:
    if not isinstance(value, str):
        raise Unreadable('not an instant')
    return datetime.fromisoformat(value).isoformat()


def _mask_webhook(address: str) -> str:
    parts = urlsplit(address)
    host, port = parts.hostname, parts.port
    if not parts.scheme or not host:
        return '…'
    shown = f'[{host}]' if ':' in host else host
    return f"{parts.scheme}://{shown}{f':{port}' if port else ''}/…"


def _labels_of(details: Any) -> dict[str, str]:
    labels = details.get('labels') if isinstance(details, dict) else None
    if not isinstance(labels, dict):
        return {}
    return {str(k): v for k, v in labels.items() if isinstance(v, str)}


def _identity_label(details: Any) -> dict[str, str]:
    labels = _labels_of(details)
    for name in IDENTITY_LABELS:
        if name in labels:
            return {name: labels[name][:200]}
    return {}


_LABEL = r'Step (\d+) of (\d+)(?: \(pass (\d+) of (\d+)\))?'


def _where(found: re.Match[str], data: dict[str, Any]) -> dict[str, Any]:
    step, steps, loop, passes = found.group(1, 2, 3, 4)
    where = {
        'step': _int(data['step']) if 'step' in data else int(step) - 1,
        'loop': _int(data['loop']) if 'loop' in data else int(loop or 1) - 1,
        'steps': int(steps),
        'passes': int(passes or 1),
    }
    return where


def _remarks(text: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """"Alice: sms now, email at +5m; shadow Bob: slack now; slack #ops" as people and posts."""
    people: list[dict[str, Any]] = []
    posts: list[dict[str, Any]] = []
    for remark in text.split('; '):
        post = re.match(r'^(slack|webhook) (\S+)$', remark)
        if post:
            kind, address = post.group(1, 2)
            shown = _mask_webhook(address) if kind == 'webhook' else address
            posts.append({'contact_type': kind, 'address': shown})
            continue
        if posts:
            raise Unreadable('a person after the channels')
        unreachable = re.match(
            r'^(.*) has no verified contact method and cannot be reached$', remark
        )
        if unreachable:
            people.append({'name': unreachable.group(1), 'shadow': False, 'contacts': []})
            continue
        found = _match(r'^(shadow )?(.*): (.+)$', remark)
        contacts = []
        for part in found.group(3).split(', '):
            planned = _match(r'^(sms|voice|email|slack|webhook) (?:now|at \+(\d+)m)$', part)
            contacts.append(
                {'contact_type': planned.group(1), 'delay_minutes': int(planned.group(2) or 0)}
            )
        people.append(
            {'name': found.group(2), 'shadow': bool(found.group(1)), 'contacts': contacts}
        )
    return people, posts


def _with_ids(people: list[dict[str, Any]], ids: list[int]) -> list[dict[str, Any]]:
    if len(people) != len(ids):
        raise Unreadable('people and ids differ')
    return [{'user_id': user_id, **person} for user_id, person in zip(ids, people, strict=True)]


def _opened(row: Any, data: dict[str, Any], look: _Lookups) -> dict[str, Any]:
    found = _match(r'^Incident opened \((high|low) urgency\) on (.*)$', row.message)
    rest = found.group(2)
    incident = look.incident(row.incident_id)
    if incident is None:
        raise Unreadable('no incident')
    name = incident.service_name or ''
    if not rest.startswith(f'{name}: '):
        raise Unreadable('service')
    said = rest[len(name) + 2 :]
    title, details = said, ''
    if said.startswith(incident.title):
        title, tail = incident.title, said[len(incident.title) :]
        if tail and not tail.startswith(' — '):
            raise Unreadable('title')
        details = tail[3:]
    return {
        **_by(row, look),
        'service_id': incident.service_id,
        'service_name': name,
        'title': title,
        'urgency': found.group(1),
        'details': details,
    }


def _alert_refs(row: Any, look: _Lookups) -> dict[str, Any]:
    return {a.dedup_key: a for a in look.alerts(row.incident_id)}


def _summary_and_severity(said: str) -> tuple[str, str]:
    found = re.match(r'^(.*) \[(critical|error|warning|info)\]$', said, re.DOTALL)
    return (found.group(1), found.group(2)) if found else (said, '')


def _alert_triggered(row: Any, data: dict[str, Any], look: _Lookups) -> dict[str, Any]:
    keys = [k for k in data.get('dedup_keys', []) if isinstance(k, str)]
    sources = [s for s in data.get('sources', []) if isinstance(s, str)]
    one = re.match(r'^Alert triggered: (.*)$', row.message, re.DOTALL)
    if one:
        count, shown = 1, [one.group(1)]
    else:
        many = _match(r'^(\d+) alerts triggered: (.*?)(?:; and (\d+) more)?$', row.message)
        count, shown = int(many.group(1)), many.group(2).split('; ')
        if len(shown) != min(count, 5):
            raise Unreadable('alerts')
    if len(keys) < len(shown):
        raise Unreadable('dedup keys')
    stored = _alert_refs(row, look)
    alerts = []
    for key, said in zip(keys, shown, strict=False):
        summary, severity = _summary_and_severity(said)
        alert = stored.get(key)
        alerts.append(
            {
                'alert_id': alert.id if alert is not None else None,
                'dedup_key': key,
                'summary': summary,
                'severity': severity,
                'labels': _identity_label(alert.details) if alert is not None else {},
            }
        )
    return {'count': count, 'alerts': alerts, 'sources': sources}


def _alert_resolved(row: Any, data: dict[str, Any], look: _Lookups) -> dict[str, Any]:
    found = _match(r'^Alert resolved at the source: (.*)$', row.message)
    alert_id = _int(data['alert_id'])
    stored = next((a for a in look.alerts(row.incident_id) if a.id == alert_id), None)
    return {
        'alert': {
            'alert_id': alert_id,
            'dedup_key': str(data.get('dedup_key', '')),
            'summary': found.group(1),
            'severity': stored.severity if stored is not None else '',
            'labels': _identity_label(stored.details) if stored is not None else {},
        },
        'ended_at': _instant(data['ended_at']),
    }


def _alerts_truncated(row: Any, data: dict[str, Any], look: _Lookups) -> dict[str, Any]:
    return {'truncated': int(_match(r'^The source left (\d+) alerts? ', row.message).group(1))}


def _no_policy(row: Any, data: dict[str, Any], look: _Lookups) -> dict[str, Any]:
    found = _match(r'^(.*) has no escalation policy: nobody is paged$', row.message)
    return {'service_name': found.group(1)}


def _maintenance_hold(row: Any, data: dict[str, Any], look: _Lookups) -> dict[str, Any]:
    found = _match(
        r'^(.*) is in maintenance until (\S+?)(?: \((.*)\))?: nobody is paged until it ends$',
        row.message,
    )
    return {
        'service_name': found.group(1),
        'until': _instant(found.group(2)),
        'reason': found.group(3) or '',
    }


def _nothing(row: Any, data: dict[str, Any], look: _Lookups) -> dict[str, Any]:
    return {}


def _escalated(row: Any, data: dict[str, Any], look: _Lookups) -> dict[str, Any]:
    found = _match(
        rf'^{_LABEL} \((.*?)\): paged (.*?)( — low urgency: no further escalation)?$',
        row.message,
    )
    responders, shadows = _ids(data['responders']), _ids(data['shadows'])
    people, posts = _remarks(found.group(6))
    next_at = data.get('next_escalation_at')
    return {
        **_where(found, data),
        'reason': found.group(5),
        'responders': responders,
        'shadows': shadows,
        'paged': _with_ids(people, responders + shadows),
        'channels': posts,
        'low_urgency': bool(found.group(7)),
        'next_escalation_at': _instant(next_at) if next_at is not None else None,
        'last_step': bool(data.get('last_step', False)),
    }


def _step_empty(row: Any, data: dict[str, Any], look: _Lookups) -> dict[str, Any]:
    return _where(_match(rf'^{_LABEL} has nobody on call; moving on at once$', row.message), data)


def _exhausted(row: Any, data: dict[str, Any], look: _Lookups) -> dict[str, Any]:
    if row.message.startswith('Nobody could be paged'):
        return {'because': 'all_steps_empty', 'waited_minutes': None}
    found = _match(r'^Nobody acknowledged within (\d+) minutes? of the last step', row.message)
    return {'because': 'unacknowledged', 'waited_minutes': int(found.group(1))}


def _escalate_requested(row: Any, data: dict[str, Any], look: _Lookups) -> dict[str, Any]:
    found = _match(r'^(.*) escalated to the next step via (\w+)$', row.message)
    return _by(row, look, found.group(1))


def _paged(row: Any, data: dict[str, Any], look: _Lookups) -> dict[str, Any]:
    user_id = _int(data['user_id'])
    people, posts = _remarks(_match(r'^Paged (.*)$', row.message).group(1))
    if posts:
        raise Unreadable('channels')
    return {'user_id': user_id, 'paged': _with_ids(people, [user_id])}


def _acknowledged(row: Any, data: dict[str, Any], look: _Lookups) -> dict[str, Any]:
    found = _match(
        r'^Acknowledged by (.*) via (\w+)(?:; (\d+) pending notifications? cancelled)?$',
        row.message,
    )
    return {**_by(row, look, found.group(1)), 'cancelled': int(found.group(3) or 0)}


def _unacknowledged(row: Any, data: dict[str, Any], look: _Lookups) -> dict[str, Any]:
    found = _match(r'^Unacknowledged by (.*) via (\w+): paging again$', row.message)
    return _by(row, look, found.group(1))


def _ack_timeout(row: Any, data: dict[str, Any], look: _Lookups) -> dict[str, Any]:
    return {'minutes': int(_match(r'^Acknowledged (\d+) minutes? ago', row.message).group(1))}


def _reassigned(row: Any, data: dict[str, Any], look: _Lookups) -> dict[str, Any]:
    note = data.get('note') or ''
    if not isinstance(note, str):
        raise Unreadable('note')
    handed_from, to = _ids(data['from']), _int(data['to'])
    found = _match(
        r'^(.*?) handed the incident from (.*) to (.*?) via (\w+)$',
        _without_note(row.message, note),
    )
    from_names = [] if found.group(2) == 'nobody' else found.group(2).split(', ')
    if len(from_names) != len(handed_from):
        raise Unreadable('from')
    return {
        **_by(row, look, found.group(1)),
        'from': handed_from,
        'from_names': from_names,
        'to': to,
        'to_name': found.group(3),
        'note': note,
    }


def _resolved(row: Any, data: dict[str, Any], look: _Lookups) -> dict[str, Any]:
    note = data.get('note') or ''
    if not isinstance(note, str):
        raise Unreadable('note')
    if row.actor_user_id is None and row.message.startswith('Resolved automatically'):
        if not note and row.message.startswith('Resolved automatically: '):
            note = row.message.removeprefix('Resolved automatically: ')
        return {**_by(row, look), 'automatic': True, 'note': note, 'closed_alerts': 0}
    found = _match(
        r'^Resolved by (.*?) via (\w+)'
        r'(?: \((\d+) alerts? still firing at the source (?:were|was) closed\))?$',
        _without_note(row.message, note),
    )
    return {
        **_by(row, look, found.group(1)),
        'automatic': False,
        'note': note,
        'closed_alerts': int(found.group(3) or 0),
    }


def _note(row: Any, data: dict[str, Any], look: _Lookups) -> dict[str, Any]:
    return {**_by(row, look), 'text': row.message}


def _urgency(row: Any, data: dict[str, Any], look: _Lookups) -> dict[str, Any]:
    found = _match(r'^(.*) set urgency to (high|low) via (\w+)$', row.message)
    urgency = found.group(2)
    return {
        **_by(row, look, found.group(1)),
        'urgency': urgency,
        'previous': 'low' if urgency == 'high' else 'high',
    }


def _engine_error(row: Any, data: dict[str, Any], look: _Lookups) -> dict[str, Any]:
    found = _match(r'^The engine failed to (.*) this incident; retrying in (\d+)s$', row.message)
    return {'operation': found.group(1), 'retry_in_seconds': int(found.group(2))}


# ---------------------------------------------------------------------------- notifications

# A masked address has no spaces; a colon inside it (https://host:8443/…) is not followed by one.
_NAMED = r'^(\S+) by (\S+) to ((?:[^\s:]|:(?=\S))+)'


def _notification(row: Any, data: dict[str, Any], look: _Lookups) -> tuple[dict[str, Any], str]:
    """The notification a row names, and the words after its name."""
    found = _match(_NAMED + r'(.*)$', row.message)
    what, contact_type, address, rest = found.group(1, 2, 3, 4)
    notification_id = _int(data['notification_id'])
    stored = look.notification(notification_id)
    if stored is not None:
        message_kind, contact_type = stored.kind, stored.contact_type
        method_id, label = stored.contact_method_id, stored.label or ''
    else:
        message_kind = {'Page': 'page', 'Summary': 'summary'}.get(what, what)
        method_id, label = None, ''
    if message_kind not in MESSAGE_KINDS or contact_type not in CONTACT_TYPES:
        raise Unreadable('notification')
    ref = {
        'id': notification_id,
        'message_kind': message_kind,
        'contact_type': contact_type,
        'contact_method_id': method_id,
        'address': address,
        'method_label': label,
    }
    return ref, rest


def _sent(row: Any, data: dict[str, Any], look: _Lookups) -> dict[str, Any]:
    ref, rest = _notification(row, data, look)
    provider = data.get('provider') or _match(r'^ sent via (\S+)$', rest).group(1)
    message_id = data.get('provider_message_id')
    return {
        'notification': ref,
        'provider': str(provider),
        'provider_message_id': message_id if isinstance(message_id, str) else None,
    }


def _status(row: Any, data: dict[str, Any], look: _Lookups) -> dict[str, Any]:
    ref, rest = _notification(row, data, look)
    found = _match(
        r'^: Twilio reports (\S+)(?: \(error ([^)]*)\))?(?:; already (\w+))?'
        r'( \(late; not going back\))?$',
        rest,
    )
    return {
        'notification': ref,
        'provider': 'twilio',
        'provider_status': found.group(1),
        'provider_message_id': None,
        'error_code': found.group(2),
        'already': found.group(3),
        'late': bool(found.group(4)),
    }


def _retry(row: Any, data: dict[str, Any], look: _Lookups) -> dict[str, Any]:
    ref, rest = _notification(row, data, look)
    attempt = _int(data['attempt'])
    if rest.endswith('sending it again (the receiver deduplicates)'):
        return {'notification': ref, 'because': 'outcome_unknown', 'attempt': attempt}
    if rest.endswith('marked as a possible duplicate'):
        return {'notification': ref, 'because': 'possible_duplicate', 'attempt': attempt}
    found = _match(
        r'^ failed temporarily \((.*)\); attempt (\d+) of (\d+), retrying in (\d+)s$', rest
    )
    return {
        'notification': ref,
        'because': 'temporary_failure',
        'attempt': attempt,
        'max_attempts': int(found.group(3)),
        'retry_in_seconds': int(found.group(4)),
        'reason': found.group(1),
    }


def _failure(verb: str) -> Callable[[Any, dict[str, Any], _Lookups], dict[str, Any]]:
    def convert(row: Any, data: dict[str, Any], look: _Lookups) -> dict[str, Any]:
        ref, rest = _notification(row, data, look)
        reason = _match(rf'^ {verb}: (.*)$', rest).group(1)
        return {'notification': ref, 'reason': reason, 'attempts': _int(data['attempts'])}

    return convert


def _bundled(row: Any, data: dict[str, Any], look: _Lookups) -> dict[str, Any]:
    ref, rest = _notification(row, data, look)
    found = _match(
        r'^: more than (\d+) messages? in (\d+) min to this address, so it is folded into one '
        r'summary of (\d+) pages?$',
        rest,
    )
    return {
        'notification': ref,
        'summary_id': _int(data['summary_id']),
        'limit': int(found.group(1)),
        'window_minutes': int(found.group(2)),
        'bundled': int(found.group(3)),
    }


def _named_only(row: Any, data: dict[str, Any], look: _Lookups) -> dict[str, Any]:
    ref, _ = _notification(row, data, look)
    return {'notification': ref}


_CONVERTERS: dict[str, Callable[[Any, dict[str, Any], _Lookups], dict[str, Any]]] = {
    'opened': _opened,
    'alert_triggered': _alert_triggered,
    'alert_resolved': _alert_resolved,
    'alerts_truncated': _alerts_truncated,
    'no_escalation_policy': _no_policy,
    'maintenance_hold': _maintenance_hold,
    'maintenance_ended': _nothing,
    'escalated': _escalated,
    'step_empty': _step_empty,
    'escalation_exhausted': _exhausted,
    'escalate_requested': _escalate_requested,
    'escalation_brought_forward': _named_only,
    'paged': _paged,
    'notification_sent': _sent,
    'notification_status': _status,
    'notification_retry': _retry,
    'notification_failed': _failure('failed'),
    'notification_blocked': _failure('blocked'),
    'notification_bundled': _bundled,
    'notification_fallthrough': _named_only,
    'acknowledged': _acknowledged,
    'unacknowledged': _unacknowledged,
    'ack_timeout': _ack_timeout,
    'reassigned': _reassigned,
    'resolved': _resolved,
    'note': _note,
    'urgency_changed': _urgency,
    'engine_error': _engine_error,
}
