"""Engine benchmark: the largest fleet that holds a 10 Hz scan with zero overruns.

For each fleet size the bare engine (no protocol servers) runs in real time on
the monotonic clock for --seconds; the scan lateness (jitter against the
absolute deadline), the scan duration and the overruns are recorded. The
baseline in the same run is a bare asyncio loop pacing itself on the same
absolute deadlines with no work: the jitter floor of this machine.

    .venv/bin/python bench/engine.py --seconds 30 --sizes 1000,10000,30000,100000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

from twin.clock import MonotonicClock
from twin.commands import Source
from twin.config import parse_plant
from twin.engine import Engine
from twin.plant_builder import build_plant
from twin.tags import TagTable


class Recorder:
    def __init__(self) -> None:
        self.durations: list[float] = []
        self.lateness: list[float] = []
        self.overruns = 0

    def scan_done(self, duration: float, lateness: float) -> None:
        self.durations.append(duration)
        self.lateness.append(lateness)

    def overrun(self, missed: int) -> None:
        self.overruns += 1

    def command(self, source: Source, result: str) -> None:
        pass


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_engine(tanks: int, seconds: float, period: float) -> Recorder:
    data = {"simulation": {"scan_period": period, "dt": 0.1},
            "fleets": [{"count": tanks, "disturbance": "brownian"}]}
    config = parse_plant(data, "<bench>")
    recorder = Recorder()
    engine = Engine(build_plant(config), config, TagTable(), MonotonicClock(), recorder)
    async with engine:
        await asyncio.sleep(seconds)
    recorder.lateness = recorder.lateness[1:]  # the first scan starts at its anchor
    return recorder


async def run_baseline(seconds: float, period: float) -> Recorder:
    recorder = Recorder()
    clock = MonotonicClock()
    anchor = clock.now()
    k = 0
    while clock.now() - anchor < seconds:
        deadline = anchor + k * period
        await clock.sleep_until(deadline)
        recorder.scan_done(0.0, max(0.0, clock.now() - deadline))
        k += 1
    recorder.lateness = recorder.lateness[1:]
    return recorder


def row(name: str, rec: Recorder) -> str:
    ms = 1e3
    return (
        f"| {name} | {len(rec.lateness) + 1} | {rec.overruns} | "
        f"{pct(rec.lateness, 0.5) * ms:.3f} | {pct(rec.lateness, 0.99) * ms:.3f} | "
        f"{max(rec.lateness, default=0) * ms:.3f} | "
        f"{statistics.median(rec.durations) * ms:.3f} | {pct(rec.durations, 0.99) * ms:.3f} |"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--period", type=float, default=0.1)
    parser.add_argument("--sizes", default="1000,10000,30000,100000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"# engine at {1 / args.period:g} Hz for {args.seconds:g} s per row")
    print("| run | scans | overruns | jitter p50 ms | jitter p99 ms | jitter max ms "
          "| scan p50 ms | scan p99 ms |")
    print("|---|---|---|---|---|---|---|---|")
    print(row("baseline: bare asyncio pacing", await run_baseline(args.seconds, args.period)),
          flush=True)
    largest = 0
    for tanks in sizes:
        rec = await run_engine(tanks, args.seconds, args.period)
        print(row(f"engine, {tanks} tanks", rec), flush=True)
        if rec.overruns == 0:
            largest = max(largest, tanks)
    print(f"\nlargest fleet with zero overruns: {largest} tanks")


if __name__ == "__main__":
    asyncio.run(main())
