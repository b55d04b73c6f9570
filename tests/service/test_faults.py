"""Faults through the engine (switch tags, status tags, plant file) and raw I/O values.

The engine runs paused on a fake clock and advances by lock-step, so every number is
deterministic."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from twin.clock import FakeClock
from twin.commands import Source
from twin.config import parse_plant
from twin.engine import Engine
from twin.errors import AccessDeniedError, NotWritableError, OutOfRangeError
from twin.faults import FaultStatus
from twin.plant_builder import build_plant
from twin.plc_link import PlcLink
from twin.raw_io import RawIo, input_counts, level_current
from twin.tags import DataType, Role, TagTable

ENGINEER = Source("test", "e", "erik", Role.ENGINEER)
OPERATOR = Source("test", "o", "olga", Role.OPERATOR)
TAGS = TagTable()
STATUS = [t.name for t in TAGS.tank if t.source.startswith("fault.")]


def make_engine(*tanks: dict[str, Any], **simulation: Any) -> Engine:
    cfg = parse_plant({"simulation": {"start_paused": True, **simulation},
                       "tanks": [{"name": f"T{k}", **t} for k, t in enumerate(tanks)]}, "<test>")
    plant = build_plant(cfg)
    return Engine(plant, cfg, TAGS, FakeClock(),
                  extensions=(FaultStatus(), PlcLink(cfg, plant), RawIo()))


async def advance(engine: Engine, scans: int) -> None:
    target = engine.snapshot.step_ack + scans
    engine.submit("step_request", None, target, OPERATOR)
    async with asyncio.timeout(10):
        while engine.snapshot.step_ack != target:
            await asyncio.sleep(0.001)


def value(engine: Engine, name: str, tank: int = 0) -> Any:
    return engine.snapshot.value(TAGS.tank_tag(name), tank)


def active(engine: Engine, tank: int = 0) -> set[str]:
    return {name for name in STATUS if value(engine, name, tank)}


def test_every_fault_has_a_metric_status_tag_and_an_engineer_switch() -> None:
    status = {t.name: t for t in TAGS.tank if t.source.startswith("fault.")}
    assert all(t.dtype is DataType.BOOLEAN and not t.writable and t.metric
               for t in status.values())
    switches = ["noise_std", "measurement_bias", "level_drift_rate", "level_freeze",
                "level_fail", "valve_stuck", "valve_slow_time_constant", "leak", "inlet_trip"]
    for name in switches:
        tag = TAGS.tank_tag(name)
        assert tag.writable and tag.access.name == "ENGINEER", name
    assert len(status) == 12  # 11 faults (fail low/high/wire break apart) and fault_active


@pytest.mark.parametrize(("switch", "on", "status"), [
    ("noise_std", 0.01, "fault_level_noise"),
    ("measurement_bias", -0.1, "fault_level_bias"),
    ("level_drift_rate", 0.01, "fault_level_drift"),
    ("level_freeze", True, "fault_level_freeze"),
    ("level_fail", "low", "fault_level_fail_low"),
    ("level_fail", 2, "fault_level_fail_high"),
    ("level_fail", "WIRE_BREAK", "fault_level_wire_break"),
    ("valve_stuck", 1, "fault_valve_stuck"),
    ("valve_slow_time_constant", 30.0, "fault_valve_slow"),
    ("leak", 0.2, "fault_leak"),
    ("inlet_trip", True, "fault_inlet_trip"),
])
async def test_a_switch_turns_its_status_on_and_off(switch: str, on: Any, status: str) -> None:
    engine = make_engine({})
    async with engine:
        assert active(engine) == set()
        engine.submit(switch, 0, on, ENGINEER)
        await advance(engine, 1)
        assert active(engine) == {status, "fault_active"}
        off = 0 if switch == "level_fail" else type(on)(0)
        engine.submit(switch, 0, off, ENGINEER)
        await advance(engine, 1)
        assert active(engine) == set()


async def test_switches_are_for_engineers_and_status_is_read_only() -> None:
    engine = make_engine({})
    async with engine:
        with pytest.raises(AccessDeniedError):
            engine.submit("valve_stuck", 0, True, OPERATOR)
        with pytest.raises(NotWritableError):
            engine.submit("fault_valve_stuck", 0, True, ENGINEER)
        with pytest.raises(OutOfRangeError, match="must be <= 1"):
            engine.submit("level_drift_rate", 0, 2.0, ENGINEER)


async def test_faults_from_the_plant_file_are_on_from_the_start() -> None:
    engine = make_engine({"level_fail": "high", "inlet_trip": True}, {"valve_stuck": True})
    async with engine:
        assert active(engine, 0) == {"fault_level_fail_high", "fault_inlet_trip", "fault_active"}
        assert active(engine, 1) == {"fault_valve_stuck", "fault_active"}
        assert value(engine, "inlet_flow", 0) == 0.0
        assert value(engine, "level", 0) == 5.0 * 1.09375


async def test_fault_effects_through_the_engine() -> None:
    manual = {"mode": "manual"}
    engine = make_engine(manual, manual, manual, manual)
    async with engine:
        await advance(engine, 5)
        engine.submit("inlet_trip", 0, True, ENGINEER)
        engine.submit("valve_stuck", 1, True, ENGINEER)
        engine.submit("valve_command", 1, 1.0, OPERATOR)
        engine.submit("level_freeze", 2, True, ENGINEER)
        engine.submit("inlet_flow", 2, 2.0, OPERATOR)
        engine.submit("level_fail", 3, "wire_break", ENGINEER)
        frozen = value(engine, "level", 2)
        await advance(engine, 50)
        assert value(engine, "inlet_flow", 0) == 0.0
        assert value(engine, "valve_position", 1) == 0.5
        assert value(engine, "level", 2) == frozen < value(engine, "level_true", 2) - 0.01
        assert value(engine, "level", 3) == -0.25 * 5.0
        engine.submit("inlet_trip", 0, False, ENGINEER)
        await advance(engine, 1)
        assert value(engine, "inlet_flow", 0) == 1.0


async def test_raw_io_values() -> None:
    engine = make_engine({"mode": "manual", "initial_valve": 0.25},
                         {"mode": "manual", "measurement_bias": 4.0},
                         {"mode": "manual", "level_fail": "low"},
                         {"mode": "manual", "level_fail": "high"},
                         {"mode": "manual", "level_fail": "wire_break"})
    async with engine:
        await advance(engine, 1)
        current = [value(engine, "level_raw_current", k) for k in range(5)]
        counts = [value(engine, "level_raw_counts", k) for k in range(5)]
        level0 = value(engine, "level", 0)
        assert current[0] == pytest.approx(4 + 16 * level0 / 5.0)
        assert counts[0] == round(27648 * level0 / 5.0)
        assert current[1:] == [20.5, 3.5, 21.5, 0.0]  # NE43 saturation, then the failures
        assert counts[1:] == [28512, -864, 30240, 32767]  # wire break: 7FFFh
        assert value(engine, "valve_command_raw_current", 0) == 8.0
        assert value(engine, "valve_command_raw_counts", 0) == 6912
        assert value(engine, "valve_command_raw_counts", 1) == 13824


def test_siemens_count_codes() -> None:
    ma = np.array([4.0, 20.0, 22.814, 22.9, 1.1852, 1.1, 12.0])
    assert input_counts(ma).tolist() == [0, 27648, 32511, 32767, -4864, 32767, 13824]
    level = np.array([2.5, 9.0, -1.0])
    height = np.array([5.0, 5.0, 5.0])
    fail = np.zeros(3)
    assert level_current(level, height, fail).tolist() == [12.0, 20.5, 3.8]
