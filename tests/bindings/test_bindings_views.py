"""The numpy views: read-only, live, keeping the plant alive; param_array."""

import gc
import weakref

import numpy as np
import pytest

from twin import _core


def test_views_are_read_only() -> None:
    plant = _core.Plant([_core.TankParams()])
    for name in ("level", "setpoint", "inlet_flow", "mode", "flags"):
        view = getattr(plant, name)
        assert not view.flags.writeable
        with pytest.raises(ValueError):
            view[0] = 1
    with pytest.raises(ValueError):
        plant.param_array("gain")[0] = 1.0


def test_views_are_live_and_never_copy() -> None:
    plant = _core.Plant([_core.TankParams(setpoint=3.0)])
    level, gain = plant.level, plant.param_array("gain")
    plant.step(100)
    plant.set_param(0, "gain", -2.0)
    assert level[0] == plant.level_true[0] != 2.5
    assert gain[0] == -2.0
    assert np.shares_memory(level, plant.level)


def test_view_keeps_the_plant_alive() -> None:
    plant = _core.Plant([_core.TankParams() for _ in range(1000)])
    plant.step(10)
    expected = plant.level_true.copy()
    view = plant.level_true
    ref = weakref.ref(plant)
    del plant
    gc.collect()
    assert ref() is not None  # held by the view's base
    assert np.array_equal(view, expected)
    del view
    gc.collect()
    assert ref() is None


def test_param_array_covers_float_and_integer_fields() -> None:
    plant = _core.Plant([_core.TankParams(area=float(10 + k), valve_characteristic=k % 2)
                         for k in range(4)])
    assert np.array_equal(plant.param_array("area"), [10.0, 11.0, 12.0, 13.0])
    characteristic = plant.param_array("valve_characteristic")
    assert characteristic.dtype == np.float64
    assert np.array_equal(characteristic, [0.0, 1.0, 0.0, 1.0])
    plant.set_param(0, "valve_characteristic", 1.0)
    plant.set_mode(2, _core.MANUAL)
    assert characteristic[0] == 1.0  # live, like the float fields
    assert plant.param_array("mode")[2] == _core.MANUAL
    assert np.array_equal(plant.param_array("setpoint"), plant.setpoint)
    with pytest.raises(ValueError, match="seed"):
        plant.param_array("seed")
    with pytest.raises(ValueError, match="nonsense: no such parameter"):
        plant.param_array("nonsense")
    for field in _core.PARAM_FIELDS:
        if field != "seed":
            assert plant.param_array(field).shape == (4,)
