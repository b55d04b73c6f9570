"""``tank-twin simulate`` as a subprocess: records, determinism, validation exit codes."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

EXE = Path(sys.executable).parent / "tank-twin"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def simulate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), "simulate", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_two_runs_of_plant_scenario_and_seed_record_byte_identical_files(tmp_path: Path) -> None:
    plant = tmp_path / "plant.toml"
    plant.write_text("[simulation]\nseed = 42\n[[tanks]]\nname = 'T101'\nnoise_std = 0.02\n"
                     "[[tanks]]\nname = 'T102'\ndisturbance = 'brownian'\n")
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        '[scenario]\nname = "e2e"\n'
        '[[events]]\nat = 5\ntank = "*"\ntag = "setpoint"\nramp_to = 3.0\nduration = 20\n'
        '[[events]]\nat = 30\ntank = "T101"\nbrownian = { sigma = 0.02 }\nduration = 30\n'
        '[[events]]\nat = 40\ntank = "T102"\ntag = "leak"\nvalue = 0.1\nduration = 10\n')
    runs = []
    for name in ("a.csv", "b.csv"):
        done = simulate("--config", str(plant), "--scenario", str(scenario), "--until", "120",
                        "--record", name, "--record-period", "0.5", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "simulated to 120 s (1200 scans)" in done.stderr
        runs.append((tmp_path / name).read_bytes())
    assert runs[0] == runs[1]
    lines = runs[0].decode().splitlines()
    assert lines[0].startswith("sim_time,time_scale,running,step_count,scan_count")
    assert "T102.leak" in lines[0]
    assert len(lines) == 1 + 241  # header, t = 0, 0.5, ..., 120
    other = simulate("--config", str(plant), "--scenario", str(scenario), "--until", "120",
                     "--record", "c.csv", "--record-period", "0.5", "--seed", "7", cwd=tmp_path)
    assert other.returncode == 0, other.stderr
    assert (tmp_path / "c.csv").read_bytes() != runs[0]  # another seed, other noise


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("scenario-*.toml")),
                         ids=lambda p: p.stem)
def test_the_example_scenarios_run_on_the_default_plant(tmp_path: Path, example: Path) -> None:
    done = simulate("--scenario", str(example), "--until", "1200", "--record", "r.csv",
                    "--record-period", "10", "--state", "end.state", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "0 writes refused" in done.stderr
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 1 + 121
    assert (tmp_path / "end.state").stat().st_size > 0


def test_fault_switches_are_scripted_like_any_tag(tmp_path: Path) -> None:
    simulate("--scenario", str(EXAMPLES / "scenario-faults.toml"), "--until", "1000",
             "--record", "f.csv", "--record-period", "10", cwd=tmp_path)
    with (tmp_path / "f.csv").open() as file:
        rows = {round(float(r["sim_time"])): r for r in csv.DictReader(file)}
    assert rows[250]["T101.fault_level_fail_high"] == "1"
    assert rows[250]["T101.level_alarm_state"] == "4"  # a transmitter failed high reads HH
    assert rows[310]["T101.fault_level_fail_high"] == "0"
    assert rows[600]["T101.fault_valve_stuck"] == "1"
    assert rows[730]["T101.fault_inlet_trip"] == "1" and rows[730]["T101.inlet_flow"] == "0.0"
    assert rows[910]["T101.fault_leak"] == "1" and rows[910]["T101.fault_active"] == "1"


def test_validation_errors_name_the_event_and_field_and_exit_2(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.toml"
    scenario.write_text(
        '[[events]]\nat = 1\ntank = "T101"\ntag = "setpoint"\nvalue = 2\n'
        '[[events]]\nat = 2\ntank = "T101"\ntag = "inlet_flow"\nvalue = 1\n'
        '[[events]]\nat = 3\ntank = "T101"\ntag = "mode"\nvalue = "MANUAL"\n'
        '[[events]]\nat = 4\ntank = "T101"\ntag = "setpoint"\nvalue = 9.5\n')
    done = simulate("--scenario", str(scenario), "--until", "10", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"tank-twin: {scenario}: events[3].value: must be <= 5 m, got 9.5")
    missing = simulate("--scenario", "nope.toml", "--until", "10", cwd=tmp_path)
    assert missing.returncode == 2 and "cannot read the file" in missing.stderr
    bad_period = simulate("--until", "1", "--record", "r.csv", "--record-period", "0",
                          cwd=tmp_path)
    assert bad_period.returncode == 2 and "--record-period" in bad_period.stderr
