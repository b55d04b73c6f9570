"""The engine under a fake clock: pacing, overruns, pause/step, commands, fan-out."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from structlog.testing import capture_logs

from twin.clock import FakeClock
from twin.commands import Source
from twin.config import PlantConfig, parse_plant
from twin.engine import Engine
from twin.errors import CommandError, InvalidStateError, OutOfRangeError
from twin.plant_builder import build_plant
from twin.snapshot import Snapshot
from twin.tags import Role, TagTable

ENGINEER = Source("test", "t1", "erik", Role.ENGINEER)
OPERATOR = Source("test", "t2", "olga", Role.OPERATOR)


def config(**simulation: object) -> PlantConfig:
    return parse_plant({"simulation": dict(simulation)}, "<test>")


def make_engine(cfg: PlantConfig, clock: FakeClock) -> Engine:
    return Engine(build_plant(cfg), cfg, TagTable(), clock)


class Recorder:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.starts: list[float] = []
        self.snapshots: list[Snapshot] = []

    def __call__(self, snap: Snapshot) -> None:
        self.starts.append(self.clock.now())
        self.snapshots.append(snap)


async def test_an_hour_of_plant_time_runs_on_absolute_deadlines_without_drift() -> None:
    clock = FakeClock(start=5000.0)
    engine = make_engine(config(scan_period=0.1), clock)
    record = Recorder(clock)
    engine.subscribe(record)
    scans = 36_000  # one hour at 10 Hz
    async with engine:
        start = clock.now()
        await engine.wait_scans(scans)
    snap = record.snapshots[scans - 1]
    assert snap.scan == scans
    assert snap.sim_time == pytest.approx(scans * 0.1, rel=1e-12)
    # Scan k (0-based) ran at exactly start + k * period: absolute deadlines, no drift.
    starts = np.array(record.starts[:scans]) - start
    assert np.allclose(starts, np.arange(scans) * 0.1, rtol=0, atol=1e-9)
    assert snap.overruns == 0
    assert abs(snap.state["level"][0] - 2.5) < 1e-3  # the default tank holds its setpoint


async def test_time_scale_runs_plant_time_faster_than_the_clock() -> None:
    clock = FakeClock()
    engine = make_engine(config(scan_period=0.5, dt=0.1, time_scale=10.0), clock)
    record = Recorder(clock)
    engine.subscribe(record)
    async with engine:
        start = clock.now()
        await engine.wait_scans(101)
    snap = record.snapshots[100]
    assert snap.sim_time == pytest.approx(101 * 0.5)
    assert record.starts[100] - start == pytest.approx(100 * 0.05)
    assert snap.steps == 101 * 5


async def test_overrun_is_counted_and_missed_deadlines_are_skipped_not_burst() -> None:
    clock = FakeClock(start=0.0)
    engine = make_engine(config(scan_period=0.1), clock)
    record = Recorder(clock)
    engine.subscribe(record)

    def slow_scan(snap: Snapshot) -> None:
        if snap.scan == 5:
            clock.charge(0.25)  # scan 5 takes 2.5 periods

    engine.subscribe(slow_scan)
    async with engine:
        await engine.wait_scans(20)
    assert engine.snapshot.overruns == 1
    period = 0.1
    # Scan 5 started at 0.4 and ended at 0.65; deadlines 0.5 and 0.6 were skipped,
    # scan 6 started at the next deadline on the original grid, 0.7.
    assert record.starts[4] == pytest.approx(0.4)
    assert record.starts[5] == pytest.approx(0.7)
    gaps = np.diff(record.starts[5:])
    assert np.all(gaps >= period - 1e-9), "no burst after an overrun"
    later = np.array(record.starts[5:])
    assert np.allclose(np.round(later / period) * period, later, atol=1e-9), "on the grid"


async def test_pause_resume_and_single_step() -> None:
    clock = FakeClock()
    engine = make_engine(config(scan_period=0.2, dt=0.1), clock)
    async with engine:
        await engine.wait_scans(3)
        engine.submit("running", None, False, ENGINEER)
        await engine.wait_scans(1)
        paused_at = engine.snapshot.sim_time
        assert engine.current(engine.tags.simulation_tag("running"), None) is False
        clock.charge(60.0)  # a minute of wall time passes while paused
        await asyncio.sleep(0.01)
        assert engine.snapshot.sim_time == paused_at
        with pytest.raises(OutOfRangeError):
            engine.request_steps(0, ENGINEER)
        engine.request_steps(3, ENGINEER)
        snap = await engine.wait_scans(3)
        assert snap.sim_time == pytest.approx(paused_at + 3 * 0.2)
        await asyncio.sleep(0.01)
        assert engine.snapshot.sim_time == pytest.approx(paused_at + 3 * 0.2)
        engine.submit("running", None, True, ENGINEER)
        await engine.wait_scans(5)
        assert engine.snapshot.sim_time > paused_at + 0.6


async def test_step_is_refused_while_running() -> None:
    engine = make_engine(config(), FakeClock())
    async with engine:
        with pytest.raises(InvalidStateError, match="pause"):
            engine.request_steps(1, ENGINEER)


async def test_commands_apply_at_the_next_scan_boundary_in_order() -> None:
    clock = FakeClock()
    engine = make_engine(config(start_paused=True), clock)
    setpoint = engine.tags.tank_tag("setpoint")
    async with engine:
        engine.submit("setpoint", 0, 3.0, OPERATOR)
        engine.submit("setpoint", 0, 3.5, OPERATOR)
        # Queued: a read shows the written value at once, the plant not yet.
        assert engine.current(setpoint, 0) == 3.5
        assert engine.plant.setpoint[0] == 2.5
        engine.request_steps(1, ENGINEER)
        await engine.wait_scans(1)
        assert engine.plant.setpoint[0] == 3.5
        assert engine.snapshot.value(setpoint, 0) == 3.5


async def test_every_command_is_logged_once_with_source_and_result() -> None:
    engine = make_engine(config(start_paused=True), FakeClock())
    async with engine:
        with capture_logs() as logs:
            engine.submit("setpoint", 0, 3.0, OPERATOR)
            with pytest.raises(OutOfRangeError):
                engine.submit("setpoint", 0, 9.0, OPERATOR)
            engine.request_steps(1, ENGINEER)
            await engine.wait_scans(1)
    commands = [e for e in logs if e["event"].startswith("command_")]
    events = [(e["event"], e.get("target")) for e in commands]
    assert ("command_rejected", "tank 0: setpoint") in events
    assert ("command_applied", "tank 0: setpoint") in events
    assert events.count(("command_applied", "tank 0: setpoint")) == 1
    applied = next(e for e in commands if e["event"] == "command_applied")
    assert applied["source"] == "test:t2:olga" and applied["role"] == "OPERATOR"
    assert applied["command_id"]


async def test_rejected_write_changes_nothing() -> None:
    engine = make_engine(config(start_paused=True), FakeClock())
    async with engine:
        before = engine.plant.save_state()
        for name, value in [("setpoint", float("nan")), ("mode", 7), ("valve_command", 0.1),
                            ("output_min", 2.0)]:
            with pytest.raises(CommandError):
                engine.submit(name, 0, value, ENGINEER)
        engine.request_steps(1, ENGINEER)
        await engine.wait_scans(1)
        reference = make_engine(config(start_paused=True), FakeClock())
        reference.plant.load_state(before)
        reference.plant.step(1)
        assert engine.plant.save_state() == reference.plant.save_state()


async def test_manual_valve_reset_and_parameter_writes_reach_the_core() -> None:
    engine = make_engine(config(start_paused=True), FakeClock())
    async with engine:
        engine.submit("mode", 0, "MANUAL", OPERATOR)
        engine.submit("valve_command", 0, 0.9, OPERATOR)  # valid: MANUAL is queued first
        engine.submit("gain", 0, -2.0, ENGINEER)
        engine.request_steps(1, ENGINEER)
        snap = await engine.wait_scans(1)
        assert snap.state["mode"][0] == 1
        assert snap.state["valve_command"][0] == 0.9
        assert snap.params["gain"][0] == -2.0
        engine.submit("reset", 0, True, ENGINEER)
        engine.request_steps(1, ENGINEER)
        snap = await engine.wait_scans(1)
        assert snap.state["mode"][0] == 0 and snap.params["gain"][0] == -1.0


async def test_fan_out_shares_one_read_only_snapshot() -> None:
    clock = FakeClock()
    engine = make_engine(config(), clock)
    first, second = Recorder(clock), Recorder(clock)
    engine.subscribe(first)
    unsubscribe = engine.subscribe(second)

    def broken(snap: Snapshot) -> None:
        raise RuntimeError("a faulty consumer")

    engine.subscribe(broken)
    async with engine:
        await engine.wait_scans(5)
        unsubscribe()
        await engine.wait_scans(2)
    assert all(a is b for a, b in zip(first.snapshots, second.snapshots, strict=False))
    assert len(first.snapshots) > len(second.snapshots)
    snap = first.snapshots[-1]
    with pytest.raises(ValueError):
        snap.state["level"][0] = 1.0
    # Parameters are shared between scans until a command changes them.
    assert first.snapshots[1].params is first.snapshots[2].params


async def test_engine_stops_cleanly_and_twice_safe() -> None:
    engine = make_engine(config(), FakeClock())
    async with engine:
        await engine.wait_scans(2)
        assert engine.alive
    assert not engine.alive
    await engine.__aexit__(None, None, None)


async def test_clock_waits_for_start_when_not_autostarted() -> None:
    clock = FakeClock()
    cfg = config()
    engine = Engine(build_plant(cfg), cfg, TagTable(), clock, autostart=False)
    async with engine:
        clock.charge(10.0)  # ten seconds of start-up elsewhere
        await asyncio.sleep(0.01)
        assert engine.snapshot.scan == 0 and engine.plant.steps == 0
        engine.start()
        await engine.wait_scans(3)
        assert engine.snapshot.overruns == 0


async def test_a_write_reads_back_until_the_snapshot_with_its_effect_is_out() -> None:
    clock = FakeClock()
    engine = make_engine(config(), clock)
    setpoint = engine.tags.tank_tag("setpoint")
    seen: list[float] = []
    slow_step = engine._step_and_copy

    def step_and_look() -> dict[str, np.ndarray]:
        seen.append(engine.current(setpoint, 0))  # mid-scan: applied, not yet published
        return slow_step()

    async with engine:
        await engine.wait_scans(1)
        engine._step_and_copy = step_and_look  # type: ignore[method-assign]
        engine.submit("setpoint", 0, 3.0, OPERATOR)
        await engine.wait_scans(2)
    assert seen[0] == 3.0 and engine.current(setpoint, 0) == 3.0
    assert not engine.writes_pending
