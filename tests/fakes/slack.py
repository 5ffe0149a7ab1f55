"""Fake Slack: the Web API, a response_url receiver, and users/channels as test devices.

The real ``slack_sdk`` clients talk to it with ``WebClient(token=..., base_url=fake.api_url)``
(``AsyncWebClient`` likewise). The fake keeps message state (``chat.update`` of an unknown ts
is ``message_not_found``), records every call, can fail on demand, and sends signed slash
commands, button clicks and view submissions to Baton through an injected
``httpx.AsyncClient``.

    bob = fake_slack.user("U0BOB00002", email="bob@example.test", name="bob.okafor")
    oncall = fake_slack.channel("C0ONCALL01", name="inc-payments")
    page = await oncall.expect_message("INC-1042")
    await bob.click(page, "incident_acknowledge")
    await oncall.expect_update(page, "Acknowledged by")
"""

from __future__ import annotations

import copy
import json
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from email import message_from_bytes
from email.policy import HTTP
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from slack_sdk.signature import SignatureVerifier

from tests.fakes._core import (
    DEFAULT_TIMEOUT,
    BatonLink,
    Contains,
    FakeHttpServer,
    Inbox,
    RawRequest,
    RawResponse,
    describe_contains,
    raise_problems,
    short,
    text_matches,
)

SIGNING_SECRET = "test-only-slack-signing-secret-not-real-7c2d"  # from shared/fixtures/slack
BOT_TOKEN = "xoxb-0000000000-0000000000000-testonlynotarealtoken"
VERIFICATION_TOKEN = "testonlyVerificationTokn01"
TEAM_ID = "T0EXMPL01"
TEAM_DOMAIN = "examplecorp"
TEAM_NAME = "Example Corp"
APP_ID = "A0ONCALLBOT"
BOT_ID = "B0ONCALLBOT"
BOT_USER_ID = "U0BATONBOT"
BOT_NAME = "baton"

COMMANDS_PATH = "/api/v1/slack/commands"
INTERACTIONS_PATH = "/api/v1/slack/interactions"
EVENTS_PATH = "/api/v1/slack/events"

STRICT_KINDS = frozenset({"message", "ephemeral", "update", "delete", "response", "view"})
"""Recorded kinds that ``assert_no_unexpected`` requires an expectation for."""

_TEXT_KEYS = frozenset({"text", "title", "pretext", "fallback", "footer", "alt_text"})


class SlackError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def collect_text(node: Any) -> list[str]:
    """Every human-readable string inside Block Kit / attachment structures."""
    out: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and key in _TEXT_KEYS:
                out.append(value)
            elif isinstance(value, dict | list):
                out.extend(collect_text(value))
    elif isinstance(node, list):
        for item in node:
            out.extend(collect_text(item))
    return out


