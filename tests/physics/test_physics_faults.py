"""Faults in the core (docs/faults.md): each fault's effect, switching at runtime,
determinism, batch equals single, save/load and the numpy reference."""

import numpy as np
import pytest
import reference

from twin import _core

VIEWS = ["level", "level_true", "setpoint", "inlet_flow", "outlet_flow", "overflow_flow",
         "leak_flow", "valve_command", "valve_position", "controller_output", "error",
         "integral", "level_drift", "mode", "flags"]


def plant(**fields: float | int) -> _core.Plant:
    return _core.Plant([_core.TankParams(**fields)], 0.1)


def test_level_drift_accumulates_while_on_and_clears_when_off() -> None:
    p = plant(mode=_core.MANUAL)
    p.set_param(0, "level_drift_rate", 0.01)
    p.step(100)  # 10 s
    assert p.level_drift[0] == pytest.approx(0.1, rel=1e-12)
    assert p.level[0] == pytest.approx(p.level_true[0] + 0.1, rel=1e-12)
    p.set_param(0, "level_drift_rate", 0.0)
    p.step(1)
    assert p.level_drift[0] == 0.0 and p.level[0] == p.level_true[0]


def test_level_drift_in_auto_moves_the_true_level_the_other_way() -> None:
    p = plant(level_drift_rate=0.001)
    p.step(6000)  # 600 s: drift 0.6 m; the PID holds the measurement on the setpoint
    assert p.level[0] == pytest.approx(2.5, abs=0.02)
    assert p.level_true[0] == pytest.approx(2.5 - 0.6, abs=0.03)


def test_frozen_level_holds_its_last_value_while_the_tank_moves() -> None:
    p = plant(mode=_core.MANUAL, inlet_flow=2.0, noise_std=0.01, seed=5)
    p.step(10)
    held = p.level[0]
    p.set_param(0, "level_freeze", 1)
    p.step(300)
    assert p.level[0] == held and p.level_true[0] > held + 0.1
    p.set_param(0, "level_freeze", 0)
    p.step(1)
    assert p.level[0] == pytest.approx(p.level_true[0], abs=0.05)


@pytest.mark.parametrize(("fail", "fraction", "milliamps"), [
    (_core.FAIL_LOW, -0.03125, 3.5), (_core.FAIL_HIGH, 1.09375, 21.5),
    (_core.FAIL_WIRE_BREAK, -0.25, 0.0)])
def test_failed_transmitter_reads_the_level_of_its_ne43_signal(
        fail: int, fraction: float, milliamps: float) -> None:
    p = plant(height=4.0, initial_level=2.0, setpoint=2.0, noise_std=0.01, seed=9)
    p.set_param(0, "level_fail", fail)
    p.step(1)
    assert p.level[0] == 4.0 * fraction
    assert 4 + 16 * p.level[0] / 4.0 == milliamps
    p.step(600)  # the PID chases the failure signal: fail low closes, fail high opens
    assert p.valve_command[0] == (1.0 if fail == _core.FAIL_HIGH else 0.0)
    p.set_param(0, "level_fail", _core.FAIL_NONE)
    p.step(1)
    assert p.level[0] == pytest.approx(p.level_true[0], abs=0.05)


def test_stuck_valve_ignores_its_command() -> None:
    p = plant(mode=_core.MANUAL, initial_valve=0.4)
    p.set_param(0, "valve_stuck", 1)
    p.set_valve_command(0, 1.0)
    p.step(100)
    assert p.valve_position[0] == 0.4 and p.valve_command[0] == 1.0
    p.set_param(0, "valve_stuck", 0)
    p.step(1)
    assert p.valve_position[0] == 1.0


def test_slow_valve_lags_with_the_fault_time_constant() -> None:
    p = plant(mode=_core.MANUAL, initial_valve=0.0)
    p.set_param(0, "valve_slow_time_constant", 20.0)
    p.set_valve_command(0, 1.0)
    p.step(200)  # 20 s = one time constant
    assert p.valve_position[0] == pytest.approx(1 - np.exp(-1.0), rel=1e-9)
    p.set_param(0, "valve_slow_time_constant", 0.0)  # back to the instant actuator
    p.step(1)
    assert p.valve_position[0] == 1.0


def test_leak_drains_the_tank() -> None:
    p = plant(mode=_core.MANUAL, inlet_flow=0.0, initial_valve=0.0)
    p.set_param(0, "leak_flow", 0.12)
    p.step(100)  # 10 s x 0.12 m3/s over 120 m2 = 0.01 m
    assert p.level_true[0] == pytest.approx(2.49, rel=1e-12) and p.leak_flow[0] == 0.12


def test_inlet_trip_stops_the_inlet_and_restores_it() -> None:
    p = plant(disturbance=_core.BROWNIAN, seed=4, inlet_flow=1.1)
    p.step(10)
    before = p.inlet_flow[0]
    p.set_param(0, "inlet_trip", 1)
    assert p.inlet_flow[0] == 0.0
    level = p.level_true[0]
    p.step(100)
    assert p.inlet_flow[0] == 0.0 and p.level_true[0] < level  # no Brownian restart
    p.set_param(0, "inlet_trip", 0)
    assert p.inlet_flow[0] == before


def test_inlet_flow_written_during_a_trip_applies_when_it_ends() -> None:
    p = plant(inlet_trip=1)
    assert p.inlet_flow[0] == 0.0 and p.params(0).inlet_flow == 0.0
    p.set_inlet_flow(0, 1.3)
    assert p.inlet_flow[0] == 0.0
    with pytest.raises(ValueError, match=r"tank 0: inlet_flow: must be >= 0"):
        p.set_inlet_flow(0, -1.0)
    p.set_param(0, "inlet_trip", 0)
    assert p.inlet_flow[0] == 1.3


