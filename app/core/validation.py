"""Input normalisation shared by API schemas and declarative config."""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import phonenumbers
from email_validator import EmailNotValidError, validate_email

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


# Files that sit in a zoneinfo directory without being zones: `localtime` is the host's own zone
# and `posixrules` a copy of whichever zone the host was built with, so two replicas could read
# them differently; `Factory` is the tz database's placeholder for "no zone set yet".
NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    """The keys of the tz database, from the ``tzdata`` package's list of zones.

    Not ``zoneinfo.available_timezones()``: that lists the host's zoneinfo directory, which
    differs from host to host and includes ``localtime``.
    """
    listing = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8")
    return frozenset(listing.split()) - NOT_ZONES


def time_zone(value: str) -> str:
    name = value.strip()
    if name not in known_zones():
        raise ValueError(f"unknown IANA time zone {value!r} (for example Europe/Berlin, UTC)")
    return name


def email(value: str) -> str:
    try:
        result = validate_email(value.strip(), check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise ValueError(f"invalid e-mail address: {exc}") from None
    return result.normalized.lower()


def phone_e164(value: str) -> str:
    """Phone numbers must be given in E.164 (``+15555550123``); we do not guess a country."""
    compact = re.sub(r"[\s().-]", "", value)
    if not _E164.match(compact):
        raise ValueError("phone numbers must be in E.164 format, e.g. +15555550123")
    try:
        parsed = phonenumbers.parse(compact, None)
    except phonenumbers.NumberParseException:
        raise ValueError("phone numbers must be in E.164 format, e.g. +15555550123") from None
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError(f"{value!r} is not a possible phone number for its country code")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def http_url(value: str) -> str:
    url = value.strip()
    if not re.match(r"^https?://[^\s/$.?#][^\s]*$", url, re.IGNORECASE):
        raise ValueError("must be an http(s) URL")
    return url


# C0 and C1 controls, and the bidi embeddings, overrides and isolates that make text display
# in another order than it is stored ("Trojan Source"); lone surrogates cannot be stored at all.
_UNSAFE_IN_TEXT = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_UNSAFE_TEXT = re.compile(rf"[{_UNSAFE_IN_TEXT}]")
_LINE_BREAKS = re.compile(r"[\t\n\r\u2028\u2029]")
REPLACEMENT = "\ufffd"


def _refuse(found: re.Match[str] | None, what: str) -> None:
    if found is not None:
        raise ValueError(f"{what} (found U+{ord(found.group()):04X})")


def plain_text(value: str) -> str:
    """Human text (a description, a note): line breaks and tabs, no other control character."""
    _refuse(_UNSAFE_TEXT.search(value), "must not contain control or bidi override characters")
    return value


def plain_line(value: str) -> str:
    """One line of human text (a name, a title)."""
    _refuse(_LINE_BREAKS.search(value), "must be a single line")
    return plain_text(value)


def sanitize_text(value: str) -> str:
    """What an alert source sends is stored, never refused for its characters: the unsafe ones
    become U+FFFD."""
    # Every unsafe character and line break is one Python does not count printable (a test
    # checks), and most text has none: this is the cheap way past it.
    if value.isprintable():
        return value
    return _UNSAFE_TEXT.sub(REPLACEMENT, value)


def sanitize_line(value: str) -> str:
    if value.isprintable():
        return value
    return sanitize_text(_LINE_BREAKS.sub(" ", value))


def non_blank(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise ValueError("must not be blank")
    return stripped


def slack_channel(value: str) -> str:
    """A Slack channel id (``C0123ABCD``) or name (``#ops-bridge``), stored without the ``#``."""
    channel = value.strip().lstrip("#")
    if not channel or len(channel) > 80 or not channel.replace("-", "").replace("_", "").isalnum():
        raise ValueError("a Slack channel is an id like C0123ABCD or a name like ops-bridge")
    return channel
