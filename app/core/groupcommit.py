"""Group commit: requests that arrive while a transaction is in flight share the next one.

Each caller waits for the transaction that holds its item and gets its own result (or error)
only after that commit. Nothing waits on purpose: when the database is idle a lone item starts a
transaction at once, and under load items gather while the previous transactions run, so the
cost of a transaction (its round trips, its commit, the statements a batch can share) is paid
once for many. Up to ``max_in_flight`` transactions run at a time, but one beside another in
flight starts only once it would carry as many items as the smallest in flight: under load a
free slot would otherwise take each item as it comes, alone, and pay a whole transaction for it.

Items that share a key (``keys``: the rows they may lock or create) go in different
transactions, in the order they came. A shared key (``shared_keys``) lets items that hold it
share a transaction with each other, never with one holding it as a plain key, and runs in two
transactions at once only where ``overlapping`` says it may: for rows that exist and that each
transaction locks, the later one waits in the database for the earlier's commit, and what it
did before that wait (its other reads, the request's own work) overlaps the earlier batch's
writes instead of following them. Both batches must then hold only items that
``overlaps_safely`` accepts (items that lock rows only in the one order every batch takes
them in): an item that locks another row first could hold what the other batch waits for
while it waits for that batch, a deadlock the database would break by failing one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class _Waiting(Generic[Item, Result]):
    item: Item
    answer: asyncio.Future[Result]


class GroupCommit(Generic[Item, Result]):
    def __init__(
        self,
        run: Callable[[Sequence[Item]], Awaitable[Sequence[Result | BaseException]]],
        *,
        keys: Callable[[Item], set[Hashable]],
        max_batch: int,
        max_in_flight: int,
        shared_keys: Callable[[Item], set[Hashable]] | None = None,
        overlapping: Callable[[Hashable], bool] | None = None,
        overlaps_safely: Callable[[Item], bool] | None = None,
    ) -> None:
        """``run`` commits a batch and returns, in the items' order, each one's result or the
        error it raised."""
        self._run = run
        self._keys = keys
        self._shared_keys = shared_keys
        self._overlapping = overlapping
        self._overlaps_safely = overlaps_safely
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._queue: list[_Waiting[Item, Result]] = []
        self._in_flight = 0
        # Each batch in flight: the plain keys it holds, the shared ones, and whether all its
        # items overlap safely.
        self._keys_in_flight: dict[int, tuple[set[Hashable], set[Hashable], bool]] = {}
        self._sizes_in_flight: dict[int, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0
        self.items = 0

    @property
    def waiting(self) -> int:
        """Items queued for a transaction not yet begun."""
        return len(self._queue)

    @property
    def in_flight_items(self) -> int:
        return sum(self._sizes_in_flight.values())

    async def submit(self, item: Item) -> Result:
        answer: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        # Read the outcome even if the caller went away, so that no error goes unreported.
        answer.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._queue.append(_Waiting(item, answer))
        self._start()
        # A caller that goes away does not take its item's transaction with it: the batch
        # still commits for the others (and for this item, which the sender will resend).
        return await asyncio.shield(answer)

    def _start(self) -> None:
        while self._queue and self._in_flight < self._max_in_flight:
            # Enough to start beside the batches in flight; checked first on the queue's length
            # (which bounds the batch), as every arrival comes here.
            enough = min(self._sizes_in_flight.values(), default=1)
            if len(self._queue) < enough:
                return  # it gathers more while the smallest batch in flight runs
            batch, left, keys = self._take()
            if not batch:
                return  # what is queued waits for a batch in flight to release its keys
            if len(batch) < enough:
                return
            self._queue = left
            self._in_flight += 1
            self._keys_in_flight[id(batch)] = keys
            self._sizes_in_flight[id(batch)] = len(batch)
            task = asyncio.create_task(self._commit(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _take(
        self,
    ) -> tuple[
        list[_Waiting[Item, Result]],
        list[_Waiting[Item, Result]],
        tuple[set[Hashable], set[Hashable], bool],
    ]:
        """The next batch, the items it leaves queued, and what the batch holds (plain keys,
        shared keys, whether all its items overlap safely)."""
        batch: list[_Waiting[Item, Result]] = []
        left: list[_Waiting[Item, Result]] = []
        taken: set[Hashable] = set()
        taken_shared: set[Hashable] = set()
        overlaps, all_safe = False, True
        # Keys held by batches in flight (of either kind), by the items taken, and by those
        # left behind: an item after one left behind with the same key waits too, so that the
        # two keep their order.
        in_flight = self._keys_in_flight.values()
        held_plain: set[Hashable] = set().union(*(p for p, _, _ in in_flight))
        held_shared: set[Hashable] = set().union(*(s for _, s, _ in in_flight))
        # Shared keys of batches in flight that another batch may not overlap.
        held_unsafely: set[Hashable] = set().union(*(s for _, s, safe in in_flight if not safe))
        held = held_plain | held_shared
        claimed: set[Hashable] = set()
        shared_claimed: set[Hashable] = set()
        for waiting in self._queue:
            keys = self._keys(waiting.item)
            shared = self._shared_keys(waiting.item) if self._shared_keys else set()
            overlapped = shared & held_shared
            safe = self._overlaps_safely is None or self._overlaps_safely(waiting.item)
            fits = (
                len(batch) < self._max_batch
                and keys.isdisjoint(held)
                and keys.isdisjoint(claimed)
                and keys.isdisjoint(shared_claimed)
                and shared.isdisjoint(held_plain)
                and shared.isdisjoint(claimed)
                and (
                    not overlapped
                    or (safe and all_safe and self._may_overlap(overlapped, held_unsafely))
                )
                and (safe or not overlaps)
            )
            if fits:
                batch.append(waiting)
                taken |= keys
                taken_shared |= shared
                overlaps = overlaps or bool(overlapped)
                all_safe = all_safe and safe
            else:
                left.append(waiting)
            claimed |= keys
            shared_claimed |= shared
        return batch, left, (taken, taken_shared, all_safe)

    def _may_overlap(self, in_flight: set[Hashable], held_unsafely: set[Hashable]) -> bool:
        return (
            self._overlapping is not None
            and in_flight.isdisjoint(held_unsafely)
            and all(self._overlapping(k) for k in in_flight)
        )

    async def _commit(self, batch: list[_Waiting[Item, Result]]) -> None:
        try:
            outcomes = await self._run([w.item for w in batch])
            self.batches += 1
            self.items += len(batch)
            for waiting, outcome in zip(batch, outcomes, strict=True):
                if waiting.answer.done():
                    continue
                if isinstance(outcome, BaseException):
                    waiting.answer.set_exception(outcome)
                else:
                    waiting.answer.set_result(outcome)
        except BaseException as exc:
            for waiting in batch:
                if not waiting.answer.done():
                    waiting.answer.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            del self._keys_in_flight[id(batch)]
            del self._sizes_in_flight[id(batch)]
            self._in_flight -= 1
            self._start()
