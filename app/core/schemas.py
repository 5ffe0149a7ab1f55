"""Shared API shapes: strict input models, pages of results."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

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


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null on the last page."
    )


TimeZoneName = Annotated[str, AfterValidator(validation.time_zone)]
EmailAddress = Annotated[str, AfterValidator(validation.email)]
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(validation.non_blank)]
