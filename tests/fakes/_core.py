"""Machinery shared by the fake provider servers.

* ``FakeHttpServer``: a stdlib ``ThreadingHTTPServer`` on 127.0.0.1 with an ephemeral port,
  served from a daemon thread, so sync SDK clients (in any thread) and async code reach it.
* ``Inbox``: what a fake received, with "consumed" flags; async expectation polling and the
  "nothing unexpected" check (an immediate one: tests bring the sender to rest first, they
  never wait to see that nothing arrives).
* ``BatonLink``: how a fake reaches Baton (an injected ``httpx.AsyncClient`` plus Baton's
  public URL, over which signatures are computed).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import re
import socket
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, Protocol, Self, TypeVar
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx

DEFAULT_TIMEOUT = 5.0
POLL_INTERVAL = 0.01

Contains = str | re.Pattern[str] | Callable[[str], bool] | None
"""What a message must contain: a substring, a compiled regex (``search``), a predicate, or None."""


def text_matches(text: str, contains: Contains) -> bool:
    if contains is None:
        return True
    if isinstance(contains, re.Pattern):
        return contains.search(text) is not None
    if callable(contains):
        return bool(contains(text))
    return contains in text


def describe_contains(contains: Contains) -> str:
    if contains is None:
        return "anything"
    if isinstance(contains, re.Pattern):
        return f"matching /{contains.pattern}/"
    if callable(contains):
        return f"satisfying {getattr(contains, '__name__', repr(contains))}"
    return f"containing {contains!r}"


def short(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------------------------
# HTTP server
# --------------------------------------------------------------------------------------------


@dataclass
class RawRequest:
    """One HTTP request as the fake server received it."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    client: tuple[str, int]
    received_at: float = field(default_factory=time.time)

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> str:
        return urlsplit(self.target).query

    @property
    def query_params(self) -> list[tuple[str, str]]:
        return parse_qsl(self.query, keep_blank_values=True)

    def header(self, name: str, default: str | None = None) -> str | None:
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return default

    @property
    def content_type(self) -> str:
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    def form(self) -> list[tuple[str, str]]:
        """Form fields (keeping blank values and repeated keys), from a form-encoded body."""
        return parse_qsl(self.body.decode("utf-8"), keep_blank_values=True)


