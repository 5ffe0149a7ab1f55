"""What alert sources send is stored whatever its characters: the unsafe ones become U+FFFD,
line breaks in one-line fields a space, and the rest stays as sent."""

from __future__ import annotations

import sys

from app.core import validation
from app.core.validation import REPLACEMENT, sanitize_line, sanitize_text

UNSAFE = [
    "\x00",
    "\x07",
    "\x1b",
    "\x7f",
    "\x85",
    "\x9f",
    "\u202a",
    "\u202e",
    "\u2066",
    "\u2069",
    "\ud800",
]
BREAKS = ["\t", "\n", "\r", "\u2028", "\u2029"]


def test_unsafe_characters_become_the_replacement_character() -> None:
    for character in UNSAFE:
        assert sanitize_text(f"a{character}b") == f"a{REPLACEMENT}b", repr(character)
        assert sanitize_line(f"a{character}b") == f"a{REPLACEMENT}b", repr(character)


def test_line_breaks_stay_in_text_and_become_spaces_in_lines() -> None:
    for character in BREAKS:
        assert sanitize_text(f"a{character}b") == f"a{character}b", repr(character)
        assert sanitize_line(f"a{character}b") == "a b", repr(character)


def test_printable_text_of_any_script_is_kept_as_sent() -> None:
    for text in ("disk 93% full", "Überlast \u2013 東京 🔥", "שלום", "a\u200db", ""):
        assert sanitize_text(text) == text
        assert sanitize_line(text) == text


def test_no_character_that_python_calls_printable_is_changed() -> None:
    """The cheap path takes printable text as it is: every character the filters change must
    be one Python does not count printable, in every plane."""
    changed = [
        hex(code)
        for code in range(sys.maxunicode + 1)
        if chr(code).isprintable()
        and (validation._UNSAFE_TEXT.search(chr(code)) or validation._LINE_BREAKS.search(chr(code)))
    ]
    assert changed == []
