"""A person's ladder: the notifications one page of them becomes, by their own rules.

Read when a step pages people; the outbox turns each rule into a notification row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.people.models import ContactMethod, ContactType, NotificationRule, Urgency, User


@dataclass(frozen=True, slots=True)
class RuleTarget:
    rule_id: int | None
    contact_method_id: int
    contact_type: ContactType
    address: str
    delay_minutes: int


@dataclass(frozen=True, slots=True)
class Ladder:
    """A person's name and the notifications one page of them becomes."""

    name: str
    targets: list[RuleTarget]


async def ladders_for(
    session: AsyncSession, user_ids: Iterable[int], urgency: Urgency
) -> dict[int, Ladder]:
    """Each person's ladder for this urgency, over verified and enabled contact methods only.

    A person with no rules for low urgency is paged by their high-urgency rules, and one with
    no rules at all on every pageable contact method at once: an unconfigured ladder must not
    mean a missed page. One round trip: people, their pageable methods, the rules using them.
    """
    ids = list(set(user_ids))
    if not ids:
        return {}
    # Columns, not entities: a storm reads the same people's ladders batch after batch.
    rows = (await session.execute(_LADDERS, {"ids": ids})).all()
    names: dict[int, str] = {}
    rules: dict[int, dict[Urgency, list[RuleTarget]]] = defaultdict(lambda: defaultdict(list))
    methods: dict[int, dict[int, tuple[ContactType, str]]] = defaultdict(dict)
    for user_id, name, method_id, method_type, address, rule_id, rule_urgency, delay in rows:
        names[user_id] = name
        if method_id is None:
            continue
        methods[user_id][method_id] = (ContactType(method_type), address)
        if rule_id is not None:
            rules[user_id][Urgency(rule_urgency)].append(
                RuleTarget(rule_id, method_id, ContactType(method_type), address, delay)
            )
    ladders: dict[int, Ladder] = {}
    for user_id, name in names.items():
        chosen = rules[user_id].get(urgency) or rules[user_id].get(Urgency.HIGH)
        if chosen:
            targets = sorted(chosen, key=lambda t: (t.delay_minutes, t.contact_method_id))
        else:
            targets = [
                RuleTarget(None, method_id, method_type, address, 0)
                for method_id, (method_type, address) in sorted(methods[user_id].items())
            ]
        ladders[user_id] = Ladder(name, targets)
    return ladders


# Built once: every page reads it.
_LADDERS = (
    select(
        User.id,
        User.name,
        ContactMethod.id,
        ContactMethod.type,
        ContactMethod.address,
        NotificationRule.id,
        NotificationRule.urgency,
        NotificationRule.delay_minutes,
    )
    .outerjoin(
        ContactMethod,
        and_(
            ContactMethod.user_id == User.id,
            ContactMethod.verified_at.is_not(None),
            ContactMethod.disabled_at.is_(None),
        ),
    )
    .outerjoin(NotificationRule, NotificationRule.contact_method_id == ContactMethod.id)
    .where(User.id.in_(bindparam("ids", expanding=True)))
)
