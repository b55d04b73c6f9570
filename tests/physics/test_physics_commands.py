"""Commands: validation (a failed command changes nothing), reset, set_param effects."""

import math
from collections.abc import Callable

import numpy as np
import pytest

from twin import _core


@pytest.fixture
def plant() -> _core.Plant:
    p = _core.Plant([_core.TankParams(seed=k, noise_std=0.001) for k in range(3)])
    p.step(50)
    return p


BAD_COMMANDS: list[tuple[Callable[[_core.Plant], object], str]] = [
    (lambda p: p.set_setpoint(2, 7.0), "tank 2: setpoint: must be within [0, 5] m (got 7.0)"),
    (lambda p: p.set_setpoint(0, math.nan), "tank 0: setpoint: must be finite (got nan)"),
    (lambda p: p.set_setpoint(12, 1.0), "tank 12: no such tank (plant has 3)"),
    (lambda p: p.set_setpoint(-1, 1.0), "tank -1: no such tank (plant has 3)"),
    (lambda p: p.set_inlet_flow(1, -0.1), "tank 1: inlet_flow: must be >= 0 (got -0.1)"),
    (lambda p: p.set_inlet_flow(1, math.inf), "tank 1: inlet_flow: must be finite (got inf)"),
    (lambda p: p.set_valve_command(2, 1.5),
     "tank 2: valve_command: must be within [0, 1] (got 1.5)"),
    (lambda p: p.set_valve_command(0, -math.nan), "tank 0: valve_command: must be finite"),
    (lambda p: p.set_mode(0, 3),
     "tank 0: mode: must be 0 (AUTO), 1 (MANUAL) or 2 (EXTERNAL) (got 3)"),
    (lambda p: p.set_param(0, "area", 10.0), "tank 0: area: cannot be changed at runtime"),
    (lambda p: p.set_param(1, "seed", 1.0), "tank 1: seed: cannot be changed at runtime"),
    (lambda p: p.set_param(0, "setpoint", 1.0),
     "tank 0: setpoint: cannot be changed with set_param (use set_setpoint)"),
    (lambda p: p.set_param(0, "mode", 1.0), "tank 0: mode: cannot be changed with set_param"),
    (lambda p: p.set_param(0, "nonsense", 1.0), "tank 0: nonsense: no such parameter"),
    (lambda p: p.set_param(0, "output_min", 1.0),
     "tank 0: output_min: must be < output_max = 1 (got 1.0)"),
    (lambda p: p.set_param(0, "output_max", 1.5), "tank 0: output_max: must be within [0, 1]"),
    (lambda p: p.set_param(0, "disturbance_max", 0.5),
     "tank 0: disturbance_max: must be >= disturbance_min = 0.8 (got 0.5)"),
    (lambda p: p.set_param(0, "valve_characteristic", 0.5),
     "tank 0: valve_characteristic: must be 0 (LINEAR) or 1 (EQUAL_PERCENTAGE) (got 0.5)"),
    (lambda p: p.set_param(0, "integral_time", -1.0),
     "tank 0: integral_time: must be >= 0 (got -1.0)"),
    (lambda p: p.set_param(0, "gain", math.nan), "tank 0: gain: must be finite (got nan)"),
    (lambda p: p.set_param(2, "rangeability", 1.0), "tank 2: rangeability: must be > 1"),
    (lambda p: p.set_param(5, "gain", 1.0), "tank 5: no such tank (plant has 3)"),
    (lambda p: p.reset(3), "tank 3: no such tank (plant has 3)"),
    (lambda p: p.params(7), "tank 7: no such tank (plant has 3)"),
    (lambda p: p.step(-1), "n: must be >= 0 (got -1)"),
]


@pytest.mark.parametrize("command, message", BAD_COMMANDS)
def test_bad_command_raises_and_changes_nothing(
        plant: _core.Plant, command: Callable[[_core.Plant], object], message: str) -> None:
    before = plant.save_state()
    with pytest.raises(ValueError) as info:
        command(plant)
    assert str(info.value).startswith(message)
    assert plant.save_state() == before


@pytest.mark.parametrize("fields, message", [
    (dict(area=-1.0), "tank 1: area: must be > 0 (got -1.0)"),
    (dict(area=1e-5), "tank 1: area: must be within [1e-04, 1e+06] m2 (got 1e-05)"),
    (dict(initial_level=6.0), "tank 1: initial_level: must be within [0, 5] m (got 6.0)"),
    (dict(integral_time=1e-5), "tank 1: integral_time: must be 0 or within"),
    (dict(gain=1e-12), "tank 1: gain: must be 0 or at least 1e-09 in magnitude"),
    (dict(mode=7), "tank 1: mode: must be 0 (AUTO), 1 (MANUAL) or 2 (EXTERNAL) (got 7)"),
    (dict(output_min=0.5, output_max=0.5), "tank 1: output_min: must be < output_max"),
])
def test_construction_rejects_bad_tank(fields: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError) as info:
        _core.Plant([_core.TankParams(), _core.TankParams(**fields)])
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("dt", [0.0, 0.0009, 10.5, math.nan])
def test_construction_rejects_bad_dt(dt: float) -> None:
    with pytest.raises(ValueError, match=r"^dt: must be within \[0.001, 10\] s"):
        _core.Plant([_core.TankParams()], dt)


def test_construction_rejects_no_tanks() -> None:
    with pytest.raises(ValueError, match="tanks: must contain at least one tank"):
        _core.Plant([])


