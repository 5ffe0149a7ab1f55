"""Benchmark of the pure on-call calculator (app/schedules/oncall.py).

Run from the repository root: ``python bench/bench_oncall.py`` (``--quick`` for a short run).
Prints median and p99 of:

* ``on_call_at`` for 3 layers, 30 participants and 500 overrides, at random instants (the
  12-hour backstop counting elapsed hours, and again keeping the wall clock);
* ``final_schedule`` over one year of a daily rotation restricted to weekdays 09:00-17:00 with
  500 overrides;
* ``final_schedule`` time against the window length (1..12 months) and the number of overrides
  (0..2000).

Inputs are generated from a fixed seed, so runs are comparable.

``--against FILE`` times another copy of the calculator side by side with this one, in one
process, phases interleaved, and prints the ratios (this one / FILE); for example the calculator
before a change: ``git show HEAD:app/schedules/oncall.py > /tmp/oncall_before.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import sys
import time as clock
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from types import ModuleType

# Run as a plain script from anywhere: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.schedules import oncall
from app.schedules.oncall import (
    CompiledSchedule,
    Layer,
    Override,
    Restriction,
    ScheduleSpec,
    ShiftUnit,
    compile_schedule,
    final_schedule,
    on_call_at,
)

ZONE = "Europe/Berlin"
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
WEEKDAYS = frozenset({1, 2, 3, 4, 5})
EVERY_DAY = frozenset(range(1, 8))


def random_overrides(
    rng: random.Random, count: int, users: list[int], start: datetime, span: timedelta
) -> tuple[Override, ...]:
    """Overrides of 1 to 48 hours; a third cover the whole schedule, the rest replace someone."""
    overrides = []
    for override_id in range(1, count + 1):
        begin = start + timedelta(seconds=rng.randrange(int(span.total_seconds())))
        length = timedelta(hours=rng.randint(1, 48))
        user, replaced = rng.sample(users, 2)
        overrides.append(
            Override(
                override_id,
                begin,
                begin + length,
                user,
                None if override_id % 3 == 0 else replaced,
            )
        )
    return tuple(overrides)


def three_layer_schedule(
    rng: random.Random, override_count: int, *, wall_clock: bool = False
) -> CompiledSchedule:
    """Business-hours, nights and a 12-hour backstop, 10 people each, started in 2019."""
    anchor = datetime(2019, 3, 4, 8, 0, tzinfo=UTC)
    business = Layer(
        1,
        3,
        tuple(range(100, 110)),
        (900,),
        1,
        ShiftUnit.DAYS,
        anchor,
        (Restriction(WEEKDAYS, time(9), time(17)),),
    )
    nights = Layer(
        2,
        2,
        tuple(range(200, 210)),
        (),
        7,
        ShiftUnit.DAYS,
        anchor,
        (Restriction(EVERY_DAY, time(17), time(9)),),
    )
    rule = {"handoff_rule": oncall.HandoffRule.WALL_CLOCK} if wall_clock else {}
    backstop = Layer(3, 1, tuple(range(300, 310)), (), 12, ShiftUnit.HOURS, anchor, **rule)
    users = list(range(100, 110)) + list(range(200, 210)) + list(range(300, 310))
    overrides = random_overrides(
        rng, override_count, users, YEAR_START - timedelta(days=365), timedelta(days=730)
    )
    return compile_schedule(ScheduleSpec(ZONE, (business, nights, backstop), overrides))


def daily_business_hours(rng: random.Random, override_count: int) -> CompiledSchedule:
    layer = Layer(
        1,
        1,
        tuple(range(1, 11)),
        (),
        1,
        ShiftUnit.DAYS,
        datetime(2024, 1, 1, 9, 0, tzinfo=UTC),
        (Restriction(WEEKDAYS, time(9), time(17)),),
    )
    overrides = random_overrides(
        rng, override_count, list(range(1, 11)), YEAR_START, timedelta(days=365)
    )
    return compile_schedule(ScheduleSpec(ZONE, (layer,), overrides))


def timings_us(action: Callable[[], object], repetitions: int) -> list[float]:
    samples = []
    for _ in range(repetitions):
        began = clock.perf_counter_ns()
        action()
        samples.append((clock.perf_counter_ns() - began) / 1000)
    return samples


def median_p99(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def clear_memos() -> None:
    """Empty the calculator's wall-clock memos (the bench looks inside on purpose).

    Not the per-zone table of days with skipped wall times: that is zone data, like the
    transition table inside zoneinfo.
    """
    for name in ("_local_to_utc", "_wall_hand_off", "_window_edge"):
        memo = getattr(oncall, name, None)  # an older calculator (--against) has fewer
        if memo is not None:
            memo.cache_clear()


def bench_on_call_at(
    repetitions: int, *, cold: bool, wall_clock: bool = False
) -> tuple[float, float]:
    """Random instants over two years; ``cold`` empties the wall-clock memos before each call."""
    rng = random.Random(7)
    schedule = three_layer_schedule(rng, 500, wall_clock=wall_clock)
    instants = [
        YEAR_START - timedelta(days=365) + timedelta(seconds=rng.randrange(730 * 86400))
        for _ in range(repetitions)
    ]
    for instant in instants[:200]:  # warm-up of the interpreter, not of the answers
        on_call_at(schedule, instant)
    samples = []
    for instant in instants:
        if cold:
            clear_memos()
        began = clock.perf_counter_ns()
        on_call_at(schedule, instant)
        samples.append((clock.perf_counter_ns() - began) / 1000)
    return median_p99(samples)


def bench_compile(repetitions: int) -> tuple[float, float]:
    spec = three_layer_schedule(random.Random(7), 500).spec
    return median_p99(timings_us(lambda: compile_schedule(spec), repetitions))


def bench_final_schedule(
    override_count: int, days: int, repetitions: int
) -> tuple[float, float, int]:
    schedule = daily_business_hours(random.Random(11), override_count)
    end = YEAR_START + timedelta(days=days)
    shifts = final_schedule(schedule, YEAR_START, end)
    samples = timings_us(lambda: final_schedule(schedule, YEAR_START, end), repetitions)
    median, p99 = median_p99(samples)
    return median / 1000, p99 / 1000, len(shifts)


def bound_to(calculator: Path) -> ModuleType:
    """This benchmark loaded again, with ``app.schedules.oncall`` being ``calculator``."""
    package = sys.modules["app.schedules"]
    own = sys.modules["app.schedules.oncall"]
    loaded = []
    for name, path in (("_calculator_against", calculator), ("_bench_against", Path(__file__))):
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        if loaded:  # the benchmark imports the calculator by its usual name
            sys.modules["app.schedules.oncall"] = package.oncall = loaded[0]  # type: ignore[attr-defined]
        try:
            spec.loader.exec_module(module)
        finally:
            sys.modules["app.schedules.oncall"] = package.oncall = own  # type: ignore[attr-defined]
        loaded.append(module)
    return loaded[1]


def compare(against: Path, rounds: int) -> None:
    other = bound_to(against)
    this = sys.modules[__name__]
    measures: dict[str, Callable[[ModuleType], float]] = {
        "on_call_at, memo warm (us)": lambda b: b.bench_on_call_at(3000, cold=False)[0],
        "on_call_at, memo cold (us)": lambda b: b.bench_on_call_at(3000, cold=True)[0],
        "compile_schedule (us)": lambda b: b.bench_compile(40)[0],
        "final_schedule 1 year, 500 overrides (ms)": lambda b: b.bench_final_schedule(500, 365, 10)[
            0
        ],
        "final_schedule 1 month, 500 overrides (ms)": lambda b: b.bench_final_schedule(500, 30, 20)[
            0
        ],
        "final_schedule 1 year, no overrides (ms)": lambda b: b.bench_final_schedule(0, 365, 10)[0],
    }
    results: dict[str, tuple[list[float], list[float]]] = {m: ([], []) for m in measures}
    for round_number in range(rounds):
        for name, measure in measures.items():
            # Alternate who goes first, so neither side always runs on a warmer machine.
            pair = (this, other) if round_number % 2 == 0 else (other, this)
            for bench in pair:
                results[name][bench is other].append(measure(bench))
    print(f"Python {sys.version.split()[0]}, {rounds} interleaved rounds, medians of rounds")
    print(f"{'':44s}{'this':>10s}{'against':>10s}{'ratio':>8s}")
    for name, (mine, theirs) in results.items():
        ours, base = statistics.median(mine), statistics.median(theirs)
        print(f"{name:44s}{ours:10.2f}{base:10.2f}{ours / base:8.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--against", type=Path, help="another oncall.py to time side by side")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (--against)")
    options = parser.parse_args()
    if options.against:
        compare(options.against, 2 if options.quick else options.rounds)
        return
    calls = 2_000 if options.quick else 20_000
    runs = 5 if options.quick else 30

    print(f"Python {sys.version.split()[0]}, {calls} on_call_at calls, {runs} runs per window\n")
    print("on_call_at, 3 layers / 30 participants / 500 overrides")
    for label, cold, wall_clock in (
        ("memo warm", False, False),
        ("memo cold", True, False),
        ("memo warm, wall-clock backstop", False, True),
    ):
        median, p99 = bench_on_call_at(calls, cold=cold, wall_clock=wall_clock)
        print(f"  {label}: median {median:8.1f} us   p99 {p99:8.1f} us")
    median, p99 = bench_compile(runs * 4)
    print(f"  compile_schedule: median {median:8.1f} us   p99 {p99:8.1f} us\n")

    median, p99, count = bench_final_schedule(500, 365, runs)
    print("final_schedule, 1 year, daily rotation, weekdays 09-17, 500 overrides")
    print(f"  median {median:8.2f} ms   p99 {p99:8.2f} ms   ({count} shifts)\n")

    print("final_schedule vs window length (500 overrides over the year)")
    print("  months   median ms   p99 ms   shifts")
    for months in (1, 2, 3, 6, 9, 12):
        median, p99, count = bench_final_schedule(500, round(months * 365 / 12), runs)
        print(f"  {months:6d}   {median:9.2f}   {p99:6.2f}   {count:6d}")

    print("\nfinal_schedule vs number of overrides (1 year window)")
    print("  overrides   median ms   p99 ms   shifts")
    for override_count in (0, 250, 500, 1000, 2000):
        median, p99, count = bench_final_schedule(override_count, 365, runs)
        print(f"  {override_count:9d}   {median:9.2f}   {p99:6.2f}   {count:6d}")


if __name__ == "__main__":
    main()
