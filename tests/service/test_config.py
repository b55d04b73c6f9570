"""Plant files: defaults, examples, and every kind of error naming file, field and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.cli import main
from twin.config import LOCALHOST, default_plant, load_plant_file
from twin.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plant.toml"
    path.write_text(text)
    return path


def test_default_plant_is_one_tank_with_physics_defaults() -> None:
    config = default_plant()
    assert [t.name for t in config.tanks] == ["T101"]
    tank = config.tanks[0].settings
    assert (tank.area, tank.height, tank.valve_coefficient) == (120.0, 5.0, 1.2649)
    assert (tank.initial_level, tank.setpoint, tank.inlet_flow, tank.initial_valve) == (
        2.5, 2.5, 1.0, 0.5)
    assert (tank.gain, tank.integral_time, tank.derivative_time, tank.bias) == (
        -1.0, 10.0, 1.0, 0.5)
    assert (tank.output_min, tank.output_max, tank.integral_limit) == (0.0, 1.0, 10.0)
    assert config.simulation.dt == 0.1 and config.simulation.steps_per_scan == 1
    assert config.metrics.host == LOCALHOST


@pytest.mark.parametrize("name", ["default.toml", "small-plant.toml", "fleet-1000.toml"])
def test_examples_are_valid(name: str) -> None:
    config = load_plant_file(EXAMPLES / name)
    assert config.tanks


def test_default_example_equals_embedded_default() -> None:
    file = load_plant_file(EXAMPLES / "default.toml")
    embedded = default_plant()
    assert file.tanks[0].settings == embedded.tanks[0].settings
    assert file.simulation == embedded.simulation and file.metrics == embedded.metrics


def test_fleet_generates_names_and_distinct_seeds() -> None:
    config = load_plant_file(EXAMPLES / "fleet-1000.toml")
    names = [t.name for t in config.tanks]
    assert len(names) == 1000 and names[0] == "T0001" and names[-1] == "T1000"
    seeds = {t.settings.seed for t in config.tanks}
    assert len(seeds) == 1000
    assert all(t.settings.disturbance == "brownian" for t in config.tanks)


def test_tank_overrides_template_and_explicit_seed_is_kept(tmp_path: Path) -> None:
    path = write(tmp_path, """
[tank_defaults]
area = 50.0
[[tanks]]
name = "A"
[[tanks]]
name = "B"
area = 10.0
seed = 7
[[fleets]]
count = 2
name = "F{index}"
height = 8.0
""")
    config = load_plant_file(path)
    by_name = {t.name: t.settings for t in config.tanks}
    assert by_name["A"].area == 50.0 and by_name["B"].area == 10.0
    assert by_name["B"].seed == 7
    assert by_name["F1"].height == 8.0 and by_name["F1"].area == 50.0
    assert by_name["F1"].seed != by_name["F2"].seed


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ("[[tanks]]\nname='A'\n[[tanks]]\nname='B'\narea=-1.0\n", "tanks[1].area", "must be > 0"),
        ("[[tanks]]\nname='A'\nareaa=1.0\n", "tanks[0].areaa", "unknown key"),
        ("colour='red'\n[[tanks]]\nname='A'\n", "colour", "unknown key"),
        ("[simulation]\nspeed=2.0\n[[tanks]]\nname='A'\n", "simulation.speed", "unknown key"),
        ("[[tanks]]\nname='A'\narea='big'\n", "tanks[0].area", "expected a number"),
        ("[[tanks]]\nname='A'\nmode='cruise'\n", "tanks[0].mode", "must be one of"),
        ("[[tanks]]\nname='A'\nsetpoint=6.0\n", "tanks[0].setpoint", "must be <= height"),
        ("[[tanks]]\nname='A'\noutput_min=0.8\noutput_max=0.2\n", "tanks[0].output_min",
         "must be < output_max"),
        ("[[tanks]]\nname='A'\n[[tanks]]\nname='A'\n", "tanks[1].name", "duplicate tank name"),
        ("[[tanks]]\nname='bad name'\n", "tanks[0].name", "must match"),
        ("[[tanks]]\narea=3.0\n", "tanks[0].name", "missing"),
        ("[simulation]\nscan_period=0.15\ndt=0.1\n[[tanks]]\nname='A'\n",
         "simulation.scan_period", "whole number of internal steps"),
        ("[simulation]\ndt=20.0\n[[tanks]]\nname='A'\n", "simulation.dt", "must be <= 10"),
        ("[simulation]\ntime_scale=5000.0\n[[tanks]]\nname='A'\n", "simulation.time_scale",
         "must be <= 1000"),
        ("[[fleets]]\ncount=0\n", "fleets[0].count", "must be > 0"),
        ("[[fleets]]\ncount=2\nname='T{idx}'\n", "fleets[0].name", "bad name pattern"),
        ("[tank_defaults]\nheight=0.0\n[[tanks]]\nname='A'\n", "tank_defaults.height",
         "must be > 0"),
        ("[metrics]\nport=70000\n[[tanks]]\nname='A'\n", "metrics.port", "must be <= 65535"),
        ("[[tanks]]\nname='A'\ninitial_valve=1.5\n", "tanks[0].initial_valve", "must be <= 1"),
        ("[[tanks]]\nname='A'\nsetpoint=inf\n", "tanks[0].setpoint", "must be finite"),
        ("[[tanks]]\nname='A'\nseed=-1\n", "tanks[0].seed", "must be >= 0"),
        ("[simulation]\n", "tanks", "at least one"),
    ],
)
def test_errors_name_file_field_and_reason(
    tmp_path: Path, text: str, field: str, reason: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_plant_file(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert f": {field}: " in message, message
    assert reason in message, message


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_plant_file(write(tmp_path, "[[tanks]\nname=1"))
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_plant_file(tmp_path / "nope.toml")


def test_check_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "[[tanks]]\nname='A'\n")
    assert main(["check", str(good)]) == 0
    assert "OK: 1 tank(s)" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text("[[tanks]]\nname='A'\nheight=-2.0\n")
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "tanks[0].height" in err and "must be > 0" in err


def test_plant_file_reference_is_current() -> None:
    from twin.config_docs import render

    docs = Path(__file__).resolve().parents[2] / "docs" / "plant-file.md"
    assert docs.read_text() == render(), "run: python -m twin.config_docs > docs/plant-file.md"
