"""Shared API shapes: strict input models, pages of results."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from app.core import validation

T = TypeVar("T")


class InputModel(BaseModel):
    """Request bodies refuse unknown fields: a typo should fail loudly, not be ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PatchModel(InputModel):
    """A partial update: a field left out stays as it is; ``null`` is accepted only for the
    fields listed in ``nullable`` (clearing them) and refused, with its location, elsewhere."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _null_only_where_allowed(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable:
            raise ValueError(f"{info.field_name} cannot be null; leave it out to keep it")
        return value


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class FieldError(BaseModel):
    loc: list[str] = Field(description='Where: ["body", "name"], ["path", "user_id"], ...')
    msg: str
    type: str | None = None


class ErrorBody(BaseModel):
    """Every 4xx answer (and 5xx, with a ``request_id``): one shape, whatever went wrong."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(description="Stable, for programs: validation_error, not_found, ...")
    detail: str = Field(
        description="For people: what was wrong and, where it helps, how to fix it."
    )
    errors: list[FieldError | str] = Field(
        default_factory=list,
        description="Each problem found, when there are several or they concern named fields.",
    )


# Documented for every operation in place of FastAPI's default 422 schema, which Baton never
# sends.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorBody, "description": "The request was refused; nothing was changed."}
}


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null on the last page."
    )


# Row ids are signed 64-bit integers in every database we run on; a larger number in a path,
# a query or a body is refused with the field's name instead of overflowing in the driver.
ID_LIMIT = 2**63
Id = Annotated[int, Field(ge=1, lt=ID_LIMIT)]
# The instants and days the API takes (instants with a UTC offset): far enough for anything an
# on-call tool plans, and far enough from the ends of Python's calendar that adding a window or
# a rotation to them stays inside it.
EARLIEST_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
INSTANT_LIMIT = datetime(9000, 1, 1, tzinfo=UTC)
Instant = Annotated[AwareDatetime, Field(ge=EARLIEST_INSTANT, lt=INSTANT_LIMIT)]
Day = Annotated[date, Field(ge=EARLIEST_INSTANT.date(), lt=INSTANT_LIMIT.date())]
TimeZoneName = Annotated[str, AfterValidator(validation.time_zone)]
EmailAddress = Annotated[str, AfterValidator(validation.email)]
# Human text: control characters and bidi overrides are refused (a Line has no line breaks).
Text = Annotated[str, AfterValidator(validation.plain_text)]
Line = Annotated[str, AfterValidator(validation.plain_line)]
Name = Annotated[
    str,
    Field(min_length=1, max_length=200),
    AfterValidator(validation.plain_line),
    AfterValidator(validation.non_blank),
]
