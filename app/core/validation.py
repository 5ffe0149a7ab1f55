"""Input normalisation shared by API schemas and declarative config."""

from __future__ import annotations

import re
import zoneinfo
from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def time_zone(value: str) -> str:
    name = value.strip()
    if name not in _known_zones():
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


def non_blank(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise ValueError("must not be blank")
    return stripped