def test_reset_clears_runtime_faults() -> None:
    p = plant(mode=_core.MANUAL)
    for field, value in [("level_drift_rate", 0.01), ("level_freeze", 1), ("valve_stuck", 1),
                         ("inlet_trip", 1), ("level_fail", 2), ("valve_slow_time_constant", 3)]:
        p.set_param(0, field, value)
    p.step(10)
    p.reset(0)
    assert p.params(0) == _core.TankParams(mode=_core.MANUAL)
    assert p.level_drift[0] == 0.0 and p.inlet_flow[0] == 1.0


@pytest.mark.parametrize(("field", "value", "message"), [
    ("level_fail", 4, "level_fail: must be 0 (FAIL_NONE), 1 (FAIL_LOW), 2 (FAIL_HIGH) or 3"),
    ("valve_stuck", 0.5, "valve_stuck: must be 0 (off) or 1 (on) (got 0.5)"),
    ("level_drift_rate", 2.0, "level_drift_rate: must be within [-1, 1] m/s (got 2.0)"),
    ("valve_slow_time_constant", -1.0, "valve_slow_time_constant: must be >= 0 (got -1.0)"),
    ("inlet_trip", float("nan"), "inlet_trip: must be 0 (off) or 1 (on) (got nan)"),
])
def test_bad_fault_values_name_tank_and_field(field: str, value: float, message: str) -> None:
    p = _core.Plant([_core.TankParams(), _core.TankParams()])
    with pytest.raises(ValueError, match="^tank 1: " + message.replace("(", r"\(").replace(
            ")", r"\)").replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        p.set_param(1, field, value)
    assert p.params(1) == _core.TankParams()


@pytest.fixture(scope="module")
def faulty_tanks() -> list[dict[str, float | int]]:
    rng = np.random.default_rng(707)
    return [reference.random_params(rng, faults=True) for _ in range(300)]


def test_faulty_batch_equals_single(faulty_tanks: list[dict[str, float | int]]) -> None:
    batch = _core.Plant([_core.TankParams(**p) for p in faulty_tanks])
    batch.step(1500)
    for k in (0, 1, 127, 128, 200, 299):
        alone = _core.Plant([_core.TankParams(**faulty_tanks[k])])
        alone.step(1500)
        for name in VIEWS:
            assert np.array_equal(getattr(alone, name)[0], getattr(batch, name)[k]), (k, name)


def test_faults_are_deterministic_and_survive_save_load(
        faulty_tanks: list[dict[str, float | int]]) -> None:
    params = [_core.TankParams(**p) for p in faulty_tanks[:50]]
    a, b = _core.Plant(params), _core.Plant(params)
    a.step(500)
    b.step(500)
    assert a.save_state() == b.save_state()
    c = _core.Plant(params)
    c.load_state(a.save_state())
    for plant_ in (a, c):
        plant_.set_param(3, "inlet_trip", 1 - plant_.params(3).inlet_trip)
        plant_.step(500)
    assert a.save_state() == c.save_state()


def test_core_matches_reference_with_faults_switched_at_runtime(
        faulty_tanks: list[dict[str, float | int]]) -> None:
    tanks = faulty_tanks[:40]
    core = _core.Plant([_core.TankParams(**p) for p in tanks], 0.1)
    ref = reference.ReferencePlant(tanks, 0.1)
    switches = {
        500: [(0, "level_freeze", 1), (1, "inlet_trip", 1), (2, "valve_stuck", 1),
              (3, "level_fail", reference.FAIL_HIGH), (4, "level_drift_rate", -0.003),
              (5, "valve_slow_time_constant", 12.0)],
        1200: [(0, "level_freeze", 0), (1, "inlet_trip", 0), (2, "valve_stuck", 0),
               (3, "level_fail", reference.FAIL_NONE), (4, "level_drift_rate", 0.0),
               (5, "valve_slow_time_constant", 0.0)],
    }
    for k in range(2000):
        for tank, field, value in switches.get(k, []):
            core.set_param(tank, field, value)
            ref.set_param(tank, field, value)
        if k == 800:
            core.set_inlet_flow(1, 0.7)
            ref.set_inlet_flow(1, 0.7)
        core.step(1)
        ref.step(1)
        assert np.array_equal(core.flags, ref.flags), k
        for name in VIEWS[:-2]:
            got, want = getattr(core, name), getattr(ref, name)
            assert np.all(np.abs(got - want) <= 1e-9 * np.maximum(np.abs(want), 1.0)), (k, name)


def test_no_nan_with_every_fault_at_its_extremes() -> None:
    tanks = [_core.TankParams(level_drift_rate=r, valve_slow_time_constant=t, level_freeze=f,
                              level_fail=fail, valve_stuck=s, inlet_trip=trip, noise_std=1e3,
                              height=1e3, initial_level=500.0, setpoint=1e3, seed=k)
             for k, (r, t, f, fail, s, trip) in enumerate(
                 [(1.0, 1e6, 0, 0, 0, 0), (-1.0, 1e-9, 1, 1, 1, 1), (1.0, 0.0, 0, 2, 0, 1)])]
    p = _core.Plant(tanks, 10.0)
    p.step(20_000)  # the drift saturates at +-1e3 m
    for name in VIEWS[:-2]:
        assert np.all(np.isfinite(getattr(p, name))), name
    assert abs(p.level_drift[0]) == 1e3
