"""Determinism, batch equals single, and the core against the numpy reference."""

import numpy as np
import pytest
import reference

from twin import _core

VIEWS = ["level", "level_true", "setpoint", "inlet_flow", "outlet_flow", "overflow_flow",
         "leak_flow", "valve_command", "valve_position", "controller_output", "error",
         "integral", "mode", "flags"]


def snapshot(plant: object) -> dict[str, np.ndarray]:
    return {name: getattr(plant, name).copy() for name in VIEWS}


def noisy_tanks(seed_base: int, n: int = 8) -> list[_core.TankParams]:
    return [_core.TankParams(noise_std=0.01, disturbance=_core.BROWNIAN, seed=seed_base + k,
                             valve_characteristic=k % 2) for k in range(n)]


def test_same_seed_gives_bit_identical_trajectories() -> None:
    a, b = _core.Plant(noisy_tanks(100)), _core.Plant(noisy_tanks(100))
    for _ in range(50):
        a.step(100)
        b.step(100)
        for name, values in snapshot(a).items():
            assert np.array_equal(values, getattr(b, name)), name


def test_different_seed_gives_a_different_trajectory() -> None:
    a, b = _core.Plant(noisy_tanks(100)), _core.Plant(noisy_tanks(200))
    a.step(1000)
    b.step(1000)
    assert not np.array_equal(a.level, b.level)
    assert not np.array_equal(a.inlet_flow, b.inlet_flow)


def test_step_n_equals_n_single_steps() -> None:
    a, b = _core.Plant(noisy_tanks(5)), _core.Plant(noisy_tanks(5))
    a.step(777)
    for _ in range(777):
        b.step(1)
    assert a.save_state() == b.save_state()


@pytest.fixture(scope="module")
def random_tanks() -> list[dict[str, float | int]]:
    rng = np.random.default_rng(20240611)
    return [reference.random_params(rng) for _ in range(1000)]


def test_batch_equals_single(random_tanks: list[dict[str, float | int]]) -> None:
    # Tanks at the start, in the middle, and in the scalar tail of a vectorised loop.
    batch = _core.Plant([_core.TankParams(**p) for p in random_tanks])
    batch.step(2000)
    for k in (0, 1, 2, 3, 127, 128, 500, 997, 998, 999):
        alone = _core.Plant([_core.TankParams(**random_tanks[k])])
        alone.step(2000)
        for name, values in snapshot(alone).items():
            assert np.array_equal(values[0], getattr(batch, name)[k]), (k, name)


def designed_tanks() -> list[dict[str, float | int]]:
    """Tanks that certainly overflow, empty, or switch mode, beside the random ones."""
    return [
        {"mode": reference.MANUAL, "inlet_flow": 3.0, "leak_flow": 0.1},  # overflows
        {"mode": reference.MANUAL, "inlet_flow": 0.02, "leak_flow": 0.2,
         "initial_valve": 1.0, "initial_level": 0.5},  # empties
        {"disturbance": reference.BROWNIAN, "disturbance_min": 1.8, "disturbance_max": 3.5,
         "disturbance_sigma": 0.3, "seed": 3, "valve_characteristic": 1},  # overflows in AUTO
        {"mode": reference.EXTERNAL, "initial_valve": 0.9, "valve_time_constant": 2.0,
         "valve_rate_limit": 0.05, "noise_std": 0.005, "seed": 11},
    ]


def test_core_matches_reference(random_tanks: list[dict[str, float | int]]) -> None:
    tanks = designed_tanks() + random_tanks[:20]
    core = _core.Plant([_core.TankParams(**p) for p in tanks], 0.1)
    ref = reference.ReferencePlant(tanks, 0.1)
    seen = np.zeros(len(tanks), dtype=np.uint32)
    for k in range(3000):
        if k == 1000:  # bumpless switches, in both
            for plant in (core, ref):
                plant.set_mode(3, reference.AUTO)
                plant.set_mode(1, reference.AUTO)
        core.step(1)
        ref.step(1)
        assert np.array_equal(core.flags, ref.flags), k
        seen |= core.flags
        # 1e-9 relative, against at least 1 unit (m, m3/s, 1) for values near zero.
        for name in VIEWS[:-2]:
            got, want = getattr(core, name), getattr(ref, name)
            assert np.all(np.abs(got - want) <= 1e-9 * np.maximum(np.abs(want), 1.0)), (k, name)
    assert (seen & _core.FLAG_OVERFLOWING).any() and (seen & _core.FLAG_EMPTY).any()


def extreme_tanks(rng: np.random.Generator, n: int) -> list[_core.TankParams]:
    """Every field at the ends of its valid range, mixed at random."""
    choices: dict[str, list[float]] = {
        "area": [1e-4, 1e6], "height": [1e-3, 1e3], "valve_coefficient": [1e-9, 1e4],
        "valve_characteristic": [0, 1], "rangeability": [1.0001, 1e4],
        "valve_time_constant": [0.0, 1e-6, 1e6], "valve_rate_limit": [0.0, 1e-9, 1e6],
        "inlet_flow": [0.0, 1e4], "initial_valve": [0.0, 1.0], "gain": [-1e6, -1e-9, 0.0, 1e6],
        "integral_time": [0.0, 1e-3, 1e6], "derivative_time": [0.0, 1e6],
        "bias": [-1e3, 1e3], "integral_limit": [1e-9, 1e6], "derivative_on": [0, 1],
        "mode": [0, 1, 2], "noise_std": [0.0, 1e3], "measurement_bias": [-1e3, 1e3],
        "disturbance": [0, 1], "disturbance_sigma": [0.0, 1e4], "disturbance_max": [1e4],
        "disturbance_min": [0.0], "leak_flow": [0.0, 1e4],
    }
    tanks = []
    for k in range(n):
        fields = {name: values[rng.integers(len(values))] for name, values in choices.items()}
        height = fields["height"]
        fields.update(initial_level=height * rng.choice([0.0, 0.5, 1.0]),
                      setpoint=height * rng.choice([0.0, 1.0]), seed=k)
        ints = {"valve_characteristic", "derivative_on", "mode", "disturbance", "seed"}
        tanks.append(_core.TankParams(**{k2: int(v) if k2 in ints else float(v)
                                         for k2, v in fields.items()}))
    return tanks


@pytest.mark.parametrize("dt", [0.001, 0.1, 10.0])
def test_no_nan_or_inf_under_extreme_parameters(dt: float) -> None:
    plant = _core.Plant(extreme_tanks(np.random.default_rng(int(dt * 1000)), 500), dt)
    for _ in range(20):
        plant.step(10)
        for name in VIEWS[:-2]:
            assert np.all(np.isfinite(getattr(plant, name))), name
        assert np.all((plant.level_true >= 0) & (plant.level_true <= plant.param_array("height")))
        assert np.all((plant.valve_position >= 0) & (plant.valve_position <= 1))
