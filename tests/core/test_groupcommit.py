"""Group commit: what arrives while a batch is in flight shares the next one; keys keep order."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Sequence

import pytest

from app.core.groupcommit import GroupCommit


class Recorder:
    """A ``run`` that holds each batch until released, and notes the batches it got."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = asyncio.Event()

    async def run(self, items: Sequence[str]) -> list[str | BaseException]:
        self.batches.append(list(items))
        await self.release.wait()
        return [ValueError(i) if i.startswith("bad") else i.upper() for i in items]


def key(item: str) -> set[Hashable]:
    return {item.split(":")[0]}


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_what_arrives_during_a_batch_shares_the_next_and_each_gets_its_own_answer() -> None:
    recorder = Recorder()
    together = GroupCommit(recorder.run, keys=key, max_batch=10, max_in_flight=1)
    first = asyncio.create_task(together.submit("a"))
    await settle()
    later = [asyncio.create_task(together.submit(i)) for i in ("b", "c", "d")]
    await settle()
    assert recorder.batches == [["a"]], "a lone item starts at once; the rest wait for it"
    recorder.release.set()
    assert await first == "A"
    assert [await t for t in later] == ["B", "C", "D"]
    assert recorder.batches == [["a"], ["b", "c", "d"]]


async def test_an_error_reaches_only_its_own_caller() -> None:
    recorder = Recorder()
    recorder.release.set()
    together = GroupCommit(recorder.run, keys=key, max_batch=10, max_in_flight=1)
    blocker = asyncio.create_task(together.submit("x"))
    good, bad = together.submit("good"), together.submit("bad")
    results = await asyncio.gather(blocker, good, bad, return_exceptions=True)
    assert results[:2] == ["X", "GOOD"]
    assert isinstance(results[2], ValueError)


async def test_items_with_one_key_never_share_a_batch_and_keep_their_order() -> None:
    recorder = Recorder()
    together = GroupCommit(recorder.run, keys=key, max_batch=10, max_in_flight=2)
    tasks = [
        asyncio.create_task(together.submit(i)) for i in ("g:1", "g:2", "h:1", "g:3", "h:2", "k:1")
    ]
    await settle()
    recorder.release.set()
    await asyncio.gather(*tasks)
    for batch in recorder.batches:
        keys = [key(i) for i in batch]
        assert len(set().union(*keys)) == len(batch), f"{batch} shares a key"
    order = [i for batch in recorder.batches for i in batch]
    for prefix in ("g", "h"):
        assert [i for i in order if i.startswith(prefix)] == sorted(
            i for i in order if i.startswith(prefix)
        )


async def test_a_batch_holds_at_most_max_batch_items() -> None:
    recorder = Recorder()
    together = GroupCommit(recorder.run, keys=key, max_batch=3, max_in_flight=1)
    tasks = [asyncio.create_task(together.submit(str(i))) for i in range(8)]
    await settle()
    recorder.release.set()
    await asyncio.gather(*tasks)
    assert [len(b) for b in recorder.batches] == [1, 3, 3, 1]


async def test_a_caller_that_goes_away_does_not_cancel_the_batch() -> None:
    recorder = Recorder()
    together = GroupCommit(recorder.run, keys=key, max_batch=10, max_in_flight=1)
    leaving = asyncio.create_task(together.submit("a"))
    staying = asyncio.create_task(together.submit("b"))
    await settle()
    leaving.cancel()
    recorder.release.set()
    assert await staying == "B"
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert recorder.batches == [["a"], ["b"]]


