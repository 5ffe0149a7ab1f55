"""The words every section of ``baton apply`` shares: what it did, line by line, so a reviewer
can read the effect of a config change, and why a file could not be applied.

Each domain applies its own section (``app/<domain>/declarative.py``) and ``app/declarative``
puts the sections together; both sides use these, so they live below the domains.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    STALE = "stale"  # applied earlier, no longer in the file; deleted only with --prune
    DELETE = "delete"


@dataclass(frozen=True)
class Change:
    action: Action
    kind: str
    key: str
    fields: tuple[str, ...] = ()

    def describe(self) -> str:
        suffix = f" ({', '.join(self.fields)})" if self.fields else ""
        if self.action is Action.STALE:
            suffix += " — no longer in the file; run with --prune to delete"
        return f"{self.action:<9} {self.kind} {self.key}{suffix}"


@dataclass
class ApplyReport:
    changes: list[Change] = field(default_factory=list)

    def add(self, action: Action, kind: str, key: str, fields: tuple[str, ...] = ()) -> None:
        self.changes.append(Change(action, kind, key, fields))

    def count(self, action: Action) -> int:
        return sum(1 for change in self.changes if change.action is action)

    @property
    def changed(self) -> bool:
        return any(c.action in (Action.CREATE, Action.UPDATE, Action.DELETE) for c in self.changes)

    def summary(self) -> str:
        parts = [f"{self.count(a)} {a}" for a in Action if self.count(a)]
        return ", ".join(parts) or "nothing to do"


def assign(obj: object, values: dict[str, object]) -> tuple[str, ...]:
    """Set only the attributes that differ and return their names: re-applying writes nothing."""
    changed = []
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed.append(name)
    return tuple(changed)


class ConfigFileError(ValueError):
    """The file cannot be applied; the message says where and why."""


class UnknownReference(ValueError):
    """The file refers to something that neither it nor the database defines."""
