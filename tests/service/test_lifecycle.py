"""Two twins in one process, and fifty start/stop cycles leaking nothing."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

from plants import test_plant

from twin.app import Twin
from twin.commands import Source
from twin.tags import Role

ENGINEER = Source("test", "c", "erik", Role.ENGINEER)


def make(name: str, state: Path | None = None, **tank: object) -> Twin:
    return Twin(test_plant({"tanks": [{"name": name, **tank}]}, state=state))


async def test_two_twins_in_one_process_do_not_interfere() -> None:
    async with make("A") as a, make("B", setpoint=1.0, initial_level=1.0) as b:
        assert a.metrics_server and b.metrics_server
        assert a.metrics_server.port != b.metrics_server.port
        assert a.registry is not b.registry
        a.engine.submit("setpoint", 0, 4.0, ENGINEER)
        b.engine.submit("time_scale", None, 5.0, ENGINEER)
        await a.engine.wait_scans(2)
        await b.engine.wait_scans(2)
        assert a.plant.setpoint[0] == 4.0 and b.plant.setpoint[0] == 1.0
        assert a.engine.snapshot.time_scale == 1.0 and b.engine.snapshot.time_scale == 5.0
        assert a.tank_names == ("A",) and b.tank_names == ("B",)
        text_a = a.registry.get_sample_value("tank_setpoint_meters", {"tank": "A"})
        text_b = b.registry.get_sample_value("tank_setpoint_meters", {"tank": "B"})
        assert (text_a, text_b) == (4.0, 1.0)
        assert a.registry.get_sample_value("tank_setpoint_meters", {"tank": "B"}) is None


def own_threads() -> list[str]:
    """Threads other than the event loop's default executor (asyncio.to_thread), a pool
    that may grow under load by design and is shut down with the loop."""
    return sorted(t.name for t in threading.enumerate() if not t.name.startswith("asyncio_"))


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


async def test_fifty_start_stop_cycles_leak_no_thread_task_socket_or_file(tmp_path: Path) -> None:
    async with make("warmup", tmp_path) as twin:  # first use imports, caches, makes the PKI
        await twin.engine.wait_scans(1)
    await asyncio.sleep(0.05)
    threads, tasks, fds = own_threads(), len(asyncio.all_tasks()), open_fds()
    for cycle in range(50):
        async with make(f"T{cycle}", tmp_path) as twin:
            await twin.engine.wait_scans(1)
    await asyncio.sleep(0.05)
    assert own_threads() == threads
    assert len(asyncio.all_tasks()) == tasks
    assert open_fds() == fds
