"""Text filters (the ``q`` of list endpoints): what people type is matched as typed.

``%`` and ``_`` are LIKE's wildcards; left alone, ``q=100%`` would match every name containing
"100" and ``q=a_b`` would match "axb". Every text filter goes through these helpers, which
escape them and name the escape character, so SQLite (no default escape) and PostgreSQL
(backslash by default) behave the same.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, func

LIKE_ESCAPE = "\\"


def escape_like(text: str) -> str:
    """``text`` as a LIKE pattern that matches only itself."""
    return (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )


def contains_text(column: ColumnElement[str], text: str) -> ColumnElement[bool]:
    """Case-insensitive "``column`` contains ``text``", wildcards in ``text`` taken literally."""
    return func.lower(column).like(f"%{escape_like(text.lower())}%", escape=LIKE_ESCAPE)


def starts_with_text(column: ColumnElement[str], text: str) -> ColumnElement[bool]:
    """Case-sensitive "``column`` starts with ``text``", wildcards in ``text`` taken literally."""
    return column.like(f"{escape_like(text)}%", escape=LIKE_ESCAPE)