@dataclass
class RawResponse:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    """Close the connection without answering (a request the client gave up on)."""
    after: Callable[[], None] | None = None
    """Called in the server thread once the response has been written (or dropped)."""

    @classmethod
    def json(
        cls, obj: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> RawResponse:
        hdrs = {"Content-Type": "application/json; charset=utf-8"}
        hdrs.update(headers or {})
        return cls(status=status, body=json.dumps(obj).encode("utf-8"), headers=hdrs)

    @classmethod
    def text(
        cls, text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8"
    ) -> RawResponse:
        return cls(status=status, body=text.encode("utf-8"), headers={"Content-Type": content_type})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "BatonFake/1.0"
    timeout = 30  # an idle client connection is dropped after this long

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        owner: FakeHttpServer = self.server.owner  # type: ignore[attr-defined]
        self.close_connection = True
        body = self._read_body()
        request = RawRequest(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=body,
            client=self.client_address[:2],
        )
        try:
            response = owner.handle(request)
        except Exception:
            owner.server_errors.append(
                f"{request.method} {request.target}: {traceback.format_exc()}"
            )
            response = RawResponse.text("fake server error (see server_errors)", status=500)
        if not response.drop:
            try:
                self.send_response(response.status)
                for key, value in response.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(response.body)
                self.wfile.flush()
            except OSError:
                pass  # the client gave up (timeout) before we answered
        if response.after is not None:
            response.after()

    def log_message(self, fmt: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The stdlib default backlog of 5 resets connections when many senders arrive at once
    # (the multi-process tests); real receivers queue them.
    request_queue_size = 256
    block_on_close = False

    def __init__(self, owner: FakeHttpServer, address: tuple[str, int]) -> None:
        self.owner = owner
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)


class FakeHttpServer:
    """Base class: a real HTTP server on 127.0.0.1 whose requests go to ``handle``."""

    name = "fake"

    def __init__(self, *, host: str = "127.0.0.1") -> None:
        self._host = host
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.lock = threading.RLock()
        self.server_errors: list[str] = []
        """Tracebacks of exceptions raised inside the fake (bugs in the fake, or bad input)."""
        self.background_errors: list[str] = []
        """Failures of requests the fake sent on its own (automatic callbacks)."""
        self.loop: asyncio.AbstractEventLoop | None = None
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self.allow_unexpected = False
        """Set to True to skip the fixture's final ``assert_no_unexpected()``."""

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            return self
        with contextlib.suppress(RuntimeError):
            self.loop = asyncio.get_running_loop()
        self._stopping.clear()
        self._server = _Server(self, (self._host, 0))
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.name}-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # wakes every held response
        with self.lock:
            pending = list(self._pending)
        for future in pending:
            future.cancel()
        server.shutdown()
        server.server_close()
        with server.sockets_lock:
            sockets = list(server.open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.drain()
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{self.name} is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL of the server, e.g. ``http://127.0.0.1:38211`` (no trailing slash)."""
        return f"http://{self._host}:{self.port}"

    def hold_request(self, seconds: float) -> bool:
        """Block the calling server thread; returns True if the fake is being stopped."""
        return self._stopping.wait(seconds)

    def handle(self, request: RawRequest) -> RawResponse:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- work the fake does on its own, on the test's event loop ----------------------------

    def spawn(self, coro_factory: Callable[[], Awaitable[Any]], what: str) -> None:
        """Run a coroutine on the test's event loop from a server thread (auto callbacks)."""
        loop = self.loop
        if loop is None or loop.is_closed():
            self.background_errors.append(
                f"{what}: no event loop (start the fake inside async code)"
            )
            return

        async def guarded() -> None:
            try:
                await coro_factory()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.background_errors.append(f"{what}: {type(exc).__name__}: {exc}")

        try:
            future = asyncio.run_coroutine_threadsafe(guarded(), loop)
        except RuntimeError as exc:
            self.background_errors.append(f"{what}: {exc}")
            return
        with self.lock:
            self._pending.add(future)

        def done(fut: concurrent.futures.Future[Any]) -> None:
            with self.lock:
                self._pending.discard(fut)

        future.add_done_callback(done)

    async def drain(self, timeout: float = DEFAULT_TIMEOUT) -> None:  # noqa: ASYNC109
        """Wait until the requests the fake sends on its own (auto callbacks) are finished."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if not self._pending:
                    return
            await asyncio.sleep(POLL_INTERVAL)
        with self.lock:
            left = len(self._pending)
        raise AssertionError(
            f"{self.name}: {left} background callback(s) still running after {timeout}s"
        )

    def _problems(self) -> list[str]:
        problems = [f"fake server error: {e}" for e in self.server_errors]
        problems += [f"background callback failed: {e}" for e in self.background_errors]
        return problems


# --------------------------------------------------------------------------------------------
# Recorded items and expectations
# --------------------------------------------------------------------------------------------


class Recorded(Protocol):
    consumed: bool

    def describe(self) -> str: ...


R = TypeVar("R", bound=Recorded)


class Inbox(Generic[R]):
    """Thread-safe list of recorded items with "consumed" flags."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._items: list[R] = []

    def add(self, item: R) -> R:
        with self._lock:
            self._items.append(item)
        return item

    def all(self, where: Callable[[R], bool] | None = None) -> list[R]:
        with self._lock:
            return [i for i in self._items if where is None or where(i)]

    def unconsumed(self, where: Callable[[R], bool] | None = None) -> list[R]:
        return self.all(lambda i: not i.consumed and (where is None or where(i)))

    def take(self, where: Callable[[R], bool]) -> R | None:
        with self._lock:
            for item in self._items:
                if not item.consumed and where(item):
                    item.consumed = True
                    return item
        return None

    def consume_all(self, where: Callable[[R], bool] | None = None) -> list[R]:
        with self._lock:
            taken = [i for i in self._items if not i.consumed and (where is None or where(i))]
            for item in taken:
                item.consumed = True
        return taken

    async def expect(
        self,
        where: Callable[[R], bool],
        *,
        timeout: float,  # noqa: ASYNC109 - a deadline for polling, not for one await
        what: str,
        scope: Callable[[R], bool] | None = None,
    ) -> R:
        """Poll until an unconsumed item matches ``where``; consume and return it.

        On timeout, raise AssertionError naming ``what`` and listing the items in ``scope``
        (what WAS received).
        """
        deadline = time.monotonic() + timeout
        while True:
            item = self.take(where)
            if item is not None:
                return item
            if time.monotonic() >= deadline:
                raise AssertionError(self.failure(what, timeout, scope))
            await asyncio.sleep(POLL_INTERVAL)

    def failure(self, what: str, timeout: float, scope: Callable[[R], bool] | None) -> str:
        items = self.all(scope)
        lines = [f"expected {what} within {timeout:g}s; received {len(items)}:"]
        for item in items:
            flag = "consumed  " if item.consumed else "UNCONSUMED"
            lines.append(f"  [{flag}] {item.describe()}")
        if not items:
            lines.append("  (nothing)")
        return "\n".join(lines)

    def check_none_unconsumed(self, label: str, where: Callable[[R], bool] | None = None) -> None:
        left = self.unconsumed(where)
        if left:
            lines = [f"{label}: {len(left)} unexpected item(s) no expectation consumed:"]
            lines += [f"  {i.describe()}" for i in left]
            raise AssertionError("\n".join(lines))


def raise_problems(label: str, problems: Iterable[str]) -> None:
    problems = list(problems)
    if problems:
        raise AssertionError(f"{label}:\n" + "\n".join(f"  {p}" for p in problems))


# --------------------------------------------------------------------------------------------
# Reaching Baton
# --------------------------------------------------------------------------------------------


class BatonLink:
    """Sends requests to Baton the way a provider would.

    ``client`` is an ``httpx.AsyncClient``: usually ``AsyncClient(transport=ASGITransport(app),
    base_url=public_url)`` for an in-process app, or a plain client for a Baton process on a
    real URL. Absolute URLs that Baton handed out (StatusCallback, Gather action) are sent to
    ``client`` at their path and query (relative to the client's ``base_url`` if it has one,
    else to the absolute URL itself); signatures are computed over the URL exactly as given.
    """

    def __init__(self, client: httpx.AsyncClient | None, public_url: str) -> None:
        self.client = client
        self.public_url = public_url.rstrip("/")

    def absolute(self, url_or_path: str, base: str | None = None) -> str:
        """The absolute URL for a path (joined to ``base`` or the public URL) or URL."""
        if "://" in url_or_path:
            return url_or_path
        if base:
            return urljoin(base, url_or_path)
        if not url_or_path.startswith("/"):
            url_or_path = "/" + url_or_path
        return self.public_url + url_or_path

    def route(self, absolute_url: str) -> str:
        """The URL to hand to ``client`` for an absolute URL."""
        client = self._require_client()
        if str(client.base_url):
            parts = urlsplit(absolute_url)
            return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return absolute_url

    def _require_client(self) -> httpx.AsyncClient:
        if self.client is None:
            raise AssertionError(
                "this fake is not connected to Baton: call fake.connect(baton_client, public_url)"
            )
        return self.client

    async def request(
        self, method: str, absolute_url: str, *, content: bytes | str, headers: dict[str, str]
    ) -> httpx.Response:
        client = self._require_client()
        return await client.request(
            method, self.route(absolute_url), content=content, headers=headers
        )
