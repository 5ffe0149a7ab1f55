"""Work that outlives the Slack request that started it, so Slack gets its answer in 3 seconds.

A command runs as a task; if it finishes within the deadline its answer goes back in the HTTP
response, otherwise the response says "working on it" and the task's answer follows through
the command's ``response_url``. Tasks are kept referenced (asyncio only keeps weak references)
and the app drains them at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# Slack gives up after 3 seconds; leave room for the network and the request's own work.
INLINE_SECONDS = 2.0


class BackgroundWork:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Nothing awaits a detached task: log instead of losing the error.
            log.error("Slack background work failed", exc_info=task.exception())

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    async def idle(self) -> None:
        """Wait until nothing is running (tasks started meanwhile included)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def drain(self, grace_seconds: float) -> None:
        """At shutdown: let running work finish for a while, then cancel what is left."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace_seconds)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)


async def answer_within(
    work: BackgroundWork,
    job: Coroutine[Any, Any, T],
    late: Callable[[T], Awaitable[object]],
    *,
    seconds: float | None = None,
    name: str = "slack-command",
) -> T | None:
    """``job``'s result if it finishes within ``seconds``; otherwise None, and ``late`` gets
    the result when it comes."""
    task = work.spawn(job, name=name)
    done, _ = await asyncio.wait({task}, timeout=INLINE_SECONDS if seconds is None else seconds)
    if task in done:
        return task.result()
    work.spawn(_deliver_late(task, late), name=f"{name}-late")
    return None


async def _deliver_late(task: asyncio.Task[T], late: Callable[[T], Awaitable[object]]) -> None:
    await late(await task)
