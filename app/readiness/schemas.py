from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator

from app.core import validation
from app.core.schemas import Day, Id, InputModel, OutputModel, Text
from app.readiness import checklist
from app.readiness.checklist import ItemKind

ItemKey = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
ItemTitle = Annotated[
    str, Field(min_length=1, max_length=200), AfterValidator(validation.plain_line)
]
Weight = Annotated[int, Field(ge=0, le=100)]
Reason = Annotated[Text, Field(max_length=2000)]


class ItemIn(InputModel):
    key: ItemKey
    title: ItemTitle
    kind: ItemKind = ItemKind.SIGN_OFF
    weight: Weight
    required: bool = True
    check: Annotated[str, Field(max_length=64)] = Field(
        default="",
        description="For an automatic item: its check (default: the key). "
        + ", ".join(checklist.AUTOMATIC_CHECKS),
    )
    params: dict[Annotated[str, Field(max_length=64)], Annotated[float, Field(ge=0, le=10_000)]] = (
        Field(default_factory=dict, max_length=10)
    )
    description: Annotated[Text, Field(max_length=2000)] = ""

    def to_item(self) -> checklist.Item:
        return checklist.Item(
            key=self.key,
            title=self.title,
            kind=self.kind,
            weight=self.weight,
            required=self.required,
            check=self.check,
            params=dict(self.params),
            description=self.description,
        )

    @classmethod
    def from_item(cls, item: checklist.Item) -> ItemIn:
        return cls(
            key=item.key,
            title=item.title,
            kind=item.kind,
            weight=item.weight,
            required=item.required,
            check=item.check,
            params=dict(item.params),
            description=item.description,
        )


class ChecklistIn(InputModel):
    items: list[ItemIn] = Field(max_length=checklist.MAX_ITEMS)


class ItemOut(OutputModel):
    key: str
    title: str
    kind: ItemKind
    weight: int
    required: bool
    check: str
    params: dict[str, float]
    description: str

    @classmethod
    def of(cls, item: checklist.Item) -> ItemOut:
        return cls(
            key=item.key,
            title=item.title,
            kind=item.kind,
            weight=item.weight,
            required=item.required,
            check=item.check_name if item.kind is ItemKind.AUTOMATIC else "",
            params=dict(item.params),
            description=item.description,
        )


class ChecklistOut(OutputModel):
    team_id: int | None = Field(description="Null: the organisation's checklist.")
    items: list[ItemOut]
    default: bool = Field(description="Baton's built-in checklist (nobody has set one).")


class ThresholdsIn(InputModel):
    window_days: Annotated[int, Field(ge=1, le=90)] | None = None
    max_pages_per_shift: Annotated[float, Field(ge=0, le=100)] | None = None
    max_sleep_pages: Annotated[int, Field(ge=0, le=1000)] | None = None
    mttr_worsening_percent: Annotated[float, Field(ge=0, le=10_000)] | None = None
    lowest_failure_band: bool | None = None
    overdue_action_items: bool | None = None
    grace_days: Annotated[int, Field(ge=0, le=90)] | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _no_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("leave a threshold out to keep it")
        return value


class ThresholdsOut(OutputModel):
    window_days: int
    max_pages_per_shift: float
    max_sleep_pages: int
    mttr_worsening_percent: float
    lowest_failure_band: bool
    overdue_action_items: bool
    grace_days: int


class ResultOut(OutputModel):
    key: str
    title: str
    kind: ItemKind
    required: bool
    weight: int
    met: bool
    evidence: str


class ChangeOut(OutputModel):
    key: str
    title: str
    was_met: bool | None
    met: bool
    was_evidence: str | None
    evidence: str


class EvaluationOut(OutputModel):
    id: int | None = Field(default=None, description="Null: evaluated now, not stored.")
    service_id: int
    evaluated_at: datetime
    trigger: str
    support_model: str
    score: int
    band: str
    results: list[ResultOut]
    changes: list[ChangeOut] = Field(
        default_factory=list, description="Items whose outcome changed since the evaluation before."
    )


class SignOffIn(InputModel):
    comment: Reason = ""
    signed_on: Day | None = Field(default=None, description="Default: today (UTC).")
    signed_by_id: Id | None = Field(
        default=None, description="Admins only: sign in someone else's name (default: you)."
    )


class SignOffOut(OutputModel):
    service_id: int
    item_key: str
    signed_by_id: int | None
    signed_by_name: str
    signed_on: date
    comment: str
    created_at: datetime


class HandoverIn(InputModel):
    ops_team_id: Id | None = Field(
        default=None, description="The Ops team to take it on (default: the service's)."
    )
    note: Reason = ""


class HandoverAcceptIn(InputModel):
    escalation_policy_id: Id = Field(description="Ops's policy; new incidents escalate by it.")
    keep_developers: bool = Field(
        default=False,
        description="Escalate to the developers' first step after Ops's last (a copy of Ops's "
        "policy with that step added).",
    )
    override_reason: Reason = Field(
        default="",
        description="Admins only: accept while required items fail, saying why.",
    )


class DecisionIn(InputModel):
    reason: Reason = ""


class HandbackIn(InputModel):
    reason: Annotated[Text, Field(min_length=1, max_length=2000)]


class HandoverRequestOut(OutputModel):
    id: int
    service_id: int
    ops_team_id: int
    requested_by_id: int | None
    requested_at: datetime
    note: str
    state: str
    decided_by_id: int | None
    decided_at: datetime | None
    reason: str
    overridden: bool


class BreachOut(OutputModel):
    key: str
    title: str
    evidence: str


class ProposalOut(OutputModel):
    id: int
    service_id: int
    created_at: datetime
    window_since: datetime
    window_until: datetime
    breaches: list[BreachOut]
    state: str
    due_at: datetime | None
    decided_by_id: int | None
    decided_at: datetime | None
    reason: str


class TransitionOut(OutputModel):
    id: int
    service_id: int
    direction: str
    from_support: str
    to_support: str
    from_policy_id: int | None
    to_policy_id: int | None
    ops_team_id: int | None
    decided_by_id: int | None
    decided_by_name: str
    decided_at: datetime
    reason: str
    overridden: bool
    score: int | None
    evidence: list[dict[str, Any]]


class ReadinessOut(OutputModel):
    service_id: int
    service_name: str
    support_model: str
    ops_team_id: int | None
    handed_back: bool = Field(
        description="Supported by its developers after a handback: the checklist is its exit "
        "criteria, and the Ops team consults."
    )
    current: EvaluationOut
    handover_allowed: bool
    failing_required: list[str]
    history: list[EvaluationOut]
    sign_offs: list[SignOffOut]
    open_handover: HandoverRequestOut | None
    open_proposal: ProposalOut | None
    transitions: list[TransitionOut]


class OverviewRow(OutputModel):
    service_id: int
    service_name: str
    team_id: int
    support_model: str
    score: int | None
    band: str | None
    evaluated_at: datetime | None
    open_handover: bool
    open_proposal: bool
