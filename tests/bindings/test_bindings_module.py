"""twin._core as a Python module: version, constants, TankParams, types, errors."""

import copy
import importlib.metadata
import pickle

import numpy as np
import pytest

import twin
from twin import _core


def test_version_matches_the_distribution() -> None:
    assert _core.__version__ == importlib.metadata.version("tank-twin")
    assert twin.__version__ == _core.__version__


def test_constants() -> None:
    assert (_core.AUTO, _core.MANUAL, _core.EXTERNAL) == (0, 1, 2)
    assert (_core.LINEAR, _core.EQUAL_PERCENTAGE) == (0, 1)
    assert (_core.ON_MEASUREMENT, _core.ON_ERROR) == (0, 1)
    assert (_core.CONSTANT, _core.BROWNIAN) == (0, 1)
    assert (_core.FLAG_OVERFLOWING, _core.FLAG_EMPTY) == (1, 2)
    assert (_core.DT_MIN, _core.DT_MAX) == (0.001, 10.0)
    assert (_core.FAIL_NONE, _core.FAIL_LOW, _core.FAIL_HIGH, _core.FAIL_WIRE_BREAK) == (0, 1, 2, 3)
    assert len(_core.PARAM_FIELDS) == 34
    assert _core.PARAM_FIELDS[-6:] == ("level_drift_rate", "valve_slow_time_constant",
                                       "level_freeze", "level_fail", "valve_stuck", "inlet_trip")
    assert set(_core.RUNTIME_FIELDS) < set(_core.PARAM_FIELDS)
    assert "area" not in _core.RUNTIME_FIELDS and "gain" in _core.RUNTIME_FIELDS


def test_tank_params_defaults_are_physics_md() -> None:
    p = _core.TankParams()
    assert (p.area, p.height, p.valve_coefficient, p.initial_level, p.setpoint) == (
        120.0, 5.0, 1.2649, 2.5, 2.5)
    assert (p.inlet_flow, p.initial_valve, p.gain, p.integral_time, p.derivative_time) == (
        1.0, 0.5, -1.0, 10.0, 1.0)
    assert (p.bias, p.output_min, p.output_max, p.integral_limit) == (0.5, 0.0, 1.0, 10.0)
    assert p.derivative_on == _core.ON_MEASUREMENT and p.mode == _core.AUTO
    p.validate()


def test_tank_params_keywords_types_and_copies() -> None:
    p = _core.TankParams(area=50, seed=2**64 - 1, valve_characteristic=1)
    assert p.area == 50.0 and isinstance(p.area, float)
    assert p.seed == 2**64 - 1
    assert p == copy.copy(p) == pickle.loads(pickle.dumps(p))
    assert p != _core.TankParams()
    assert repr(p).startswith("TankParams(area=50.0, height=5.0,")
    with pytest.raises(TypeError, match="unexpected keyword argument 'volume'"):
        _core.TankParams(volume=1.0)
    with pytest.raises(TypeError, match="mode: expected an int"):
        _core.TankParams(mode=1.5)
    with pytest.raises(TypeError):
        p.area = "big"  # type: ignore[assignment]


def test_validate_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"^height: must be > 0 \(got -2.0\)$"):
        _core.TankParams(height=-2.0).validate()


def test_views_types_and_shapes() -> None:
    plant = _core.Plant([_core.TankParams() for _ in range(5)])
    floats = ["level", "level_true", "setpoint", "inlet_flow", "outlet_flow", "overflow_flow",
              "leak_flow", "valve_command", "valve_position", "controller_output", "error",
              "integral", "level_drift"]
    for name in floats:
        view = getattr(plant, name)
        assert view.dtype == np.float64 and view.shape == (5,), name
    assert plant.mode.dtype == np.int32 and plant.mode.shape == (5,)
    assert plant.flags.dtype == np.uint32 and plant.flags.shape == (5,)
    assert plant.n == 5 and plant.dt == 0.1 and plant.steps == 0 and plant.time == 0.0
    plant.step(25)
    assert plant.steps == 25 and plant.time == pytest.approx(2.5)


def test_errors_are_value_errors_with_the_core_message() -> None:
    with pytest.raises(ValueError, match=r"^tank 3: area: must be > 0 \(got -1.0\)$"):
        _core.Plant([_core.TankParams()] * 3 + [_core.TankParams(area=-1.0)])
    plant = _core.Plant([_core.TankParams()])
    with pytest.raises(ValueError, match=r"^tank 0: setpoint: must be within \[0, 5\] m"):
        plant.set_setpoint(0, 7.0)
