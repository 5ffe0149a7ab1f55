"""Escalation decisions, pure: where a page goes next and when.

A policy snapshot is copied onto an incident when it opens. The engine asks this module what
the next position in the ladder is; it never looks at the clock or the database itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True, slots=True)
class TargetSnapshot:
    kind: str  # "user" | "schedule" | "slack_channel" | "webhook"
    user_id: int | None = None
    schedule_id: int | None = None
    address: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "user_id": self.user_id,
            "schedule_id": self.schedule_id,
            "address": self.address,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TargetSnapshot:
        return cls(
            kind=data["kind"],
            user_id=data.get("user_id"),
            schedule_id=data.get("schedule_id"),
            address=data.get("address"),
        )


@dataclass(frozen=True, slots=True)
class StepSnapshot:
    delay_minutes: int
    targets: tuple[TargetSnapshot, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "delay_minutes": self.delay_minutes,
            "targets": [t.to_json() for t in self.targets],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepSnapshot:
        return cls(
            delay_minutes=int(data["delay_minutes"]),
            targets=tuple(TargetSnapshot.from_json(t) for t in data["targets"]),
        )


@dataclass(frozen=True, slots=True)
class PolicySnapshot:
    policy_id: int
    name: str
    repeat: int
    steps: tuple[StepSnapshot, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "policy_id": self.policy_id,
            "name": self.name,
            "repeat": self.repeat,
            "steps": [s.to_json() for s in self.steps],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PolicySnapshot:
        return cls(
            policy_id=int(data["policy_id"]),
            name=str(data["name"]),
            repeat=int(data["repeat"]),
            steps=tuple(StepSnapshot.from_json(s) for s in data["steps"]),
        )


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """Where an incident stands on the ladder: ``loop`` counts passes over all steps."""

    loop: int
    step: int


FIRST = Position(loop=0, step=0)


def has_steps(policy: PolicySnapshot | None) -> bool:
    return policy is not None and len(policy.steps) > 0


def step_at(policy: PolicySnapshot, position: Position) -> StepSnapshot:
    return policy.steps[position.step]


def next_position(policy: PolicySnapshot, position: Position) -> Position | None:
    """The step after ``position``; ``None`` once every pass of the ladder is used up."""
    if position.step + 1 < len(policy.steps):
        return Position(position.loop, position.step + 1)
    if position.loop < policy.repeat:
        return Position(position.loop + 1, 0)
    return None


def next_escalation_at(
    policy: PolicySnapshot, position: Position, paged_at: datetime
) -> datetime | None:
    """When to move on from a step paged at ``paged_at`` (``None``: this was the last step)."""
    if next_position(policy, position) is None:
        return None
    return paged_at + timedelta(minutes=step_at(policy, position).delay_minutes)


def total_positions(policy: PolicySnapshot) -> int:
    return len(policy.steps) * (policy.repeat + 1)
