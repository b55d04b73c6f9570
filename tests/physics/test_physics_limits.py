"""Overflow, empty and the mass balance that must close through both."""

import numpy as np

from twin import _core


def manual(**fields: float) -> _core.TankParams:
    return _core.TankParams(mode=_core.MANUAL, **fields)


def test_overflow_holds_level_at_height_and_reports_excess_inflow() -> None:
    plant = _core.Plant([manual(inlet_flow=3.0, leak_flow=0.2)])
    plant.step(20_000)  # fills from 2.5 m to H = 5 m, then spills
    q_out = 1.2649 * 0.5 * np.sqrt(5.0)
    assert plant.level_true[0] == 5.0
    assert plant.flags[0] == _core.FLAG_OVERFLOWING
    assert plant.overflow_flow[0] > 0
    # The outlet is the RK4 mean over the step, whose stages see the level a little
    # above H before the clamp: close to c sqrt(H), not equal.
    np.testing.assert_allclose(plant.outlet_flow[0], q_out, rtol=1e-3)
    np.testing.assert_allclose(plant.overflow_flow[0], 3.0 - plant.outlet_flow[0] - 0.2,
                               rtol=1e-9)


def test_overflow_clears_when_inflow_drops() -> None:
    plant = _core.Plant([manual(inlet_flow=3.0)])
    plant.step(20_000)
    plant.set_inlet_flow(0, 1.0)
    plant.step(10)
    assert plant.level_true[0] < 5.0
    assert plant.flags[0] == 0
    assert plant.overflow_flow[0] == 0.0


def test_empty_tank_stays_at_zero_with_no_outflow() -> None:
    plant = _core.Plant([manual(inlet_flow=0.0, initial_valve=1.0)])
    lowest = np.inf
    for _ in range(200):
        plant.step(100)
        lowest = min(lowest, float(plant.level_true[0]))
    assert lowest >= 0.0
    assert plant.level_true[0] == 0.0
    assert plant.flags[0] == _core.FLAG_EMPTY
    assert plant.outlet_flow[0] == 0.0


def test_empty_tank_leaks_only_what_flows_in() -> None:
    plant = _core.Plant([manual(inlet_flow=0.01, leak_flow=0.05, initial_valve=1.0)])
    plant.step(50_000)
    assert plant.level_true[0] == 0.0
    assert plant.flags[0] == _core.FLAG_EMPTY
    assert plant.outlet_flow[0] == 0.0
    np.testing.assert_allclose(plant.leak_flow[0], 0.01, rtol=1e-9)
    assert plant.param_array("leak_flow")[0] == 0.05  # the configured leak is unchanged


def test_initially_empty_tank_is_flagged() -> None:
    plant = _core.Plant([manual(initial_level=0.0, inlet_flow=0.0)])
    assert plant.flags[0] == _core.FLAG_EMPTY


def test_mass_balance_closes_through_brownian_overflow_leak_and_empty() -> None:
    # Tank 0: Brownian inflow above what the open valve passes -> overflow episodes.
    # Tank 1: leak and a small inflow against an open valve -> empty episodes.
    # Tank 2: Brownian inflow in AUTO with a leak and noise.
    tanks = [
        manual(disturbance=_core.BROWNIAN, disturbance_min=2.0, disturbance_max=4.0,
               inlet_flow=3.0, disturbance_sigma=0.2, seed=1, initial_valve=0.6),
        manual(inlet_flow=0.05, leak_flow=0.3, initial_valve=0.8, initial_level=1.0),
        _core.TankParams(disturbance=_core.BROWNIAN, leak_flow=0.1, noise_std=0.01, seed=7,
                         disturbance_sigma=0.05),
    ]
    plant = _core.Plant(tanks, 0.1)
    area = np.array([t.area for t in tanks])
    h0 = plant.level_true.copy()
    net = np.zeros(3)  # sum of dt (q_in - q_out - q_overflow - q_leak) [m3]
    inflow = np.zeros(3)
    seen = np.zeros(3, dtype=np.uint32)
    for k in range(20_000):
        if k == 10_000:  # refill tank 1, so it empties a second time
            plant.set_inlet_flow(1, 1.5)
            plant.set_valve_command(1, 0.1)
        if k == 12_000:
            plant.set_inlet_flow(1, 0.0)
            plant.set_valve_command(1, 1.0)
        q_in = plant.inlet_flow.copy()  # held over the coming step
        plant.step(1)
        net += plant.dt * (q_in - plant.outlet_flow - plant.overflow_flow - plant.leak_flow)
        inflow += plant.dt * q_in
        seen |= plant.flags
    assert seen[0] & _core.FLAG_OVERFLOWING and seen[1] & _core.FLAG_EMPTY
    stored = area * (plant.level_true - h0)  # [m3]
    # Tolerance: 1e-12 of the volume that flowed in (1e-12 relative closure).
    assert np.all(np.abs(stored - net) <= 1e-12 * inflow), (stored - net) / inflow
