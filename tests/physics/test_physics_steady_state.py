"""PHYSICS.md "What correct means": steady state and RK4 order."""

import numpy as np
import pytest

from twin import _core


def run_alone(dt: float, duration: float, **fields: float) -> float:
    plant = _core.Plant([_core.TankParams(**fields)], dt)
    plant.step(round(duration / dt))
    return float(plant.level_true[0])


def test_default_tank_settles_on_setpoint_and_steady_valve() -> None:
    plant = _core.Plant([_core.TankParams()])
    plant.step(20_000)  # 2000 s
    p = _core.TankParams()
    x_ss = p.inlet_flow / (p.valve_coefficient * np.sqrt(p.setpoint))
    assert abs(plant.level_true[0] - p.setpoint) < 1e-6
    assert abs(plant.valve_position[0] - x_ss) < 1e-6
    assert abs(plant.outlet_flow[0] - p.inlet_flow) < 1e-6
    assert plant.flags[0] == 0


@pytest.mark.parametrize("setpoint, inlet", [(1.0, 0.6), (4.0, 1.8)])
def test_other_operating_points_settle(setpoint: float, inlet: float) -> None:
    plant = _core.Plant([_core.TankParams(setpoint=setpoint, inlet_flow=inlet)])
    plant.step(40_000)
    x_ss = inlet / (1.2649 * np.sqrt(setpoint))
    assert abs(plant.level_true[0] - setpoint) < 1e-6
    assert abs(plant.valve_position[0] - x_ss) < 1e-6


def test_rk4_order_draining_against_analytic_solution() -> None:
    # q_in = 0, valve fixed: sqrt(h(t)) = sqrt(h0) - c t / (2 A), still > 0 at t = 20 s.
    area, kv, h0, duration = 10.0, 1.0, 4.0, 20.0
    exact = (np.sqrt(h0) - kv * duration / (2 * area)) ** 2
    fields = dict(mode=_core.MANUAL, area=area, valve_coefficient=kv, initial_valve=1.0,
                  initial_level=h0, inlet_flow=0.0)
    errors = [abs(run_alone(dt, duration, **fields) - exact) for dt in (2.0, 1.0, 0.5)]
    ratios = [errors[i] / errors[i + 1] for i in range(2)]
    assert all(12 < r < 20 for r in ratios), ratios


def test_rk4_order_filling_against_fine_step() -> None:
    fields = dict(mode=_core.MANUAL, area=5.0, valve_coefficient=1.0, initial_valve=0.6,
                  initial_level=0.5, inlet_flow=1.5, height=10.0)
    fine = run_alone(0.001, 40.0, **fields)  # its own error is ~1e-15 m
    errors = [abs(run_alone(dt, 40.0, **fields) - fine) for dt in (2.0, 1.0, 0.5)]
    ratios = [errors[i] / errors[i + 1] for i in range(2)]
    assert all(12 < r < 20 for r in ratios), ratios
