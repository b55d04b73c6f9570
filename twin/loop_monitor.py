"""Measures event-loop lag: how late the loop runs a timer it was asked to run."""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client import Gauge

PROBE_INTERVAL = 0.25  # s


class LoopLagMonitor:
    def __init__(self, gauge: Gauge, interval: float = PROBE_INTERVAL) -> None:
        self._gauge = gauge
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LoopLagMonitor:
        self._task = asyncio.create_task(self._probe(), name="twin-loop-lag")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _probe(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(self._interval)
            self._gauge.set(max(0.0, loop.time() - start - self._interval))
