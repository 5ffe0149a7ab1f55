"""SMS text and replies, pure: table-driven."""

from __future__ import annotations

import pytest

from app.incidents.channel_actions import Action
from app.integrations.twilio import sms_text
from app.integrations.twilio.sms_text import Intent, Reply


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("4a", Reply(Intent.ACT, Action.ACKNOWLEDGE, 4)),
        ("4 a", Reply(Intent.ACT, Action.ACKNOWLEDGE, 4)),
        ("4A", Reply(Intent.ACT, Action.ACKNOWLEDGE, 4)),
        ("  4   ack. ", Reply(Intent.ACT, Action.ACKNOWLEDGE, 4)),
        ("ACK 4", Reply(Intent.ACT, Action.ACKNOWLEDGE, 4)),
        ("ack #4", Reply(Intent.ACT, Action.ACKNOWLEDGE, 4)),
        ("a4", Reply(Intent.ACT, Action.ACKNOWLEDGE, 4)),
        ("ACK 1042", Reply(Intent.ACT, Action.ACKNOWLEDGE, 1042)),
        ("12r", Reply(Intent.ACT, Action.RESOLVE, 12)),
        ("resolve 3", Reply(Intent.ACT, Action.RESOLVE, 3)),
        ("3 esc", Reply(Intent.ACT, Action.ESCALATE, 3)),
        ("a", Reply(Intent.ACT, Action.ACKNOWLEDGE)),
        ("Ack!", Reply(Intent.ACT, Action.ACKNOWLEDGE)),
        ("e", Reply(Intent.ACT, Action.ESCALATE)),
        ("STOP", Reply(Intent.STOP)),
        ("unsubscribe", Reply(Intent.STOP)),
        ("Start", Reply(Intent.START)),
        ("unstop", Reply(Intent.START)),
        ("help", Reply(Intent.HELP)),
        ("", Reply(Intent.UNKNOWN)),
        ("4x", Reply(Intent.UNKNOWN)),
        ("hello there", Reply(Intent.UNKNOWN)),
        ("4a 5a", Reply(Intent.UNKNOWN)),
        ("99999999a", Reply(Intent.UNKNOWN)),
    ],
)
def test_parse_reply(body: str, expected: Reply) -> None:
    assert sms_text.parse_reply(body) == expected


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),
        ("€" * 81, 2),
        ("é" * 160, 1),
        ("ł" * 70, 1),
        ("ł" * 71, 2),
        ("🔥" * 35, 1),
    ],
)
def test_segments(text: str, segments: int) -> None:
    assert sms_text.segments(text) == segments


def test_transliteration_keeps_messages_in_gsm7() -> None:
    text = sms_text.to_gsm7("\u201cDisk\u201d at 95% \u2013 café\u2026 \U0001f525 \u0141ódź ç")
    assert text == '"Disk" at 95% - café... ? ?odz c'  # é is in GSM-7 itself
    assert sms_text.is_gsm7(text)


def test_clip_counts_extended_characters_twice() -> None:
    assert sms_text.clip("{}" * 10, 10) == "{}{..."  # 6 septets of braces + 3 dots
    assert sms_text.septets(sms_text.clip("[" * 50, 21)) <= 21
    assert sms_text.clip("short", 10) == "short"


@pytest.mark.parametrize("code", [1, 9, 99, 1234])
@pytest.mark.parametrize("title", ["", "x", "y" * 500, "“quoted” — dash " * 20])
def test_page_sms_is_always_one_segment_and_keeps_the_codes(code: int, title: str) -> None:
    context = {"incident_id": 987654, "service": "payments-api", "title": title, "alert_count": 3}
    text = sms_text.page_sms(context, code)
    assert sms_text.is_gsm7(text) and sms_text.segments(text) == 1
    assert text.endswith(sms_text.codes_hint(code))
    assert text.startswith("Baton #987654 payments-api: ")


def test_shadow_pages_say_so() -> None:
    text = sms_text.page_sms({"incident_id": 1, "service": "s", "title": "t", "shadow": True}, 2)
    assert text.startswith("(shadow) Baton #1 s: t Reply 2a")
