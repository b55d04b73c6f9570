"""Independent pure-numpy reference of the tank model, vectorised over tanks.

Written from PHYSICS.md and the core's algorithm notes, not from the C++: classical RK4
in its k-form (the core uses the equivalent flux form), plain divisions (the core uses
precomputed reciprocals), numpy's own log/cos/sqrt. It therefore agrees with the core
to rounding (~1e-12 relative), not bit for bit; tests compare at 1e-9.

Also used by bench/core.py as the numpy baseline. ``random_params`` draws the seeded
random tanks several tests share.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

AUTO, MANUAL, EXTERNAL = 0, 1, 2
LINEAR, EQUAL_PERCENTAGE = 0, 1
ON_MEASUREMENT, ON_ERROR = 0, 1
CONSTANT, BROWNIAN = 0, 1
FLAG_OVERFLOWING, FLAG_EMPTY = 1, 2
FAIL_NONE, FAIL_LOW, FAIL_HIGH, FAIL_WIRE_BREAK = 0, 1, 2, 3
# NE43 failure signals 3.5 mA and 21.5 mA, and a wire break (0 mA), on a 4-20 mA
# transmitter spanning 0..H.
FAIL_LOW_LEVEL, FAIL_HIGH_LEVEL = (3.5 - 4.0) / 16.0, (21.5 - 4.0) / 16.0
WIRE_BREAK_LEVEL = (0.0 - 4.0) / 16.0
MAX_LEVEL_DRIFT = 1e3

# PHYSICS.md "Defaults", plus the optional features switched off.
DEFAULTS: dict[str, float | int] = {
    "area": 120.0, "height": 5.0, "valve_coefficient": 1.2649,
    "valve_characteristic": LINEAR, "rangeability": 50.0, "valve_time_constant": 0.0,
    "valve_rate_limit": 0.0, "initial_level": 2.5, "setpoint": 2.5, "inlet_flow": 1.0,
    "initial_valve": 0.5, "gain": -1.0, "integral_time": 10.0, "derivative_time": 1.0,
    "bias": 0.5, "output_min": 0.0, "output_max": 1.0, "integral_limit": 10.0,
    "derivative_on": ON_MEASUREMENT, "mode": AUTO, "noise_std": 0.0, "measurement_bias": 0.0,
    "disturbance": CONSTANT, "disturbance_sigma": 0.05, "disturbance_min": 0.8,
    "disturbance_max": 1.2, "seed": 0, "leak_flow": 0.0,
    # Faults (docs/faults.md).
    "level_drift_rate": 0.0, "valve_slow_time_constant": 0.0, "level_freeze": 0,
    "level_fail": FAIL_NONE, "valve_stuck": 0, "inlet_trip": 0,
}

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_DISTURBANCE_XOR = 0xD1B54A32D192ED03


class SplitMix64:
    """One splitmix64 generator per tank; draws advance only the tanks asked for."""

    def __init__(self, seeds: np.ndarray) -> None:
        self.state = seeds.astype(np.uint64)

    def _next(self, which: np.ndarray) -> np.ndarray:
        advanced = self.state + _GOLDEN  # uint64 arrays wrap silently
        self.state = np.where(which, advanced, self.state)
        z = advanced
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        return z ^ (z >> np.uint64(31))

    def uniform(self, which: np.ndarray) -> np.ndarray:
        return (self._next(which) >> np.uint64(11)).astype(np.float64) * 2.0**-53

    def normal(self, which: np.ndarray) -> np.ndarray:
        """Box-Muller, u1 then u2, one normal per two draws."""
        u1 = self.uniform(which)
        u2 = self.uniform(which)
        return np.sqrt(-2.0 * np.log(1.0 - u1)) * np.cos(2.0 * math.pi * u2)


class ReferencePlant:
    """The same plant as twin._core.Plant, one numpy array per quantity."""

    def __init__(self, tanks: list[dict[str, Any]], dt: float = 0.1) -> None:
        full = [{**DEFAULTS, **t} for t in tanks]
        self.dt = dt
        self.p = {k: np.array([t[k] for t in full], dtype=np.float64) for k in DEFAULTS}
        seeds = np.array([int(t["seed"]) for t in full], dtype=np.uint64)
        self.noise = SplitMix64(seeds)
        self.dist = SplitMix64(seeds ^ np.uint64(_DISTURBANCE_XOR))
        p = self.p
        self.level_true = p["initial_level"].copy()
        self.level = self._transmitter(self.level_true + p["measurement_bias"], None)
        self.setpoint = p["setpoint"].copy()
        self.inlet_flow = p["inlet_flow"].copy()
        self.inlet_restore = self.inlet_flow.copy()  # what an inlet trip returns to
        self.inlet_flow[p["inlet_trip"] != 0] = 0.0
        self.level_drift = np.zeros_like(self.inlet_flow)
        self.mode = p["mode"].astype(np.int32)
        zeros = np.zeros_like(self.level)
        self.outlet_flow, self.overflow_flow, self.leak_flow = zeros.copy(), zeros.copy(), zeros
        self.valve_position = p["initial_valve"].copy()
        self.valve_command = p["initial_valve"].copy()
        self.controller_output = p["initial_valve"].copy()
        self.error = self.setpoint - self.level
        self.integral = np.zeros_like(self.level)
        self.flags = np.where(self.level_true > 0, 0, FLAG_EMPTY).astype(np.uint32)
        self.prev_measurement = self.level.copy()
        self.prev_error = self.error.copy()
        self.primed = np.zeros(len(full), dtype=bool)
        self.bumpless = self.mode == AUTO
        self.steps = 0
        self.anti_windup = True  # False: integrate even while saturated (to show windup)

    # -- commands -----------------------------------------------------------------
    def set_mode(self, tank: int, mode: int) -> None:
        if self.mode[tank] != AUTO and mode == AUTO:
            self.bumpless[tank] = True
        self.mode[tank] = mode

    def set_setpoint(self, tank: int, value: float) -> None:
        self.setpoint[tank] = value

    def set_inlet_flow(self, tank: int, value: float) -> None:
        if self.p["inlet_trip"][tank]:
            self.inlet_restore[tank] = value
        else:
            self.inlet_flow[tank] = value

    def set_param(self, tank: int, field: str, value: float) -> None:
        """A runtime parameter change; an inlet trip saves and restores the inlet flow."""
        if field == "inlet_trip":
            was, now = bool(self.p["inlet_trip"][tank]), bool(value)
            if now and not was:
                self.inlet_restore[tank] = self.inlet_flow[tank]
                self.inlet_flow[tank] = 0.0
            elif was and not now:
                self.inlet_flow[tank] = self.inlet_restore[tank]
        self.p[field][tank] = value

    def set_valve_command(self, tank: int, value: float) -> None:
        self.valve_command[tank] = value
        if self.mode[tank] != AUTO:
            self.controller_output[tank] = value

    # -- one step -------------------------------------------------------------------
    def step(self, n: int = 1) -> None:
        for _ in range(n):
            self._plant()
            self.steps += 1
            self._measure()
            self._control()
            self._actuate()
            self._disturb()

    def _plant(self) -> None:
        p, dt = self.p, self.dt
        x = self.valve_position
        f = np.where(p["valve_characteristic"] == EQUAL_PERCENTAGE,
                     p["rangeability"] ** (x - 1.0), x)
        c = p["valve_coefficient"] * f
        q_net = self.inlet_flow - p["leak_flow"]
        area, h = p["area"], self.level_true

        def root(level: np.ndarray) -> np.ndarray:
            return np.asarray(np.sqrt(np.maximum(level, 0.0)))

        s1 = root(h)
        k1 = (q_net - c * s1) / area
        s2 = root(h + dt / 2 * k1)
        k2 = (q_net - c * s2) / area
        s3 = root(h + dt / 2 * k2)
        k3 = (q_net - c * s3) / area
        s4 = root(h + dt * k3)
        k4 = (q_net - c * s4) / area
        h_new = h + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        q_out = c * (s1 + 2 * s2 + 2 * s3 + s4) / 6
        self._limit(h_new, q_out)

    def _limit(self, h_new: np.ndarray, q_out: np.ndarray) -> None:
        p, dt = self.p, self.dt
        area, height, leak = p["area"], p["height"], p["leak_flow"]
        over = h_new > height
        self.overflow_flow = np.where(over, area * (h_new - height) / dt, 0.0)
        deficit = np.where(h_new < 0, -area * h_new / dt, 0.0)
        from_outlet = np.minimum(q_out, deficit)
        self.outlet_flow = q_out - from_outlet
        self.leak_flow = leak - np.minimum(leak, deficit - from_outlet)
        self.level_true = np.clip(h_new, 0.0, height)
        self.flags = (np.where(over, FLAG_OVERFLOWING, 0)
                      | np.where(h_new <= 0, FLAG_EMPTY, 0)).astype(np.uint32)

    def _measure(self) -> None:
        p, dt = self.p, self.dt
        held = self.level
        rate = p["level_drift_rate"]
        self.level_drift = np.where(
            rate != 0, np.clip(self.level_drift + rate * dt, -MAX_LEVEL_DRIFT, MAX_LEVEL_DRIFT),
            0.0)
        measured = self.level_true + p["measurement_bias"] + self.level_drift
        noisy = p["noise_std"] > 0
        if noisy.any():
            measured = np.where(noisy, measured + p["noise_std"] * self.noise.normal(noisy),
                                measured)
        self.level = self._transmitter(measured, held)

    def _transmitter(self, measured: np.ndarray, held: np.ndarray | None) -> np.ndarray:
        """Freeze (holds ``held``; None: nothing to hold yet) and the failure signals."""
        p = self.p
        live = measured if held is None else np.where(p["level_freeze"] != 0, held, measured)
        fraction = np.select([p["level_fail"] == FAIL_LOW, p["level_fail"] == FAIL_HIGH],
                             [FAIL_LOW_LEVEL, FAIL_HIGH_LEVEL], WIRE_BREAK_LEVEL)
        failed = p["height"] * fraction
        return np.asarray(np.where(p["level_fail"] == FAIL_NONE, live, failed))

    def _control(self) -> None:
        p, dt = self.p, self.dt
        gain, ti, td, bias = p["gain"], p["integral_time"], p["derivative_time"], p["bias"]
        u_min, u_max, z_max = p["output_min"], p["output_max"], p["integral_limit"]
        e = self.setpoint - self.level
        d = np.where(p["derivative_on"] == ON_ERROR, (e - self.prev_error) / dt,
                     -(self.level - self.prev_measurement) / dt)
        d = np.where(self.primed, d, 0.0)
        has_i = ti > 0
        ti_safe = np.where(has_i, ti, 1.0)

        def output(z: np.ndarray) -> np.ndarray:
            return bias + gain * (e + np.where(has_i, z / ti_safe, 0.0) + td * d)

        z = self.integral
        u_pre = output(z)
        winding = ((u_pre > u_max) & (gain * e > 0)) | ((u_pre < u_min) & (gain * e < 0))
        winding &= self.anti_windup
        z_int = np.where(has_i, np.clip(np.where(winding, z, z + e * dt), -z_max, z_max), 0.0)
        adjustable = has_i & (gain != 0)
        gain_safe = np.where(gain != 0, gain, 1.0)
        z_back = ti * ((self.valve_command - bias) / gain_safe - e - td * d)
        z_back = np.where(adjustable, np.clip(z_back, -z_max, z_max), z)
        z_new = np.where(self.bumpless, z_back, z_int)
        command = np.clip(output(z_new), u_min, u_max)
        auto = self.mode == AUTO
        self.integral = np.where(auto, z_new, z)
        self.valve_command = np.where(auto, command, self.valve_command)
        self.controller_output = self.valve_command.copy()
        self.bumpless = self.bumpless & ~auto
        self.primed = np.ones_like(self.primed)
        self.error = e
        self.prev_error = e
        self.prev_measurement = self.level

    def _actuate(self) -> None:
        p, dt = self.p, self.dt
        x, cmd = self.valve_position, self.valve_command
        slow = p["valve_slow_time_constant"]  # the valve-slow fault replaces tau_v
        tau = np.where(slow > 0, slow, p["valve_time_constant"])
        lagged = tau > 0
        alpha = -np.expm1(-dt / np.where(lagged, tau, 1.0))
        target = np.where(lagged, x + (cmd - x) * alpha, cmd)
        rate = p["valve_rate_limit"]
        target = np.where(rate > 0, np.clip(target, x - rate * dt, x + rate * dt), target)
        self.valve_position = np.where(p["valve_stuck"] != 0, x, np.clip(target, 0.0, 1.0))

    def _disturb(self) -> None:
        p = self.p
        brownian = (p["disturbance"] == BROWNIAN) & (p["inlet_trip"] == 0)
        if brownian.any():
            moved = self.inlet_flow + p["disturbance_sigma"] * self.dist.normal(brownian)
            self.inlet_flow = np.where(
                brownian, np.clip(moved, p["disturbance_min"], p["disturbance_max"]),
                self.inlet_flow)


def random_params(rng: np.random.Generator, faults: bool = False) -> dict[str, float | int]:
    """A random, valid tank: every feature on or off, some tanks that overflow or empty.

    ``faults``: also switch faults on at random (drawn from a generator of the tank's
    seed, so the other fields are the same with and without).
    """
    params = _random_params(rng)
    if faults:
        params.update(random_faults(np.random.default_rng(int(params["seed"]))))
    return params


def random_faults(rng: np.random.Generator) -> dict[str, float | int]:
    """Each fault on in about one tank in four."""
    def on() -> bool:
        return bool(rng.uniform() < 0.25)

    return {
        "level_drift_rate": float(rng.uniform(-0.002, 0.002)) if on() else 0.0,
        "valve_slow_time_constant": float(rng.uniform(5.0, 60.0)) if on() else 0.0,
        "level_freeze": int(on()),
        "level_fail": int(rng.integers(1, 4)) if on() else FAIL_NONE,
        "valve_stuck": int(on()),
        "inlet_trip": int(on()),
    }


def _random_params(rng: np.random.Generator) -> dict[str, float | int]:
    height = float(rng.uniform(2.0, 8.0))
    inlet = float(rng.uniform(0.2, 2.5))
    mode = int(rng.choice([AUTO, AUTO, AUTO, MANUAL, EXTERNAL]))
    out_min = float(rng.uniform(0.0, 0.2))
    return {
        "area": float(rng.uniform(20.0, 200.0)),
        "height": height,
        "valve_coefficient": float(rng.uniform(0.5, 3.0)),
        "valve_characteristic": int(rng.integers(0, 2)),
        "rangeability": float(rng.uniform(20.0, 80.0)),
        "valve_time_constant": float(rng.choice([0.0, rng.uniform(0.5, 5.0)])),
        "valve_rate_limit": float(rng.choice([0.0, rng.uniform(0.01, 0.2)])),
        "initial_level": float(rng.uniform(0.05, 0.95) * height),
        "setpoint": float(rng.uniform(0.1, 1.0) * height),
        "inlet_flow": inlet,
        "initial_valve": float(rng.uniform(0.0, 1.0)),
        "gain": float(rng.uniform(-3.0, -0.3)),
        "integral_time": float(rng.choice([0.0, rng.uniform(5.0, 50.0)])),
        "derivative_time": float(rng.choice([0.0, rng.uniform(0.1, 3.0)])),
        "bias": float(rng.uniform(0.3, 0.7)),
        "output_min": out_min,
        "output_max": float(rng.uniform(0.7, 1.0)),
        "integral_limit": float(rng.uniform(1.0, 50.0)),
        "derivative_on": int(rng.integers(0, 2)),
        "mode": mode,
        "noise_std": float(rng.choice([0.0, rng.uniform(0.0, 0.01)])),
        "measurement_bias": float(rng.uniform(-0.05, 0.05)),
        "disturbance": int(rng.integers(0, 2)),
        "disturbance_sigma": float(rng.uniform(0.0, 0.05)),
        "disturbance_min": float(inlet * rng.uniform(0.3, 1.0)),
        "disturbance_max": float(inlet * rng.uniform(1.0, 1.8)),
        "seed": int(rng.integers(0, 2**63)) * 2 + 1,
        "leak_flow": float(rng.choice([0.0, rng.uniform(0.0, 0.5)])),
    }
