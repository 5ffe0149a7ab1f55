"""pytest fixtures for the fake providers.

Enable with ``pytest_plugins = ["tests.fakes.plugin"]`` in the top-level conftest. Each
fixture starts a fresh fake for one test and, at teardown, waits for the fake's own
background callbacks, stops it, and calls ``assert_no_unexpected()`` unless

* the test set ``fake.allow_unexpected = True``, or
* the test is marked ``@pytest.mark.allow_unexpected`` (all fakes) or
  ``@pytest.mark.allow_unexpected("fake_twilio", ...)`` (those fixtures only), or
* the test itself already failed (the extra teardown error would only be noise).

The fakes are not connected to Baton here: the fixture that builds Baton's HTTP client
calls ``fake.connect(client, public_url)`` and should ``await fake.drain()`` before it
closes that client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import FakeSMTP
from tests.fakes.twilio import FakeTwilio
from tests.fakes.webhook import WebhookReceiver

_CALL_FAILED = pytest.StashKey[bool]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "allow_unexpected(*fixture_names): do not fail when the named fake fixtures (all if "
        "none named) received messages no expectation consumed",
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        item.stash[_CALL_FAILED] = True


def _after(request: pytest.FixtureRequest, name: str, fake: Any) -> None:
    if fake.allow_unexpected or request.node.stash.get(_CALL_FAILED, False):
        return
    marker = request.node.get_closest_marker("allow_unexpected")
    if marker is not None and (not marker.args or name in marker.args):
        return
    fake.assert_no_unexpected()


@pytest_asyncio.fixture
async def fake_twilio(request: pytest.FixtureRequest) -> AsyncIterator[FakeTwilio]:
    """A started ``FakeTwilio`` (test account SID and auth token from shared/fixtures)."""
    fake = FakeTwilio().start()
    try:
        yield fake
        await fake.drain()
    finally:
        fake.stop()
    _after(request, "fake_twilio", fake)


@pytest_asyncio.fixture
async def fake_slack(request: pytest.FixtureRequest) -> AsyncIterator[FakeSlack]:
    """A started ``FakeSlack`` (test bot token and signing secret)."""
    fake = FakeSlack().start()
    try:
        yield fake
        await fake.drain()
    finally:
        fake.stop()
    _after(request, "fake_slack", fake)


@pytest_asyncio.fixture
async def fake_smtp(request: pytest.FixtureRequest) -> AsyncIterator[FakeSMTP]:
    """A started ``FakeSMTP`` server on 127.0.0.1 (no AUTH required)."""
    fake = FakeSMTP().start()
    try:
        yield fake
    finally:
        fake.stop()
    _after(request, "fake_smtp", fake)


@pytest_asyncio.fixture
async def webhook_receiver(request: pytest.FixtureRequest) -> AsyncIterator[WebhookReceiver]:
    """A started ``WebhookReceiver`` answering 200 to any request."""
    fake = WebhookReceiver().start()
    try:
        yield fake
    finally:
        fake.stop()
    _after(request, "webhook_receiver", fake)