def _random_id(length: int = 5) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _fill_ids(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give blocks and interactive elements the ids Slack would invent for them."""
    blocks = copy.deepcopy(blocks)
    for block in blocks:
        block.setdefault("block_id", _random_id())
        elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
        for extra in (block.get("accessory"), block.get("element")):
            if isinstance(extra, dict):
                elements.append(extra)
        for element in elements:
            if isinstance(element, dict) and element.get("type") not in (None, "image"):
                element.setdefault("action_id", _random_id())
    return blocks


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes")
    return bool(value)


def _ids(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [v.strip() for v in str(value).split(",") if v.strip()]


# --------------------------------------------------------------------------------------------
# Records and state
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class SlackMessage:
    """A message (or an event about one) as Slack would show it.

    ``kind``: ``message`` (chat.postMessage), ``ephemeral`` (chat.postEphemeral), ``update``
    (chat.update), ``delete`` (chat.delete), ``response`` (a post to a response_url).
    """

    kind: str
    channel: str
    ts: str | None
    text: str = ""
    blocks: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None
    user: str | None = None
    """DM recipient, ephemeral recipient, or the user whose action gave the response_url."""
    response_type: str | None = None
    replace_original: bool = False
    delete_original: bool = False
    target_ts: str | None = None
    """For ``response``: the ts of the message the response_url belongs to."""
    params: dict[str, Any] = field(default_factory=dict)
    recorded_at: float = 0.0
    deleted: bool = False
    consumed: bool = False

    @property
    def all_text(self) -> str:
        """``text`` plus every text inside blocks and attachments, newline-joined."""
        return "\n".join([self.text, *collect_text(self.blocks), *collect_text(self.attachments)])

    def actions(self) -> list[tuple[str | None, dict[str, Any]]]:
        """(block_id, element) for every interactive element."""
        found: list[tuple[str | None, dict[str, Any]]] = []
        for block in self.blocks:
            candidates = list(block.get("elements") or []) if block.get("type") == "actions" else []
            if isinstance(block.get("accessory"), dict):
                candidates.append(block["accessory"])
            found += [
                (block.get("block_id"), e)
                for e in candidates
                if isinstance(e, dict) and "action_id" in e
            ]
        return found

    def action(self, action_id: str) -> tuple[str | None, dict[str, Any]]:
        for block_id, element in self.actions():
            if element.get("action_id") == action_id:
                return block_id, element
        available = [e.get("action_id") for _, e in self.actions()]
        raise AssertionError(
            f"no element with action_id {action_id!r} in {self.describe()}; available: {available}"
        )

    def describe(self) -> str:
        where = f"{self.channel}" + (f" thread {self.thread_ts}" if self.thread_ts else "")
        extra = ""
        if self.kind == "response":
            flags = [self.response_type or "ephemeral"]
            flags += ["replace_original"] if self.replace_original else []
            flags += ["delete_original"] if self.delete_original else []
            extra = f" ({', '.join(flags)}) by {self.user}"
        elif self.user:
            extra = f" for {self.user}"
        return f"{self.kind} {self.ts or ''} in {where}{extra}: {short(self.all_text)!r}"


@dataclass(eq=False)
class SlackView:
    """A modal opened, pushed or updated by Baton (kind ``view``)."""

    action: str
    id: str
    user: str | None
    view: dict[str, Any]
    trigger_id: str | None
    recorded_at: float
    kind: str = "view"
    consumed: bool = False

    @property
    def callback_id(self) -> str:
        return str(self.view.get("callback_id") or "")

    @property
    def private_metadata(self) -> str:
        return str(self.view.get("private_metadata") or "")

    @property
    def all_text(self) -> str:
        return "\n".join(collect_text([self.view.get("title"), self.view.get("blocks")]))

    @property
    def blocks(self) -> list[dict[str, Any]]:
        return list(self.view.get("blocks") or [])

    def actions(self) -> list[tuple[str | None, dict[str, Any]]]:
        return SlackMessage("view", "", None, blocks=self.blocks).actions()

    def describe(self) -> str:
        return (
            f"view {self.action} {self.id} for {self.user} callback_id={self.callback_id!r}: "
            f"{short(self.all_text)!r}"
        )


SlackRecord = SlackMessage | SlackView


@dataclass(eq=False)
class SlackApiCall:
    """One Web API request the fake received."""

    method: str
    args: dict[str, Any]
    token: str | None
    http_method: str
    content_type: str
    received_at: float
    status: int | None = None
    response: Any = None

    @property
    def ok(self) -> bool:
        return isinstance(self.response, dict) and bool(self.response.get("ok"))


@dataclass(eq=False)
class SentRequest:
    """A request the fake sent to Baton (slash command, interaction, event)."""

    kind: str
    url: str
    body: bytes
    headers: dict[str, str]
    payload: Any
    response: httpx.Response | None = None
    replay_of: SentRequest | None = None


@dataclass
class SlackFailure:
    method: str | None
    error: str | None = None
    status: int = 200
    retry_after: int | None = None
    hold: float = 0.0
    deliver: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    times: int | None = 1
    hits: int = 0


@dataclass
class SlackUsergroup:
    id: str
    handle: str
    name: str
    users: list[str] = field(default_factory=list)
    description: str = ""


@dataclass
class _ResponseUrl:
    token: str
    user: str | None
    channel: str | None
    message_ts: str | None
    ephemeral: bool
    created_at: float
    uses: int = 0


@dataclass
class _Trigger:
    user: str | None
    issued: float
    used: bool = False


# --------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------


class FakeSlack(FakeHttpServer):
    name = "fake_slack"

    def __init__(
        self,
        *,
        bot_token: str = BOT_TOKEN,
        signing_secret: str = SIGNING_SECRET,
        baton_client: httpx.AsyncClient | None = None,
        public_url: str = "http://baton.test",
        commands_path: str = COMMANDS_PATH,
        interactions_path: str = INTERACTIONS_PATH,
        events_path: str = EVENTS_PATH,
        now: Callable[[], float] = time.time,
        trigger_ttl: float = 3.0,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(host=host)
        self.bot_token = bot_token
        self.extra_tokens: set[str] = set()
        self.signing_secret = signing_secret
        self.link = BatonLink(baton_client, public_url)
        self.commands_path = commands_path
        self.interactions_path = interactions_path
        self.events_path = events_path
        self.now = now
        self.trigger_ttl = trigger_ttl
        """Seconds (real time) a trigger_id stays usable for views.open (Slack: 3)."""
        self.response_url_max_uses = 5
        self.response_url_ttl = 30 * 60.0
        self.team_id, self.team_domain, self.team_name = TEAM_ID, TEAM_DOMAIN, TEAM_NAME
        self.app_id, self.bot_id, self.bot_user_id = APP_ID, BOT_ID, BOT_USER_ID
        self.verification_token = VERIFICATION_TOKEN
        self.strict_kinds: set[str] = set(STRICT_KINDS)
        self.requests: list[SlackApiCall] = []
        self.sent: list[SentRequest] = []
        self.users: dict[str, FakeSlackUser] = {}
        self.channels: dict[str, FakeSlackChannel] = {}
        self.usergroups: dict[str, SlackUsergroup] = {}
        self.views: dict[str, dict[str, Any]] = {}
        """Open views by id (the current version, as Slack returns it)."""
        self._view_stacks: dict[str, list[str]] = {}
        self._records: Inbox[SlackRecord] = Inbox(self.lock)
        self._live: dict[tuple[str, str], SlackMessage] = {}
        self._ephemeral: dict[tuple[str, str], SlackMessage] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._failures: list[SlackFailure] = []
        self._last_ts_us = 0
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.setTopic": self._conversations_set_topic,
            "users.lookupByEmail": self._users_lookup_by_email,
            "users.info": self._users_info,
            "usergroups.list": self._usergroups_list,
            "usergroups.users.list": self._usergroups_users_list,
            "usergroups.users.update": self._usergroups_users_update,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
        }

    # -- wiring ------------------------------------------------------------------------------

    def connect(self, baton_client: httpx.AsyncClient, public_url: str | None = None) -> FakeSlack:
        """Send requests to Baton through ``baton_client``; URLs are built on ``public_url``."""
        self.link = BatonLink(baton_client, public_url or self.link.public_url)
        return self

    @property
    def api_url(self) -> str:
        """``base_url`` for ``WebClient``/``AsyncWebClient`` (like https://slack.com/api/)."""
        return self.url + "/api/"

    @property
    def public_url(self) -> str:
        return self.link.public_url

    # -- directory ---------------------------------------------------------------------------

    def add_user(
        self,
        id: str,
        email: str | None = None,
        name: str | None = None,
        tz: str = "UTC",
        *,
        real_name: str | None = None,
        deleted: bool = False,
    ) -> FakeSlackUser:
        with self.lock:
            user = FakeSlackUser(
                self,
                id,
                email=email,
                name=name or id.lower(),
                tz=tz,
                real_name=real_name,
                deleted=deleted,
            )
            self.users[id] = user
            return user

    def user(self, id: str, **fields: Any) -> FakeSlackUser:
        """The user device for ``id``, registering it (or updating the given fields)."""
        with self.lock:
            user = self.users.get(id)
            if user is None:
                return self.add_user(id, **fields)
            for key, value in fields.items():
                setattr(user, key, value)
            return user

    def add_channel(
        self,
        id: str,
        name: str | None = None,
        *,
        is_member: bool = True,
        is_private: bool = False,
    ) -> FakeSlackChannel:
        with self.lock:
            channel = FakeSlackChannel(
                self, id, name=name or id.lower(), is_member=is_member, is_private=is_private
            )
            self.channels[id] = channel
            return channel

    def channel(self, id: str, **fields: Any) -> FakeSlackChannel:
        """The channel device for ``id`` (C..., G... or D...), registering it if needed."""
        with self.lock:
            channel = self.channels.get(id)
            if channel is None:
                return self.add_channel(id, **fields)
            for key, value in fields.items():
                setattr(channel, key, value)
            return channel

    def add_usergroup(
        self,
        id: str,
        handle: str,
        name: str | None = None,
        users: Sequence[str] = (),
    ) -> SlackUsergroup:
        with self.lock:
            group = SlackUsergroup(id, handle, name or handle, list(users))
            self.usergroups[id] = group
            return group

    def dm_channel_id(self, user_id: str) -> str:
        return "D" + user_id[1:]

    def _open_dm(self, user_id: str) -> tuple[FakeSlackChannel, bool]:
        channel_id = self.dm_channel_id(user_id)
        existing = self.channels.get(channel_id)
        if existing is not None:
            return existing, True
        channel = FakeSlackChannel(
            self, channel_id, name=channel_id, is_member=True, is_im=True, im_user=user_id
        )
        self.channels[channel_id] = channel
        return channel, False

    # -- message state -----------------------------------------------------------------------

    def current(self, message: SlackMessage) -> SlackMessage:
        """The live version of a message (after updates), or the record itself."""
        if message.ts is None:
            return message
        with self.lock:
            key = (message.channel, message.ts)
            return self._live.get(key) or self._ephemeral.get(key) or message

    def get_message(self, channel: str, ts: str) -> SlackMessage:
        with self.lock:
            return self._live[(channel, ts)]

    def messages_in(self, channel: str) -> list[SlackMessage]:
        with self.lock:
            return [m for (c, _), m in self._live.items() if c == channel and not m.deleted]

    @property
    def records(self) -> list[SlackRecord]:
        return self._records.all()

    def calls(self, method: str | None = None) -> list[SlackApiCall]:
        with self.lock:
            return [c for c in self.requests if method is None or c.method == method]

    def _next_ts(self) -> str:
        with self.lock:
            us = max(self._last_ts_us + 100, round(self.now() * 1_000_000))
            self._last_ts_us = us
        return f"{us // 1_000_000}.{us % 1_000_000:06d}"

    def _record(self, record: SlackRecord) -> None:
        self._records.add(record)

    # -- failure injection -------------------------------------------------------------------

    def _add_failure(self, rule: SlackFailure) -> SlackFailure:
        with self.lock:
            self._failures.append(rule)
        return rule

    def fail(
        self, method: str | None, error: str, *, times: int | None = 1, **extra: Any
    ) -> SlackFailure:
        """Answer ``ok: false`` with ``error`` (HTTP 200) to the next ``times`` calls.

        ``method=None`` matches every method; ``extra`` adds fields (``needed=``, ``provided=``).
        """
        return self._add_failure(SlackFailure(method, error=error, extra=extra, times=times))

    def rate_limit(
        self, method: str | None, retry_after: int = 1, *, times: int | None = 1
    ) -> SlackFailure:
        """HTTP 429 with ``Retry-After`` and ``{"ok": false, "error": "ratelimited"}``."""
        return self._add_failure(
            SlackFailure(
                method, error="ratelimited", status=429, retry_after=retry_after, times=times
            )
        )

    def server_error(
        self, method: str | None, *, status: int = 500, times: int | None = 1
    ) -> SlackFailure:
        return self._add_failure(
            SlackFailure(method, error="fatal_error", status=status, times=times)
        )

    def hold(
        self, method: str | None, seconds: float, *, times: int | None = 1, deliver: bool = False
    ) -> SlackFailure:
        """Hold the response ``seconds``, then drop it (``deliver=True``: then process it)."""
        return self._add_failure(SlackFailure(method, hold=seconds, deliver=deliver, times=times))

    def clear_failures(self) -> None:
        with self.lock:
            self._failures.clear()

    def _take_failure(self, method: str) -> SlackFailure | None:
        with self.lock:
            for rule in self._failures:
                if rule.method not in (None, method):
                    continue
                rule.hits += 1
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self._failures.remove(rule)
                return rule
        return None

    # -- HTTP --------------------------------------------------------------------------------

    def handle(self, request: RawRequest) -> RawResponse:
        if request.path.startswith("/hooks/"):
            return self._hook(request)
        if not request.path.startswith("/api/"):
            return RawResponse.text("not found", status=404)
        method = request.path[len("/api/") :]
        try:
            args = self._parse_args(request)
        except ValueError:
            args = None
        token = None
        auth = request.header("Authorization") or ""
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        elif args:
            token = args.pop("token", None)
        call = SlackApiCall(
            method=method,
            args=args or {},
            token=token,
            http_method=request.method,
            content_type=request.content_type,
            received_at=self.now(),
        )
        with self.lock:
            self.requests.append(call)
        response = self._api(method, args, token)
        call.status = None if response.drop else response.status
        if response.body:
            try:
                call.response = json.loads(response.body)
            except ValueError:
                call.response = response.body.decode("utf-8", "replace")
        return response

    def _parse_args(self, request: RawRequest) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query_params)
        ctype = request.content_type
        if not request.body:
            return args
        if ctype == "application/json":
            body = json.loads(request.body)
            if not isinstance(body, dict):
                raise ValueError("JSON body must be an object")
            args.update(body)
        elif ctype == "application/x-www-form-urlencoded":
            args.update(dict(request.form()))
        elif ctype == "multipart/form-data":
            header = f"Content-Type: {request.header('Content-Type')}\r\n\r\n".encode()
            message = message_from_bytes(header + request.body, policy=HTTP)
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if name and not part.get_filename():
                    args[str(name)] = part.get_content()
        return args

    def _fail(self, error: str, status: int = 200, **extra: Any) -> RawResponse:
        return RawResponse.json({"ok": False, "error": error, **extra}, status=status)

    def _api(self, method: str, args: dict[str, Any] | None, token: str | None) -> RawResponse:
        handler = self._methods.get(method)
        if handler is None:
            return self._fail("unknown_method", req_method=method)
        if args is None:
            return self._fail("invalid_json")
        if not token:
            return self._fail("not_authed")
        if token != self.bot_token and token not in self.extra_tokens:
            return self._fail("invalid_auth")
        rule = self._take_failure(method)
        if rule is not None:
            if rule.hold:
                if self.hold_request(rule.hold) or not rule.deliver:
                    return RawResponse(drop=True)
            else:
                headers = (
                    {"Retry-After": str(rule.retry_after)} if rule.retry_after is not None else {}
                )
                response = self._fail(rule.error or "fatal_error", status=rule.status, **rule.extra)
                response.headers.update(headers)
                return response
        try:
            with self.lock:
                result = handler(args)
        except SlackError as exc:
            return self._fail(exc.error, **exc.extra)
        return RawResponse.json({"ok": True, **result})

    # -- argument helpers --------------------------------------------------------------------

    @staticmethod
    def _json_arg(args: dict[str, Any], key: str, error: str) -> Any:
        value = args.get(key)
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                return json.loads(value)
            except ValueError:
                raise SlackError(error) from None
        return value

    def _content(
        self, args: dict[str, Any]
    ) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
        text = str(args.get("text") or "")
        blocks = self._json_arg(args, "blocks", "invalid_blocks") or []
        attachments = self._json_arg(args, "attachments", "invalid_attachments") or []
        if (
            not isinstance(blocks, list)
            or len(blocks) > 50
            or not all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in blocks)
        ):
            raise SlackError("invalid_blocks")
        if not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments):
            raise SlackError("invalid_attachments")
        if len(text) > 40000:
            raise SlackError("msg_too_long")
        return text, _fill_ids(blocks), attachments

    def _resolve_channel(self, ref: Any) -> FakeSlackChannel:
        ref = str(ref or "")
        if not ref:
            raise SlackError("channel_not_found")
        if ref.startswith("#"):
            for channel in self.channels.values():
                if channel.name == ref[1:]:
                    return channel
            raise SlackError("channel_not_found")
        if ref[0] in "UW" and ref in self.users:
            return self._open_dm(ref)[0]
        channel = self.channels.get(ref)
        if channel is None:
            raise SlackError("channel_not_found")
        return channel

    def _user_obj(self, user_id: str) -> FakeSlackUser:
        user = self.users.get(user_id)
        if user is None:
            raise SlackError("user_not_found")
        return user

    # -- JSON shapes -------------------------------------------------------------------------

    def message_json(self, msg: SlackMessage) -> dict[str, Any]:
        """The message object as Slack returns it (and embeds it in block_actions)."""
        data: dict[str, Any] = {
            "bot_id": self.bot_id,
            "type": "message",
            "subtype": "bot_message",
            "app_id": self.app_id,
            "text": msg.text,
            "ts": msg.ts,
        }
        if msg.thread_ts:
            data["thread_ts"] = msg.thread_ts
        data["team"] = self.team_id
        if msg.blocks:
            data["blocks"] = msg.blocks
        if msg.attachments:
            data["attachments"] = msg.attachments
        return data

    def user_json(self, user: FakeSlackUser) -> dict[str, Any]:
        try:
            offset = datetime.fromtimestamp(self.now(), ZoneInfo(user.tz)).utcoffset()
        except ZoneInfoNotFoundError:
            offset = None
        return {
            "id": user.id,
            "team_id": self.team_id,
            "name": user.name,
            "deleted": user.deleted,
            "real_name": user.real_name,
            "tz": user.tz,
            "tz_label": user.tz,
            "tz_offset": int(offset.total_seconds()) if offset else 0,
            "is_admin": False,
            "is_bot": False,
            "is_app_user": False,
            "profile": {
                "real_name": user.real_name,
                "display_name": user.name,
                "email": user.email,
                "team": self.team_id,
            },
        }

    def channel_json(self, channel: FakeSlackChannel) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": channel.id,
            "name": channel.name,
            "is_channel": not channel.is_im and not channel.is_private,
            "is_private": channel.is_private,
            "is_im": channel.is_im,
            "is_member": channel.is_member,
            "topic": {
                "value": channel.topic,
                "creator": channel.topic_creator,
                "last_set": channel.topic_set_at,
            },
        }
        if channel.is_im:
            data["user"] = channel.im_user
        return data

    def usergroup_json(self, group: SlackUsergroup, include_users: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": group.id,
            "team_id": self.team_id,
            "is_usergroup": True,
            "name": group.name,
            "description": group.description,
            "handle": group.handle,
            "user_count": len(group.users),
        }
        if include_users:
            data["users"] = list(group.users)
        return data

    # -- Web API methods (called with self.lock held) ---------------------------------------

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": BOT_NAME,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _new_message(
        self, kind: str, channel: FakeSlackChannel, user: str | None, args: dict[str, Any]
    ) -> SlackMessage:
        text, blocks, attachments = self._content(args)
        if not (text or blocks or attachments):
            raise SlackError("no_text")
        return SlackMessage(
            kind=kind,
            channel=channel.id,
            ts=self._next_ts(),
            text=text,
            blocks=blocks,
            attachments=attachments,
            thread_ts=str(args["thread_ts"]) if args.get("thread_ts") else None,
            user=user,
            params=dict(args),
            recorded_at=self.now(),
        )

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        if not channel.is_member:
            raise SlackError("not_in_channel")
        msg = self._new_message("message", channel, channel.im_user, args)
        self._live[(channel.id, msg.ts or "")] = msg
        self._record(replace(msg))
        return {"channel": channel.id, "ts": msg.ts, "message": self.message_json(msg)}

    def _live_message(self, args: dict[str, Any], ts_key: str = "ts") -> SlackMessage:
        channel = self._resolve_channel(args.get("channel"))
        msg = self._live.get((channel.id, str(args.get(ts_key) or "")))
        if msg is None or msg.deleted:
            raise SlackError("message_not_found")
        return msg

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        msg = self._live_message(args)
        text, blocks, attachments = self._content(args)
        if "text" in args:
            msg.text = text
        if "blocks" in args:
            msg.blocks = blocks
        if "attachments" in args:
            msg.attachments = attachments
        if not (msg.text or msg.blocks or msg.attachments):
            raise SlackError("no_text")
        self._record(
            replace(msg, kind="update", params=dict(args), recorded_at=self.now(), consumed=False)
        )
        message = self.message_json(msg)
        del message["ts"]
        return {"channel": msg.channel, "ts": msg.ts, "text": msg.text, "message": message}

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        msg = self._live_message(args)
        msg.deleted = True
        self._record(
            replace(msg, kind="delete", params=dict(args), recorded_at=self.now(), consumed=False)
        )
        return {"channel": msg.channel, "ts": msg.ts}

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        user = self._user_obj(str(args.get("user") or ""))
        msg = self._new_message("ephemeral", channel, user.id, args)
        self._ephemeral[(channel.id, msg.ts or "")] = msg
        self._record(replace(msg))
        return {"message_ts": msg.ts}

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        msg = self._live_message(args, "message_ts")
        stamp = (msg.ts or "").replace(".", "")
        link = f"https://{self.team_domain}.slack.com/archives/{msg.channel}/p{stamp}"
        if msg.thread_ts:
            link += f"?thread_ts={msg.thread_ts}&cid={msg.channel}"
        return {"channel": msg.channel, "permalink": link}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("channel"):
            channel = self._resolve_channel(args["channel"])
            return {
                "channel": self.channel_json(channel)
                if _truthy(args.get("return_im"))
                else {"id": channel.id}
            }
        users = _ids(args.get("users"))
        if not users:
            raise SlackError("users_list_not_supplied")
        for user_id in users:
            self._user_obj(user_id)
        if len(users) == 1:
            channel, existed = self._open_dm(users[0])
        else:
            channel_id = "G" + secrets.token_hex(5).upper()
            channel = self.channels.get(channel_id) or self.add_channel(channel_id, is_private=True)
            existed = False
        result: dict[str, Any] = {
            "channel": self.channel_json(channel)
            if _truthy(args.get("return_im"))
            else {"id": channel.id}
        }
        if existed:
            result.update({"no_op": True, "already_open": True})
        return result

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"channel": self.channel_json(self._resolve_channel(args.get("channel")))}

    def _conversations_set_topic(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"))
        if not channel.is_member:
            raise SlackError("not_in_channel")
        topic = str(args.get("topic") or "")
        if len(topic) > 250:
            raise SlackError("too_long")
        channel.topic = topic
        channel.topic_creator = self.bot_user_id
        channel.topic_set_at = int(self.now())
        channel.topic_history.append(topic)
        return {"channel": self.channel_json(channel)}

    def _users_lookup_by_email(self, args: dict[str, Any]) -> dict[str, Any]:
        email = str(args.get("email") or "").lower()
        for user in self.users.values():
            if user.email and user.email.lower() == email and not user.deleted:
                return {"user": self.user_json(user)}
        raise SlackError("users_not_found")

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"user": self.user_json(self._user_obj(str(args.get("user") or "")))}

    def _usergroups_list(self, args: dict[str, Any]) -> dict[str, Any]:
        include = _truthy(args.get("include_users"))
        return {"usergroups": [self.usergroup_json(g, include) for g in self.usergroups.values()]}

    def _usergroup(self, args: dict[str, Any]) -> SlackUsergroup:
        group = self.usergroups.get(str(args.get("usergroup") or ""))
        if group is None:
            raise SlackError("no_such_subteam")
        return group

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"users": list(self._usergroup(args).users)}

    def _usergroups_users_update(self, args: dict[str, Any]) -> dict[str, Any]:
        group = self._usergroup(args)
        users = _ids(args.get("users"))
        if not users or any(u not in self.users or self.users[u].deleted for u in users):
            raise SlackError("invalid_users")
        group.users = users
        return {"usergroup": self.usergroup_json(group)}

    # views

    def new_trigger(self, user_id: str | None) -> str:
        trigger_id = f"{secrets.randbelow(10**13):013d}.1234567890123.{secrets.token_hex(16)}"
        with self.lock:
            self._triggers[trigger_id] = _Trigger(user_id, time.monotonic())
        return trigger_id

    def _use_trigger(self, args: dict[str, Any]) -> _Trigger:
        trigger = self._triggers.get(str(args.get("trigger_id") or ""))
        if trigger is None:
            raise SlackError("invalid_trigger_id")
        if trigger.used:
            raise SlackError("exchanged_trigger_id")
        if time.monotonic() - trigger.issued > self.trigger_ttl:
            raise SlackError("expired_trigger_id")
        trigger.used = True
        return trigger

    def _view_arg(self, args: dict[str, Any]) -> dict[str, Any]:
        view = self._json_arg(args, "view", "invalid_arguments")
        if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
            raise SlackError("invalid_arguments")
        if view["type"] == "modal" and not isinstance(view.get("title"), dict):
            raise SlackError("invalid_arguments")
        blocks = view.get("blocks") or []
        if not isinstance(blocks, list) or not all(
            isinstance(b, dict) and "type" in b for b in blocks
        ):
            raise SlackError("invalid_arguments")
        return view

    def _view_json(
        self, view_id: str, view: dict[str, Any], *, root: str, previous: str | None
    ) -> dict[str, Any]:
        return {
            "id": view_id,
            "team_id": self.team_id,
            "type": view.get("type"),
            "blocks": _fill_ids(list(view.get("blocks") or [])),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(self.now())}.{secrets.token_hex(4)}",
            "title": view.get("title"),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "previous_view_id": previous,
            "root_view_id": root,
            "app_id": self.app_id,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }

    def _new_view(self, action: str, args: dict[str, Any], *, stack_push: bool) -> dict[str, Any]:
        view = self._view_arg(args)
        trigger = self._use_trigger(args)
        user = trigger.user or ""
        stack = self._view_stacks.setdefault(user, [])
        if stack_push:
            if not stack:
                raise SlackError("not_found")
            if len(stack) >= 3:
                raise SlackError("push_limit_reached")
        else:
            for old in stack:
                self.views.pop(old, None)
            stack.clear()
        view_id = "V" + secrets.token_hex(5).upper()
        data = self._view_json(
            view_id,
            view,
            root=stack[0] if stack else view_id,
            previous=stack[-1] if stack else None,
        )
        stack.append(view_id)
        self.views[view_id] = data
        self._record(
            SlackView(
                action,
                view_id,
                trigger.user,
                copy.deepcopy(data),
                str(args.get("trigger_id")),
                self.now(),
            )
        )
        return {"view": data}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._new_view("open", args, stack_push=False)

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._new_view("push", args, stack_push=True)

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = str(args.get("view_id") or "")
        if not view_id and args.get("external_id"):
            view_id = next(
                (i for i, v in self.views.items() if v.get("external_id") == args["external_id"]),
                "",
            )
        current = self.views.get(view_id)
        if current is None:
            raise SlackError("not_found")
        if args.get("hash") and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        data = self._view_json(
            view_id,
            self._view_arg(args),
            root=current["root_view_id"],
            previous=current["previous_view_id"],
        )
        self.views[view_id] = data
        owner = next((u for u, stack in self._view_stacks.items() if view_id in stack), None)
        self._record(SlackView("update", view_id, owner, copy.deepcopy(data), None, self.now()))
        return {"view": data}

    def close_view(self, view_id: str, *, all_views: bool = False) -> None:
        with self.lock:
            for stack in self._view_stacks.values():
                if view_id in stack:
                    doomed = list(stack) if all_views else [view_id]
                    for vid in doomed:
                        stack.remove(vid)
                        self.views.pop(vid, None)

    # -- response_url receiver ---------------------------------------------------------------

    def new_response_url(
        self,
        *,
        user_id: str | None = None,
        channel_id: str | None = None,
        message_ts: str | None = None,
        ephemeral: bool = False,
    ) -> str:
        """An URL on the fake standing in for hooks.slack.com; posts to it are recorded."""
        token = secrets.token_urlsafe(18)
        with self.lock:
            self._response_urls[token] = _ResponseUrl(
                token, user_id, channel_id, message_ts, ephemeral, self.now()
            )
        return f"{self.url}/hooks/{token}"

    def _hook(self, request: RawRequest) -> RawResponse:
        token = request.path[len("/hooks/") :]
        with self.lock:
            binding = self._response_urls.get(token)
        if binding is None:
            return RawResponse.text("no_service", status=404)
        if request.method != "POST":
            return RawResponse.text("invalid_method", status=405)
        try:
            if request.content_type == "application/x-www-form-urlencoded":
                payload = json.loads(dict(request.form()).get("payload", ""))
            else:
                payload = json.loads(request.body)
            if not isinstance(payload, dict):
                raise ValueError
        except ValueError:
            return RawResponse.text("invalid_payload", status=400)
        with self.lock:
            if (
                binding.uses >= self.response_url_max_uses
                or self.now() - binding.created_at > self.response_url_ttl
            ):
                return RawResponse.text("used_url", status=404)
            binding.uses += 1
            try:
                text, blocks, attachments = self._content(payload)
            except SlackError as exc:
                return RawResponse.text(exc.error, status=400)
            record = SlackMessage(
                kind="response",
                channel=binding.channel or "",
                ts=None,
                text=text,
                blocks=blocks,
                attachments=attachments,
                thread_ts=payload.get("thread_ts"),
                user=binding.user,
                response_type=payload.get("response_type") or "ephemeral",
                replace_original=_truthy(payload.get("replace_original")),
                delete_original=_truthy(payload.get("delete_original")),
                target_ts=binding.message_ts,
                params=payload,
                recorded_at=self.now(),
            )
            live = self._live.get((binding.channel or "", binding.message_ts or ""))
            if live is not None and not binding.ephemeral:
                if record.delete_original:
                    live.deleted = True
                elif record.replace_original:
                    live.text, live.blocks, live.attachments = text, blocks, attachments
            if (
                record.response_type == "in_channel"
                and not record.replace_original
                and not record.delete_original
                and binding.channel
            ):
                record.ts = self._next_ts()
                self._live[(binding.channel, record.ts)] = replace(
                    record, kind="message", user=None
                )
            self._record(record)
        return RawResponse.text("ok", content_type="text/html")

    # -- requests to Baton -------------------------------------------------------------------

    def sign(self, body: bytes | str, timestamp: str, secret: str | None = None) -> str:
        verifier = SignatureVerifier(secret or self.signing_secret)
        return verifier.generate_signature(timestamp=timestamp, body=body) or ""

    async def send_signed(
        self,
        url: str,
        body: bytes,
        *,
        content_type: str = "application/x-www-form-urlencoded",
        kind: str = "raw",
        payload: Any = None,
        timestamp: int | str | None = None,
        stale: bool = False,
        signature: str = "valid",
        secret: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
    ) -> httpx.Response:
        """POST ``body`` to Baton (``url``: path under the public URL, or absolute) as Slack.

        ``timestamp`` defaults to ``now()``; ``stale=True`` uses ``now() - 600``.
        ``signature``: ``"valid"``, ``"bad"`` (wrong secret), ``"missing"`` (no header) or a
        literal header value. ``retry_num`` adds ``X-Slack-Retry-Num``/``-Reason``.
        """
        absolute = self.link.absolute(url)
        ts = (
            str(timestamp)
            if timestamp is not None
            else str(int(self.now()) - (600 if stale else 0))
        )
        headers = {
            "Content-Type": content_type,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            "X-Slack-Request-Timestamp": ts,
        }
        if signature == "valid":
            headers["X-Slack-Signature"] = self.sign(body, ts, secret)
        elif signature == "bad":
            headers["X-Slack-Signature"] = self.sign(body, ts, "not-the-signing-secret")
        elif signature != "missing":
            headers["X-Slack-Signature"] = signature
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason
        response = await self.link.request("POST", absolute, content=body, headers=headers)
        with self.lock:
            self.sent.append(SentRequest(kind, absolute, body, headers, payload, response))
        return response

    async def replay(
        self,
        sent: SentRequest | None = None,
        *,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
    ) -> httpx.Response:
        """Send the exact same request again: same body, timestamp and signature."""
        with self.lock:
            original = sent or self.sent[-1]
        headers = {k: v for k, v in original.headers.items() if not k.startswith("X-Slack-Retry")}
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason
        response = await self.link.request(
            "POST", original.url, content=original.body, headers=headers
        )
        with self.lock:
            self.sent.append(
                SentRequest(
                    original.kind,
                    original.url,
                    original.body,
                    headers,
                    original.payload,
                    response,
                    replay_of=original,
                )
            )
        return response

    async def send_event(
        self, event: dict[str, Any], *, event_id: str | None = None, **send: Any
    ) -> httpx.Response:
        """POST an Events API ``event_callback`` (JSON) to the events path."""
        payload = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or "Ev" + secrets.token_hex(5).upper(),
            "event_time": int(self.now()),
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        return await self.send_signed(
            self.events_path,
            body,
            content_type="application/json",
            kind="event",
            payload=payload,
            **send,
        )

    def _action_ts(self) -> str:
        us = round(self.now() * 1_000_000)
        return f"{us // 1_000_000}.{us % 1_000_000:06d}"

    # -- checks ------------------------------------------------------------------------------

    def _strict(self, record: SlackRecord) -> bool:
        return record.kind in self.strict_kinds

    def assert_no_unexpected(self) -> None:
        problems = [f"unexpected {r.describe()}" for r in self._records.unconsumed(self._strict)]
        problems += self._problems()
        raise_problems("fake_slack: unexpected traffic", problems)

    def assert_nothing_sent(self) -> None:
        """Fail if a message exists that no expectation consumed (an immediate check: bring
        the sender to rest first)."""
        self._records.check_none_unconsumed("fake_slack", self._strict)


