"""What a page call says and which keys it listens for (TwiML), pure.

The call reads the page and waits for one key (``gather_twiml``); the key comes back to
``VOICE_GATHER_PATH`` (``service.gather``), which answers with more TwiML built here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlencode

from twilio.twiml.voice_response import Gather, VoiceResponse

from app.integrations.twilio import sms_text
from app.notify.base import MessageKind, OutboundMessage

VOICE_GATHER_PATH = "/api/v1/twilio/voice/gather"
# Keys a callee presses during a page call.
KEY_ACKNOWLEDGE, KEY_RESOLVE, KEY_ESCALATE, KEY_REPEAT = "4", "6", "5", "*"
_V_NUMBER = re.compile(r"^[vV]\d")


def spoken_text(message: OutboundMessage) -> str:
    """What the call says; the keys to press are added by ``gather_twiml``."""
    context = message.context
    if message.kind is MessageKind.SUMMARY:
        services = ", ".join(
            f"{name}, {n}" for name, n in dict(context.get("services", {})).items()
        )
        return f"This is Baton. You have {context.get('bundled')} new pages: {services}."
    if message.kind is MessageKind.PAGE and "incident_id" in context:
        shadow = " You are shadowing this page." if context.get("shadow") else ""
        count = int(context.get("alert_count") or 1)
        alerts = f" {count} alerts." if count > 1 else ""
        title = sms_text.clip(" ".join(str(context.get("title", "")).split()), 300)
        return (
            f"This is Baton with a {context.get('urgency', '')} urgency page.{shadow} "
            f"Incident {context['incident_id']} on {context.get('service', '')}: {title}."
            f"{alerts}{spoken_deploy(context.get('deploy'))}"
        )
    return f"This is Baton. {message.text}"


def _spoken_version(version: object) -> str:
    # "v1.4.2" read aloud is "vee one point four..."; "version 1.4.2" is what a person says.
    said = sms_text.clip(" ".join(str(version).split()), 60)
    if _V_NUMBER.match(said):
        return f"version {said[1:]}"
    return said


def _minutes(n: int) -> str:
    if n < 1:
        return "less than a minute ago"
    return "1 minute ago" if n == 1 else f"{n} minutes ago"


def spoken_deploy(deploy: object) -> str:
    """The deploy the incident followed, as a sentence ("" without one), e.g. " This follows
    deploy version 1.4.2 by dina, 12 minutes ago. The previous version was 1.4.1." """
    if not isinstance(deploy, Mapping) or not deploy.get("version"):
        return ""
    said = f"deploy {_spoken_version(deploy['version'])}"
    if deploy.get("deployer"):
        said += f" by {sms_text.clip(' '.join(str(deploy['deployer']).split()), 60)}"
    said += f", {_minutes(int(deploy.get('minutes_ago') or 0))}"
    if deploy.get("verdict") == "confirmed":
        sentence = f" A responder confirmed the cause: {said}."
    else:
        sentence = f" This follows {said}."
    if deploy.get("previous_version"):
        previous = _spoken_version(deploy["previous_version"]).removeprefix("version ")
        sentence += f" The previous version was {previous}."
    return sentence


def keys_text(bundle: bool) -> str:
    if bundle:
        return "Press 4 to acknowledge all of them, or star to hear this again."
    return "Press 4 to acknowledge, 6 to resolve, 5 to escalate, or star to hear this again."


def gather_url(public_url: str, notification_id: int, step: int) -> str:
    # ``step`` makes every prompt's URL unique: a key pressed again later in the same call is
    # a new request, while a replay of the same request is recognised as one.
    return f"{public_url}{VOICE_GATHER_PATH}?{urlencode({'n': notification_id, 'step': step})}"


def gather_twiml(
    public_url: str, notification_id: int, text: str, step: int, *, bundle: bool = False
) -> str:
    """Say ``text`` and the keys, wait for one key, and say goodbye if none comes."""
    response = VoiceResponse()
    gather = Gather(
        num_digits=1,
        action=gather_url(public_url, notification_id, step),
        method="POST",
        timeout=8,
    )
    gather.say(f"{text} {keys_text(bundle)}")
    gather.pause(length=1)
    gather.say(keys_text(bundle))
    response.append(gather)
    # No <Hangup/>: the call ends with the document, and a Gather must come first anyway.
    response.say("No key was pressed. Goodbye.")
    return str(response)


def say_and_hang_up(text: str) -> str:
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return str(response)


def gather_key(public_url: str, notification_id: int, text: str, step: int) -> str:
    """Say ``text`` once and wait for a key; goodbye if none comes."""
    response = VoiceResponse()
    prompt = Gather(
        num_digits=1, action=gather_url(public_url, notification_id, step), method="POST", timeout=8
    )
    prompt.say(text)
    response.append(prompt)
    response.say("Goodbye.")
    return str(response)
