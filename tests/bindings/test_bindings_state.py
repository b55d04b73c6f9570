"""save_state()/load_state(): round trip, and refusal of anything else."""

import struct

import numpy as np
import pytest

from twin import _core


def noisy_plant(n: int = 4, dt: float = 0.1) -> _core.Plant:
    return _core.Plant([_core.TankParams(noise_std=0.01, disturbance=_core.BROWNIAN, seed=k)
                        for k in range(n)], dt)


def test_round_trip_continues_identically() -> None:
    plant = noisy_plant()
    plant.step(100)
    plant.set_param(1, "gain", -2.0)
    plant.set_mode(2, _core.MANUAL)
    state = plant.save_state()
    plant.step(300)
    expected = plant.level.copy(), plant.inlet_flow.copy(), plant.steps
    other = noisy_plant()
    level_view = other.level
    other.load_state(state)
    assert other.steps == 100 and other.params(1).gain == -2.0 and other.mode[2] == _core.MANUAL
    other.step(300)
    assert np.array_equal(level_view, expected[0])  # old views see the loaded state
    assert np.array_equal(other.inlet_flow, expected[1]) and other.steps == expected[2]


def test_loaded_runtime_features_are_stepped() -> None:
    source = _core.Plant([_core.TankParams() for _ in range(3)])
    source.set_param(1, "disturbance", _core.BROWNIAN)
    source.set_param(2, "noise_std", 0.01)
    state = source.save_state()
    target = _core.Plant([_core.TankParams() for _ in range(3)])
    target.load_state(state)
    source.step(50)
    target.step(50)
    assert source.save_state() == target.save_state()
    assert target.inlet_flow[1] != 1.0 and target.level[2] != target.level_true[2]


@pytest.mark.parametrize("mangle, message", [
    (lambda s: b"", "too short"),
    (lambda s: b"x" * len(s), "not a tank plant state"),
    (lambda s: s[:-1], "expected"),
    (lambda s: s + b"\0", "expected"),
    (lambda s: s[:8] + struct.pack("<I", 99) + s[12:], "format version 99 not supported"),
])
def test_bad_bytes_are_refused(mangle, message: str) -> None:  # type: ignore[no-untyped-def]
    plant = noisy_plant()
    state = plant.save_state()
    plant.step(5)
    before = plant.save_state()
    with pytest.raises(ValueError, match=message):
        plant.load_state(mangle(state))
    assert plant.save_state() == before


def test_state_of_another_plant_is_refused() -> None:
    with pytest.raises(ValueError, match="saved from a plant of 4 tanks"):
        noisy_plant(3).load_state(noisy_plant(4).save_state())
    with pytest.raises(ValueError, match=r"saved with dt = 0\.2"):
        noisy_plant(4, 0.1).load_state(noisy_plant(4, 0.2).save_state())
    bigger = _core.Plant([_core.TankParams(area=200.0)] * 4)
    with pytest.raises(ValueError, match="tank 0: area: differs"):
        noisy_plant(4).load_state(bigger.save_state())


def test_a_state_carrying_nan_is_refused() -> None:
    plant = noisy_plant(1)
    state = bytearray(plant.save_state())
    nan = struct.pack("<d", float("nan"))
    header = 8 + 4 + 4 + 8 + 8 + 8
    # The state columns follow the float and int parameters; poison the first of them.
    offset = header + 8 * len([f for f in _core.PARAM_FIELDS
                               if f not in ("valve_characteristic", "derivative_on", "mode",
                                            "disturbance", "seed")]) + 4 * 4
    state[offset:offset + 8] = nan
    with pytest.raises(ValueError, match="non-finite"):
        plant.load_state(bytes(state))
    state = bytearray(plant.save_state())
    state[header:header + 8] = nan  # the area parameter
    with pytest.raises(ValueError, match="area"):
        plant.load_state(bytes(state))