# --------------------------------------------------------------------------------------------
# Devices
# --------------------------------------------------------------------------------------------


class FakeSlackUser:
    """A Slack user: registry entry (users.lookupByEmail, users.info) and test device."""

    def __init__(
        self,
        fake: FakeSlack,
        id: str,
        *,
        email: str | None,
        name: str,
        tz: str,
        real_name: str | None,
        deleted: bool,
    ) -> None:
        self.fake = fake
        self.id = id
        self.email = email
        self.name = name
        self.tz = tz
        self.real_name = real_name or name
        self.deleted = deleted

    def __repr__(self) -> str:
        return f"FakeSlackUser({self.id!r}, name={self.name!r})"

    @property
    def dm_channel(self) -> str:
        return self.fake.dm_channel_id(self.id)

    @property
    def open_views(self) -> list[dict[str, Any]]:
        with self.fake.lock:
            return [self.fake.views[v] for v in self.fake._view_stacks.get(self.id, [])]

    # -- expectations ------------------------------------------------------------------------

    def _mine(self, r: SlackRecord) -> bool:
        return r.user == self.id

    async def _expect(
        self,
        where: Callable[[Any], bool],
        contains: Contains,
        timeout: float,  # noqa: ASYNC109
        what: str,
    ) -> Any:
        return await self.fake._records.expect(
            lambda r: where(r) and text_matches(r.all_text, contains),
            timeout=timeout,
            what=f"{what} for {self.id} {describe_contains(contains)}",
            scope=self._mine,
        )

    async def expect_dm(
        self,
        contains: Contains = None,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109
    ) -> SlackMessage:
        """A message posted in this user's DM with the bot (channel D... or U...)."""
        return await self._expect(
            lambda r: r.kind == "message" and r.user == self.id and r.channel == self.dm_channel,
            contains,
            timeout,
            "a DM",
        )

    async def expect_ephemeral(
        self,
        contains: Contains = None,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109
    ) -> SlackMessage:
        """chat.postEphemeral to this user, or an ephemeral post to a response_url of theirs."""
        return await self._expect(
            lambda r: (
                r.user == self.id
                and (
                    r.kind == "ephemeral"
                    or (
                        r.kind == "response"
                        and r.response_type != "in_channel"
                        and not r.replace_original
                        and not r.delete_original
                    )
                )
            ),
            contains,
            timeout,
            "an ephemeral message",
        )

    async def expect_response(
        self,
        contains: Contains = None,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109
    ) -> SlackMessage:
        """Any post to a response_url given with this user's slash command or click."""
        return await self._expect(
            lambda r: r.kind == "response" and r.user == self.id,
            contains,
            timeout,
            "a response_url post",
        )

    async def expect_view(
        self,
        contains: Contains = None,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109
        *,
        callback_id: str | None = None,
    ) -> SlackView:
        """A modal opened or pushed for this user (views.open / views.push)."""
        return await self._expect(
            lambda r: (
                r.kind == "view"
                and r.user == self.id
                and r.action in ("open", "push")
                and (callback_id is None or r.callback_id == callback_id)
            ),
            contains,
            timeout,
            "a view",
        )

    def assert_no_unexpected(self) -> None:
        """Fail if a DM, ephemeral, response_url post or view for this user was not consumed."""
        self.fake._records.check_none_unconsumed(
            f"user {self.id}", lambda r: self._mine(r) and self.fake._strict(r)
        )

    def assert_nothing_sent(self) -> None:
        """``assert_no_unexpected``, named for the check after the sender was brought to rest."""
        self.assert_no_unexpected()

    # -- actions -----------------------------------------------------------------------------

    def _user_payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.name,
            "name": self.name,
            "team_id": self.fake.team_id,
        }

    def _channel_name(self, channel_id: str) -> str:
        channel = self.fake.channels.get(channel_id)
        if channel is None:
            return channel_id.lower()
        return "directmessage" if channel.is_im else channel.name

    async def slash(
        self,
        text: str,
        command: str = "/baton",
        channel: str = "C0ONCALL01",
        *,
        response_url: str | None = None,
        trigger_id: str | None = None,
        **send: Any,
    ) -> httpx.Response:
        """Run a slash command; the form body has the fields and order Slack sends."""
        fields = [
            ("token", self.fake.verification_token),
            ("team_id", self.fake.team_id),
            ("team_domain", self.fake.team_domain),
            ("channel_id", channel),
            ("channel_name", self._channel_name(channel)),
            ("user_id", self.id),
            ("user_name", self.name),
            ("command", command),
            ("text", text),
            ("api_app_id", self.fake.app_id),
            ("is_enterprise_install", "false"),
            (
                "response_url",
                response_url or self.fake.new_response_url(user_id=self.id, channel_id=channel),
            ),
            ("trigger_id", trigger_id or self.fake.new_trigger(self.id)),
        ]
        body = urlencode(fields).encode()
        return await self.fake.send_signed(
            self.fake.commands_path, body, kind="slash", payload=dict(fields), **send
        )

    def block_actions_payload(
        self,
        target: SlackMessage | SlackView,
        action_id: str,
        value: Any = None,
        *,
        trigger_id: str | None = None,
        response_url: str | None = None,
        action_ts: str | None = None,
    ) -> dict[str, Any]:
        """The ``block_actions`` payload for clicking ``action_id`` on a message or view."""
        fake = self.fake
        if isinstance(target, SlackView):
            view = fake.views.get(target.id) or target.view
            holder = SlackMessage("view", "", None, blocks=list(view.get("blocks") or []))
        else:
            holder = fake.current(target)
            view = None
        block_id, element = holder.action(action_id)
        action: dict[str, Any] = {"action_id": action_id, "block_id": block_id}
        if "text" in element:
            action["text"] = element["text"]
        etype = element.get("type")
        if etype in ("static_select", "external_select", "radio_buttons", "overflow"):
            action["selected_option"] = _option(element, value)
        elif etype in ("multi_static_select", "checkboxes"):
            action["selected_options"] = [_option(element, v) for v in (value or [])]
        elif etype in _SELECTED_KEY:
            action[_SELECTED_KEY[etype]] = value
        elif value is not None or "value" in element:
            action["value"] = value if value is not None else element["value"]
        if "style" in element:
            action["style"] = element["style"]
        action["type"] = etype
        action["action_ts"] = action_ts or fake._action_ts()
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user_payload(),
            "api_app_id": fake.app_id,
            "token": fake.verification_token,
        }
        trigger = trigger_id or fake.new_trigger(self.id)
        team = {"id": fake.team_id, "domain": fake.team_domain}
        if view is not None:
            payload.update(
                {
                    "container": {"type": "view", "view_id": view.get("id")},
                    "trigger_id": trigger,
                    "team": team,
                    "enterprise": None,
                    "is_enterprise_install": False,
                    "view": view,
                    "actions": [action],
                }
            )
            return payload
        ephemeral = holder.kind == "ephemeral"
        payload.update(
            {
                "container": {
                    "type": "message",
                    "message_ts": holder.ts,
                    "channel_id": holder.channel,
                    "is_ephemeral": ephemeral,
                },
                "trigger_id": trigger,
                "team": team,
                "enterprise": None,
                "is_enterprise_install": False,
                "channel": {"id": holder.channel, "name": self._channel_name(holder.channel)},
            }
        )
        if not ephemeral:
            payload["message"] = fake.message_json(holder)
        payload["state"] = {"values": {}}
        payload["response_url"] = response_url or fake.new_response_url(
            user_id=self.id, channel_id=holder.channel, message_ts=holder.ts, ephemeral=ephemeral
        )
        payload["actions"] = [action]
        return payload

    async def click(
        self,
        target: SlackMessage | SlackView,
        action_id: str,
        value: Any = None,
        *,
        trigger_id: str | None = None,
        response_url: str | None = None,
        action_ts: str | None = None,
        **send: Any,
    ) -> httpx.Response:
        """Press a button (or pick a select option) on a message or an open modal."""
        payload = self.block_actions_payload(
            target,
            action_id,
            value,
            trigger_id=trigger_id,
            response_url=response_url,
            action_ts=action_ts,
        )
        body = urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()
        return await self.fake.send_signed(
            self.fake.interactions_path, body, kind="block_actions", payload=payload, **send
        )

    async def submit_view(
        self,
        view: SlackView | str | Mapping[str, Any],
        values: Mapping[str, Any] | None = None,
        *,
        trigger_id: str | None = None,
        **send: Any,
    ) -> httpx.Response:
        """Submit a modal. ``values``: ``{action_id or block_id: value}`` or raw state.values.

        Applies Baton's ``response_action``: empty/``clear`` closes, ``update`` replaces,
        ``push`` pushes, ``errors`` keeps the view open.
        """
        fake = self.fake
        if isinstance(view, SlackView):
            view_id = view.id
        elif isinstance(view, str):
            view_id = view
        else:
            view_id = str(view["id"])
        with fake.lock:
            current = copy.deepcopy(fake.views.get(view_id))
        if current is None:
            raise AssertionError(f"view {view_id} is not open (open views: {list(fake.views)})")
        current["state"] = {"values": build_state_values(current, values)}
        payload = {
            "type": "view_submission",
            "team": {"id": fake.team_id, "domain": fake.team_domain},
            "user": self._user_payload(),
            "api_app_id": fake.app_id,
            "token": fake.verification_token,
            "trigger_id": trigger_id or fake.new_trigger(self.id),
            "view": current,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        body = urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()
        response = await fake.send_signed(
            fake.interactions_path, body, kind="view_submission", payload=payload, **send
        )
        if response.status_code == 200:
            self._apply_response_action(view_id, response)
        return response

    def _apply_response_action(self, view_id: str, response: httpx.Response) -> None:
        fake = self.fake
        try:
            answer = response.json() if response.content.strip() else {}
        except ValueError:
            answer = {}
        action = answer.get("response_action") if isinstance(answer, dict) else None
        if action in (None, "clear"):
            fake.close_view(view_id, all_views=action == "clear")
        elif action == "update" and isinstance(answer.get("view"), dict):
            with fake.lock:
                old = fake.views[view_id]
                fake.views[view_id] = fake._view_json(
                    view_id,
                    answer["view"],
                    root=old["root_view_id"],
                    previous=old["previous_view_id"],
                )
        elif action == "push" and isinstance(answer.get("view"), dict):
            with fake.lock:
                stack = fake._view_stacks.setdefault(self.id, [])
                new_id = "V" + secrets.token_hex(5).upper()
                fake.views[new_id] = fake._view_json(
                    new_id, answer["view"], root=stack[0] if stack else new_id, previous=view_id
                )
                stack.append(new_id)


class FakeSlackChannel:
    """A channel (or DM) as a test device."""

    def __init__(
        self,
        fake: FakeSlack,
        id: str,
        *,
        name: str,
        is_member: bool = True,
        is_private: bool = False,
        is_im: bool = False,
        im_user: str | None = None,
    ) -> None:
        self.fake = fake
        self.id = id
        self.name = name
        self.is_member = is_member
        self.is_private = is_private
        self.is_im = is_im
        self.im_user = im_user
        self.topic = ""
        self.topic_creator = ""
        self.topic_set_at = 0
        self.topic_history: list[str] = []

    def __repr__(self) -> str:
        return f"FakeSlackChannel({self.id!r}, name={self.name!r})"

    @property
    def messages(self) -> list[SlackMessage]:
        """Current (live) messages in the channel, oldest first."""
        return self.fake.messages_in(self.id)

    def _here(self, r: SlackRecord) -> bool:
        return isinstance(r, SlackMessage) and r.channel == self.id

    async def _expect(
        self,
        where: Callable[[Any], bool],
        contains: Contains,
        timeout: float,  # noqa: ASYNC109
        what: str,
    ) -> SlackMessage:
        return await self.fake._records.expect(
            lambda r: self._here(r) and where(r) and text_matches(r.all_text, contains),
            timeout=timeout,
            what=f"{what} in {self.id} {describe_contains(contains)}",
            scope=self._here,
        )

    async def expect_message(
        self,
        contains: Contains = None,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109
    ) -> SlackMessage:
        """A top-level message (chat.postMessage, or an in_channel response_url post)."""
        return await self._expect(
            lambda r: (
                (r.kind == "message" and not r.thread_ts)
                or (
                    r.kind == "response"
                    and r.response_type == "in_channel"
                    and not r.replace_original
                    and not r.delete_original
                )
            ),
            contains,
            timeout,
            "a message",
        )

    async def expect_update(
        self,
        message: SlackMessage,
        contains: Contains = None,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109
    ) -> SlackMessage:
        """chat.update of ``message``, or a replace_original post to its response_url."""
        return await self._expect(
            lambda r: (
                (r.kind == "update" and r.ts == message.ts)
                or (r.kind == "response" and r.replace_original and r.target_ts == message.ts)
            ),
            contains,
            timeout,
            f"an update of {message.ts}",
        )

    async def expect_delete(
        self,
        message: SlackMessage,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109
    ) -> SlackMessage:
        return await self._expect(
            lambda r: (
                (r.kind == "delete" and r.ts == message.ts)
                or (r.kind == "response" and r.delete_original and r.target_ts == message.ts)
            ),
            None,
            timeout,
            f"a deletion of {message.ts}",
        )

    async def expect_thread_reply(
        self,
        parent: SlackMessage,
        contains: Contains = None,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109
    ) -> SlackMessage:
        return await self._expect(
            lambda r: r.kind == "message" and r.thread_ts == parent.ts,
            contains,
            timeout,
            f"a reply in thread {parent.ts}",
        )

    def assert_no_unexpected(self) -> None:
        self.fake._records.check_none_unconsumed(
            f"channel {self.id}", lambda r: self._here(r) and self.fake._strict(r)
        )

    def assert_nothing_sent(self) -> None:
        """``assert_no_unexpected``, named for the check after the sender was brought to rest."""
        self.assert_no_unexpected()


# --------------------------------------------------------------------------------------------
# view_submission state
# --------------------------------------------------------------------------------------------

_SELECTED_KEY = {
    "users_select": "selected_user",
    "multi_users_select": "selected_users",
    "conversations_select": "selected_conversation",
    "multi_conversations_select": "selected_conversations",
    "channels_select": "selected_channel",
    "multi_channels_select": "selected_channels",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
    "datetimepicker": "selected_date_time",
}


def _option(element: dict[str, Any], value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += list(group.get("options") or [])
    for option in options:
        if option.get("value") == value:
            return option
    if element.get("type") in ("external_select", "multi_external_select"):
        return {"text": {"type": "plain_text", "text": str(value)}, "value": str(value)}
    raise AssertionError(
        f"{element.get('action_id')!r} has no option with value {value!r}; "
        f"options: {[o.get('value') for o in options]}"
    )


def _state_value(element: dict[str, Any], value: Any) -> dict[str, Any]:
    etype = element.get("type")
    if etype in ("static_select", "external_select", "radio_buttons"):
        return {"type": etype, "selected_option": _option(element, value)}
    if etype in ("multi_static_select", "multi_external_select", "checkboxes"):
        return {"type": etype, "selected_options": [_option(element, v) for v in (value or [])]}
    if etype in _SELECTED_KEY:
        empty: Any = [] if etype.startswith("multi_") else None
        return {"type": etype, _SELECTED_KEY[etype]: value if value is not None else empty}
    if etype == "rich_text_input":
        rich = (
            None
            if value is None
            else {
                "type": "rich_text",
                "elements": [
                    {
                        "type": "rich_text_section",
                        "elements": [{"type": "text", "text": str(value)}],
                    }
                ],
            }
        )
        return {"type": etype, "rich_text_value": rich}
    return {"type": etype, "value": None if value is None else str(value)}


def build_state_values(view: dict[str, Any], values: Mapping[str, Any] | None) -> dict[str, Any]:
    """``view.state.values`` for a submission: every input block, filled from ``values``."""
    values = dict(values or {})
    if values and all(
        isinstance(v, dict) and v and all(isinstance(x, dict) for x in v.values())
        for v in values.values()
    ):
        return values  # already in Slack's raw {block_id: {action_id: {...}}} shape
    inputs = [
        (block, block["element"])
        for block in view.get("blocks") or []
        if block.get("type") == "input" and isinstance(block.get("element"), dict)
    ]
    state: dict[str, Any] = {}
    for block, element in inputs:
        state.setdefault(block["block_id"], {})[element["action_id"]] = _state_value(element, None)
    for key, value in values.items():
        match = next(
            ((b, e) for b, e in inputs if e.get("action_id") == key or b.get("block_id") == key),
            None,
        )
        if match is None:
            known = [e.get("action_id") for _, e in inputs]
            raise AssertionError(f"view {view.get('id')} has no input {key!r}; inputs: {known}")
        block, element = match
        state[block["block_id"]][element["action_id"]] = _state_value(element, value)
    return state


__all__ = [
    "APP_ID",
    "BOT_TOKEN",
    "SIGNING_SECRET",
    "TEAM_ID",
    "FakeSlack",
    "FakeSlackChannel",
    "FakeSlackUser",
    "SentRequest",
    "SlackApiCall",
    "SlackMessage",
    "SlackView",
    "build_state_values",
    "collect_text",
]
