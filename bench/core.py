"""Throughput of the C++ core against the numpy reference (tests/reference.py).

Run: .venv/bin/python bench/core.py [--quick]
Prints a markdown table of tank-steps per second (medians of several repeats) for
default tanks (PHYSICS.md), one core, the calling thread only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import reference

from twin import _core

# (tanks, internal steps per call): a scan of 10 steps, and single steps for N = 1 to
# show the per-call overhead.
CASES = [(1, 1), (1, 10), (100, 10), (10_000, 10), (100_000, 10)]


def rate(step: Callable[[], None], tank_steps_per_call: int, budget: float,
         repeats: int) -> float:
    """Median tank-steps/s over `repeats` timed batches of about `budget` seconds each."""
    step()  # warm up
    started = time.perf_counter()
    step()
    per_call = max(time.perf_counter() - started, 1e-7)
    calls = max(1, int(budget / per_call))
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(calls):
            step()
        rates.append(calls * tank_steps_per_call / (time.perf_counter() - started))
    return statistics.median(rates)


def bench_case(tanks: int, steps: int, budget: float, repeats: int) -> tuple[float, float]:
    core = _core.Plant([_core.TankParams() for _ in range(tanks)])
    ref = reference.ReferencePlant([{} for _ in range(tanks)])
    core_rate = rate(lambda: core.step(steps), tanks * steps, budget, repeats)
    ref_rate = rate(lambda: ref.step(steps), tanks * steps, budget, repeats)
    return core_rate, ref_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short batches, 3 repeats")
    args = parser.parse_args()
    budget, repeats = (0.05, 3) if args.quick else (0.3, 7)
    print("| tanks N | steps per call | core [tank-steps/s] | numpy reference [tank-steps/s] "
          "| core / numpy |")
    print("|---:|---:|---:|---:|---:|")
    for tanks, steps in CASES:
        core_rate, ref_rate = bench_case(tanks, steps, budget, repeats)
        print(f"| {tanks:,} | {steps} | {core_rate:,.0f} | {ref_rate:,.0f} "
              f"| {core_rate / ref_rate:,.1f}x |", flush=True)


if __name__ == "__main__":
    main()
