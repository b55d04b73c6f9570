"""Scenarios: validation naming the event and field, and playback in simulation time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from plants import test_plant

from twin.config import PlantConfig
from twin.errors import ConfigError
from twin.scenario_config import Session, parse_scenario
from twin.simulate import simulate

PLANT = {"tanks": [{"name": "T101"}, {"name": "T102", "height": 4.0}],
         "opcua": {"enabled": False}, "modbus": {"enabled": False}}


def plant() -> PlantConfig:
    return test_plant(PLANT)


def problem(events: list[dict[str, Any]], **top: Any) -> str:
    with pytest.raises(ConfigError) as info:
        parse_scenario({"events": events, **top}, plant(), "s.toml")
    return str(info.value)


@pytest.mark.parametrize(("events", "expected"), [
    ([{"at": 1, "tank": "T101", "tag": "setpoint", "value": 7.0}],
     "s.toml: events[0].value: must be <= 5 m, got 7"),
    ([{"at": 1, "tank": "T102", "tag": "setpoint", "value": 4.5}],
     "s.toml: events[0].value: must be <= 4 m, got 4.5"),
    ([{"at": 0, "tank": "T101", "tag": "setpoint", "value": 3.0},
      {"at": 5, "tank": "T9", "tag": "setpoint", "value": 3.0}],
     "s.toml: events[1].tank: no tank 'T9' in the plant"),
    ([{"at": 1, "tank": "T101", "tag": "levle", "value": 1.0}],
     "s.toml: events[0].tag: no tank tag 'levle'"),
    ([{"at": 1, "tank": "T101", "tag": "level", "value": 1.0}],
     "s.toml: events[0].tag: level: read-only"),
    ([{"at": -1, "tank": "T101", "tag": "setpoint", "value": 1.0}],
     "s.toml: events[0].at: must be a finite number >= 0 s"),
    ([{"tank": "T101", "tag": "setpoint", "value": 1.0}], "s.toml: events[0].at: missing"),
    ([{"at": 1, "tank": "T101", "tag": "mode", "value": "TURBO"}],
     "s.toml: events[0].value: must be one of AUTO, MANUAL, EXTERNAL"),
    ([{"at": 1, "tank": "T101", "tag": "mode", "ramp_to": 1, "duration": 5}],
     "s.toml: events[0].ramp_to: mode is not a number"),
    ([{"at": 1, "tank": "T101", "tag": "inlet_flow", "ramp_to": 1.1}],
     "s.toml: events[0].duration: missing"),
    ([{"at": 1, "tank": "T101", "tag": "inlet_flow", "value": 1, "ramp_to": 1.1}],
     "s.toml: events[0]: needs exactly one of value, ramp_to, brownian (has value, ramp_to)"),
    ([{"at": 1, "tank": "T101", "brownian": {"sigma": 0.1, "min": 1.0, "max": 0.5}}],
     "s.toml: events[0].brownian.min: must be <= max"),
    ([{"at": 1, "tank": "T101", "brownian": {"sigma": -1}}],
     "s.toml: events[0].brownian.sigma: must be >= 0"),
    ([{"at": 1, "tank": "T101", "tag": "setpoint", "value": True}],
     "s.toml: events[0].value: expected a number, got bool"),
    ([{"at": 1, "tag": "running", "value": False}],
     "s.toml: events[0].tag: running is simulation control"),
    ([{"at": 1, "tank": "T101", "tag": "setpoint", "valeu": 1}],
     "s.toml: events[0].valeu: unknown key"),
    ([{"at": 1, "tank": "T101", "tag": "setpoint", "value": 2, "then": 3}],
     "s.toml: events[0].then: only with value and duration"),
])
def test_validation_names_the_event_and_the_field(events: list[dict[str, Any]],
                                                  expected: str) -> None:
    assert problem(events).startswith(expected)


def test_a_valid_scenario_expands_to_a_sorted_timeline() -> None:
    scenario = parse_scenario({"scenario": {"name": "x"}, "events": [
        {"at": 10, "tank": "*", "tag": "leak", "value": 0.1, "duration": 5},
        {"at": 2, "tank": "T101", "tag": "mode", "value": "manual"},
        {"at": 3, "tank": "T101", "brownian": {"sigma": 0.01, "min": 0.9}, "duration": 4},
        {"at": 0, "tag": "reset_all", "value": True},
    ]}, plant(), "s.toml")
    timeline = [(a.at, a.tank, a.tag, a.kind, a.value) for a in scenario.actions]
    assert timeline == [
        (0.0, None, "reset_all", "set", True),
        (2.0, 0, "mode", "set", 1),
        (3.0, 0, "disturbance_sigma", "set", 0.01),
        (3.0, 0, "disturbance_min", "set", 0.9),
        (3.0, 0, "disturbance", "set", 1),
        (7.0, 0, "disturbance", "set", 0),
        (10.0, 0, "leak", "set", 0.1),
        (10.0, 1, "leak", "set", 0.1),
        (15.0, 0, "leak", "restore", None),
        (15.0, 1, "leak", "restore", None),
    ]
    assert scenario.end == 15.0


async def run(events: list[dict[str, Any]], until: float, tmp_path: Any,
              name: str = "rec.csv") -> list[dict[str, str]]:
    import csv

    scenario = parse_scenario({"events": events}, plant(), "s.toml")
    record = tmp_path / name
    code = await simulate(plant(), Session(scenario, str(record)), until)
    assert code == 0
    with record.open() as file:
        return list(csv.DictReader(file))


def at(rows: list[dict[str, str]], t: float) -> dict[str, str]:
    return next(r for r in rows if float(r["sim_time"]) >= t - 1e-9)


async def test_steps_ramps_restores_act_at_the_scan_boundary_of_their_time(tmp_path: Any) -> None:
    rows = await run([
        {"at": 1.0, "tank": "T101", "tag": "setpoint", "value": 3.0},
        {"at": 2.0, "tank": "T102", "tag": "inlet_flow", "ramp_to": 2.0, "duration": 1.0},
        {"at": 0.5, "tank": "T101", "tag": "alarm_high", "value": 4.8, "duration": 1.0},
        {"at": 0.5, "tank": "T101", "tag": "alarm_high_high", "value": 4.9},
    ], 4.0, tmp_path)
    # An event at t acts from the scan starting at t: it shows in the snapshot at t + scan.
    assert at(rows, 1.0)["T101.setpoint"] == "2.5"
    assert at(rows, 1.1)["T101.setpoint"] == "3.0"
    # A ramp writes its value for time T at the boundary T: it shows at T + scan.
    ramp = [float(at(rows, t)["T102.inlet_flow"]) for t in (2.1, 2.2, 2.6, 3.0, 3.1, 3.5)]
    assert ramp[:2] == [1.0, pytest.approx(1.1)]
    assert ramp[2] == pytest.approx(1.5) and ramp[3] == pytest.approx(1.9)
    assert ramp[4:] == [2.0, 2.0]
    # alarm_high above the old HH (4.5) only works once HH moved: order is retried.
    assert at(rows, 0.6)["T101.alarm_high"] == "4.8"
    assert at(rows, 0.6)["T101.alarm_high_high"] == "4.9"
    assert at(rows, 1.6)["T101.alarm_high"] == "4.0"  # restored to the value before


async def test_a_write_refused_at_run_time_is_counted_and_the_scenario_goes_on(
        tmp_path: Any) -> None:
    scenario = parse_scenario({"events": [
        {"at": 0.5, "tank": "T101", "tag": "valve_command", "value": 0.2},  # AUTO: refused
        {"at": 1.0, "tank": "T101", "tag": "setpoint", "value": 3.0},
    ]}, plant(), "s.toml")
    code = await simulate(plant(), Session(scenario, str(tmp_path / "r.csv")), 2.0)
    assert code == 1
    import csv

    with (tmp_path / "r.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert at(rows, 1.1)["T101.setpoint"] == "3.0"
    assert at(rows, 2.0)["T101.valve_command"] != "0.2"


async def test_the_same_plant_scenario_and_seed_record_byte_identical_files(
        tmp_path: Any) -> None:
    events = [{"at": 0, "tank": "*", "brownian": {"sigma": 0.02}},
              {"at": 0, "tank": "*", "tag": "noise_std", "value": 0.01},
              {"at": 3, "tank": "T101", "tag": "setpoint", "ramp_to": 3.5, "duration": 2}]
    first = tmp_path / "a.csv"
    second = tmp_path / "b.csv"
    await run(events, 8.0, tmp_path, "a.csv")
    await run(events, 8.0, tmp_path, "b.csv")
    assert first.read_bytes() == second.read_bytes()
    assert len(first.read_text().splitlines()) == 82  # header + t = 0 + 80 scans
    await asyncio.sleep(0)
