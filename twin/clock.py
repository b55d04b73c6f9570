"""Clocks the engine paces itself on: the real monotonic clock and a fake one for tests."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale."""

    async def sleep_until(self, deadline: float) -> None:
        """Return at ``deadline`` (at once if it has passed)."""


class MonotonicClock:
    """Wall-clock pacing on ``time.monotonic`` (what the event loop uses too)."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep_until(self, deadline: float) -> None:
        delay = deadline - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


class FakeClock:
    """Virtual time: sleeping jumps the clock to the deadline at once.

    Tests run hours of plant time in seconds, and make a scan "slow" by
    ``charge``-ing time to it (e.g. from a snapshot subscriber).
    """

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self.sleeps = 0

    def now(self) -> float:
        return self._now

    def charge(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass (work that took that long)."""
        self._now += seconds

    async def sleep_until(self, deadline: float) -> None:
        self.sleeps += 1
        if deadline > self._now:
            self._now = deadline
        await asyncio.sleep(0)