def test_valid_commands_take_effect(plant: _core.Plant) -> None:
    plant.set_setpoint(1, 3.0)
    plant.set_inlet_flow(2, 1.1)
    plant.set_mode(0, _core.MANUAL)
    plant.set_valve_command(0, 0.7)
    assert plant.setpoint[1] == 3.0 and plant.inlet_flow[2] == 1.1
    assert plant.mode[0] == _core.MANUAL and plant.valve_command[0] == 0.7
    assert plant.controller_output[0] == 0.7
    plant.step(1)
    assert plant.valve_position[0] == 0.7  # instant actuator by default


def test_valve_command_in_auto_has_no_effect(plant: _core.Plant) -> None:
    twin = _core.Plant([_core.TankParams(seed=k, noise_std=0.001) for k in range(3)])
    twin.step(50)
    plant.set_valve_command(1, 0.9)
    plant.step(1)
    twin.step(1)
    assert plant.valve_command[1] == twin.valve_command[1]


def test_reset_one_tank_restores_configuration(plant: _core.Plant) -> None:
    fresh = _core.Plant([_core.TankParams(seed=k, noise_std=0.001) for k in range(3)])
    plant.set_param(1, "gain", -3.0)
    plant.set_setpoint(1, 4.0)
    plant.set_mode(1, _core.MANUAL)
    plant.step(100)
    untouched = plant.level[2]
    time = plant.time
    plant.reset(1)
    assert plant.time == time
    assert plant.level[2] == untouched
    assert plant.params(1) == fresh.params(1)
    for name in ("level", "level_true", "setpoint", "valve_command", "integral", "mode",
                 "flags", "outlet_flow"):
        assert getattr(plant, name)[1] == getattr(fresh, name)[1], name
    # The generators are reseeded: tank 1 now repeats a fresh tank's trajectory.
    plant.step(100)
    fresh.step(100)
    assert plant.level[1] == fresh.level[1]


def test_reset_all(plant: _core.Plant) -> None:
    fresh = _core.Plant([_core.TankParams(seed=k, noise_std=0.001) for k in range(3)])
    plant.set_param(0, "noise_std", 0.1)
    plant.step(10)
    plant.reset()
    assert plant.steps == 60
    for name in ("level", "level_true", "integral", "valve_position"):
        assert np.array_equal(getattr(plant, name), getattr(fresh, name)), name


def test_params_reports_runtime_values(plant: _core.Plant) -> None:
    plant.set_param(0, "leak_flow", 0.05)
    plant.set_param(0, "valve_characteristic", 1.0)
    plant.set_setpoint(0, 2.0)
    p = plant.params(0)
    assert (p.leak_flow, p.valve_characteristic, p.setpoint) == (0.05, 1, 2.0)
    assert p.area == 120.0 and p.seed == 0


def test_set_param_effects() -> None:
    plant = _core.Plant([_core.TankParams(mode=_core.MANUAL) for _ in range(4)])
    plant.set_param(0, "leak_flow", 0.1)
    plant.set_param(1, "valve_time_constant", 5.0)
    plant.set_param(2, "noise_std", 0.01)
    plant.set_param(3, "valve_characteristic", _core.EQUAL_PERCENTAGE)
    for k in range(4):
        plant.set_valve_command(k, 0.8)
    plant.step(1)
    assert plant.leak_flow[0] == 0.1
    assert 0.5 < plant.valve_position[1] < 0.8  # lagging behind the command
    assert plant.valve_position[0] == 0.8
    assert plant.level[2] != plant.level_true[2]
    # Equal percentage at 0.8 passes k_v R^-0.2, less than linear's k_v 0.8.
    assert plant.outlet_flow[3] < plant.outlet_flow[0]


def test_rate_limit_bounds_valve_speed() -> None:
    plant = _core.Plant([_core.TankParams(mode=_core.MANUAL, valve_rate_limit=0.01)])
    plant.set_valve_command(0, 1.0)
    plant.step(10)  # 1 s at 0.01 /s
    assert plant.valve_position[0] == pytest.approx(0.51, abs=1e-12)


def test_equal_percentage_valve_leaks_when_closed() -> None:
    plant = _core.Plant([_core.TankParams(mode=_core.MANUAL, initial_valve=0.0,
                                          valve_characteristic=_core.EQUAL_PERCENTAGE)])
    plant.step(1)
    assert plant.outlet_flow[0] == pytest.approx(1.2649 / 50 * np.sqrt(2.5), rel=1e-3)


def test_features_switched_on_at_runtime_take_effect() -> None:
    # The step skips the noise, disturbance and equal-percentage stages while no tank
    # needs them: switching one on must bring its stage back.
    plant = _core.Plant([_core.TankParams() for _ in range(300)])
    plant.step(10)
    plant.set_param(299, "disturbance", _core.BROWNIAN)
    plant.set_param(150, "noise_std", 0.01)
    plant.set_param(7, "valve_characteristic", _core.EQUAL_PERCENTAGE)
    plant.step(10)
    assert plant.inlet_flow[299] != 1.0 and plant.inlet_flow[298] == 1.0
    assert plant.level[150] != plant.level_true[150]
    assert plant.level[149] == plant.level_true[149]
    plant.set_param(299, "disturbance", _core.CONSTANT)
    inlet = plant.inlet_flow[299]
    plant.step(10)
    assert plant.inlet_flow[299] == inlet