class Gate:
    """A ``run`` that holds each batch until that batch is released by its index."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gates: list[asyncio.Event] = []

    async def run(self, items: Sequence[str]) -> list[str | BaseException]:
        self.batches.append(list(items))
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()
        return [i.upper() for i in items]

    async def release(self, index: int) -> None:
        self.gates[index].set()
        await settle()


async def test_a_batch_beside_one_in_flight_waits_until_it_would_carry_as_many() -> None:
    gate = Gate()
    together = GroupCommit(gate.run, keys=key, max_batch=10, max_in_flight=2)
    tasks = [asyncio.create_task(together.submit("a"))]
    await settle()
    tasks.append(asyncio.create_task(together.submit("b")))
    await settle()
    assert gate.batches == [["a"], ["b"]], "beside a lone item, a lone item starts"
    tasks += [asyncio.create_task(together.submit(i)) for i in ("c", "d", "e")]
    await settle()
    await gate.release(0)
    assert gate.batches[2:] == [["c", "d", "e"]]
    await gate.release(1)
    for item in ("f", "g"):
        tasks.append(asyncio.create_task(together.submit(item)))
        await settle()
        assert len(gate.batches) == 3, "two items do not start beside a batch of three"
    tasks.append(asyncio.create_task(together.submit("h")))
    await settle()
    assert gate.batches[3:] == [["f", "g", "h"]]
    await gate.release(2)
    await gate.release(3)
    assert [await t for t in tasks] == [i.upper() for i in "abcdefgh"]


def group(item: str) -> set[Hashable]:
    """``g+1`` holds g shared; ``g!1`` holds it alone."""
    return {item[0]} if "+" in item else set()


def plain(item: str) -> set[Hashable]:
    return {item[0]} if "!" in item else set()


async def test_items_that_share_a_key_share_a_batch_but_never_with_one_that_holds_it() -> None:
    gate = Gate()
    together = GroupCommit(gate.run, keys=plain, shared_keys=group, max_batch=10, max_in_flight=1)
    tasks = [asyncio.create_task(together.submit("x"))]
    await settle()
    items = ("g+1", "g+2", "h+1", "g!3", "g+4", "h+2")
    tasks += [asyncio.create_task(together.submit(i)) for i in items]
    await settle()
    for index in range(4):
        if index < len(gate.batches):
            await gate.release(index)
    assert gate.batches == [["x"], ["g+1", "g+2", "h+1", "h+2"], ["g!3"], ["g+4"]]
    await asyncio.gather(*tasks)


async def test_a_shared_key_in_flight_keeps_the_next_holders_for_a_later_batch() -> None:
    gate = Gate()
    together = GroupCommit(gate.run, keys=plain, shared_keys=group, max_batch=10, max_in_flight=2)
    first = asyncio.create_task(together.submit("g+1"))
    await settle()
    later = [asyncio.create_task(together.submit(i)) for i in ("g+2", "g+3")]
    await settle()
    assert gate.batches == [["g+1"]], "a shared key never runs in two transactions at once"
    await gate.release(0)
    assert gate.batches == [["g+1"], ["g+2", "g+3"]]
    await gate.release(1)
    assert [await t for t in [first, *later]] == ["G+1", "G+2", "G+3"]


async def test_a_shared_key_said_to_overlap_runs_in_two_transactions_never_beside_a_holder() -> (
    None
):
    """``overlapping`` lets a shared key run in two transactions at once (the database orders
    them on the rows they lock); a plain holder of the key still waits for both, and a shared
    key it does not name keeps one transaction at a time."""
    gate = Gate()
    together = GroupCommit(
        gate.run,
        keys=plain,
        shared_keys=group,
        max_batch=10,
        max_in_flight=3,
        overlapping=lambda held: held == "g",
    )
    tasks = [asyncio.create_task(together.submit("g+1"))]
    await settle()
    tasks.append(asyncio.create_task(together.submit("h+1")))
    await settle()
    assert gate.batches == [["g+1"], ["h+1"]]
    tasks += [asyncio.create_task(together.submit(i)) for i in ("h+2", "g+2")]
    await settle()
    assert gate.batches[2:] == [["g+2"]], "g may overlap, h may not: h+2 waits"
    tasks.append(asyncio.create_task(together.submit("g!3")))
    await settle()
    await gate.release(0)
    assert len(gate.batches) == 3, "the plain holder of g waits while g is in flight"
    await gate.release(2)
    assert gate.batches[3:] == [["g!3"]]
    await gate.release(1)
    assert gate.batches[4:] == [["h+2"]]
    await gate.release(3)
    await gate.release(4)
    assert [await t for t in tasks] == ["G+1", "H+1", "H+2", "G+2", "G!3"]


async def test_only_batches_of_items_that_overlap_safely_run_beside_one_another() -> None:
    """An item that locks rows out of the shared keys' order (``a~``: an acknowledgement)
    never shares a batch that overlaps another, and a batch holding one is never overlapped:
    the two could each hold what the other waits for."""
    gate = Gate()
    together = GroupCommit(
        gate.run,
        keys=plain,
        shared_keys=group,
        max_batch=10,
        max_in_flight=2,
        overlapping=lambda held: held == "g",
        overlaps_safely=lambda item: "~" not in item,
    )
    tasks = [asyncio.create_task(together.submit("g+1"))]
    await settle()
    tasks.append(asyncio.create_task(together.submit("x")))
    await settle()
    tasks += [asyncio.create_task(together.submit(i)) for i in ("g+2", "a~")]
    await settle()
    assert gate.batches == [["g+1"], ["x"]]
    await gate.release(1)
    assert gate.batches[2:] == [["g+2"]], "g+2 overlaps g+1; a~ may not go beside them"
    await gate.release(0)
    assert gate.batches[3:] == [["a~"]]
    tasks.append(asyncio.create_task(together.submit("g+3~")))
    await settle()
    assert len(gate.batches) == 4, "an unsafe item does not overlap g+2"
    await gate.release(2)
    assert gate.batches[4:] == [["g+3~"]]
    await gate.release(3)
    tasks.append(asyncio.create_task(together.submit("g+4")))
    await settle()
    assert len(gate.batches) == 5, "nothing overlaps a batch holding an unsafe item"
    await gate.release(4)
    assert gate.batches[5:] == [["g+4"]]
    await gate.release(5)
    assert [await t for t in tasks] == ["G+1", "X", "G+2", "A~", "G+3~", "G+4"]
