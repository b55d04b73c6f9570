"""Per-tank settings of a plant file: every parameter of PHYSICS.md, with its default.

Enumerations are written as words in the plant file (``mode = "manual"``) and
mapped to the core's integer codes here, in one place.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

from twin.config_schema import setting

NAME_PATTERN = r"[A-Za-z][A-Za-z0-9_\-]{0,63}"

MODES = ("auto", "manual", "external")
VALVE_CHARACTERISTICS = ("linear", "equal_percentage")
DERIVATIVE_ON = ("measurement", "error")
DISTURBANCES = ("constant", "brownian")
LEVEL_FAILS = ("none", "low", "high", "wire_break")  # docs/faults.md
PLC_FAIL_SAFES = ("hold", "close", "open", "auto")  # docs/faults.md, "PLC in the loop"

# Level alarm limits, lowest first, and their defaults as fractions of the height.
ALARM_LIMITS = ("alarm_low_low", "alarm_low", "alarm_high", "alarm_high_high")
ALARM_DEFAULT_FRACTIONS = {
    "alarm_low_low": 0.1, "alarm_low": 0.2, "alarm_high": 0.8, "alarm_high_high": 0.9,
}
ALARM_SETTINGS = (*ALARM_LIMITS, "alarm_deadband")  # evaluated in Python, not in the core


@dataclass(frozen=True, slots=True)
class TankSettings:
    """Parameters of one tank. Defaults reproduce PHYSICS.md."""

    area: float = setting(120.0, gt=0, unit="m2", doc="cross-section area A")
    height: float = setting(5.0, gt=0, unit="m", doc="height H; above it the tank overflows")
    valve_coefficient: float = setting(1.2649, gt=0, unit="m2.5/s", doc="valve coefficient k_v")
    valve_characteristic: str = setting(
        "linear", choices=VALVE_CHARACTERISTICS, doc="valve trim f(x)"
    )
    rangeability: float = setting(50.0, gt=1, doc="R of an equal-percentage valve")
    valve_time_constant: float = setting(
        0.0, ge=0, unit="s", doc="actuator first-order lag tau_v (0 = instant)"
    )
    valve_rate_limit: float = setting(
        0.0, ge=0, unit="1/s", doc="actuator stroke-rate limit (0 = unlimited)"
    )
    initial_level: float = setting(2.5, ge=0, unit="m", doc="level h0 at start and reset")
    setpoint: float = setting(2.5, ge=0, unit="m", doc="level setpoint h_sp")
    inlet_flow: float = setting(1.0, ge=0, unit="m3/s", doc="inlet flow q_in")
    initial_valve: float = setting(0.5, ge=0, le=1, doc="valve opening x0 at start and reset")
    gain: float = setting(-1.0, unit="1/m", doc="controller gain K_c (negative: reverse acting)")
    integral_time: float = setting(10.0, ge=0, unit="s", doc="tau_I (0 disables integral action)")
    derivative_time: float = setting(1.0, ge=0, unit="s", doc="tau_D (0 disables derivative)")
    bias: float = setting(0.5, doc="controller bias u_b")
    output_min: float = setting(0.0, ge=0, le=1, doc="controller output low limit u_min")
    output_max: float = setting(1.0, ge=0, le=1, doc="controller output high limit u_max")
    integral_limit: float = setting(10.0, gt=0, unit="m.s", doc="integral clamp z_max")
    derivative_on: str = setting("measurement", choices=DERIVATIVE_ON, doc="derivative source")
    mode: str = setting("auto", choices=MODES, doc="controller mode at start and reset")
    noise_std: float = setting(0.0, ge=0, unit="m", doc="measurement noise standard deviation")
    measurement_bias: float = setting(0.0, unit="m", doc="measurement bias")
    disturbance: str = setting("constant", choices=DISTURBANCES, doc="inlet disturbance kind")
    disturbance_sigma: float = setting(0.05, ge=0, unit="m3/s", doc="Brownian step sigma")
    disturbance_min: float = setting(0.8, ge=0, unit="m3/s", doc="Brownian lower bound")
    disturbance_max: float = setting(1.2, ge=0, unit="m3/s", doc="Brownian upper bound")
    seed: int | None = setting(
        None, ge=0, le=2**64 - 1, doc="seed of the tank's generators (default: from the plant seed)"
    )
    leak_flow: float = setting(0.0, ge=0, unit="m3/s", doc="leak flow q_leak (a fault)")
    level_drift_rate: float = setting(
        0.0, ge=-1, le=1, unit="m/s", doc="level sensor drift rate (a fault; 0 = none)"
    )
    level_freeze: bool = setting(False, doc="the measured level holds its value (a fault)")
    level_fail: str = setting(
        "none", choices=LEVEL_FAILS, doc="level transmitter failure signal (NE43; a fault)"
    )
    valve_stuck: bool = setting(False, doc="the valve holds its position (a fault)")
    valve_slow_time_constant: float = setting(
        0.0, ge=0, unit="s", doc="actuator lag replacing tau_v (a fault; 0 = none)"
    )
    inlet_trip: bool = setting(False, doc="the inlet pump is tripped: inlet flow 0 (a fault)")
    plc_timeout: float = setting(
        5.0, gt=0, le=300, unit="s", doc="EXTERNAL mode: the PLC heartbeat must change within this "
        "simulation time"
    )
    plc_fail_safe: str = setting(
        "hold", choices=PLC_FAIL_SAFES, doc="EXTERNAL mode: action on heartbeat loss"
    )
    flow_max: float | None = setting(
        None,
        gt=0,
        unit="m3/s",
        doc="top of the flow ranges and inlet limit (default: 2 k_v sqrt(H))",
    )
    alarm_high_high: float | None = setting(
        None, ge=0, unit="m", doc="level alarm HH limit (default: 0.9 height)"
    )
    alarm_high: float | None = setting(
        None, ge=0, unit="m", doc="level alarm H limit (default: 0.8 height)"
    )
    alarm_low: float | None = setting(
        None, ge=0, unit="m", doc="level alarm L limit (default: 0.2 height)"
    )
    alarm_low_low: float | None = setting(
        None, ge=0, unit="m", doc="level alarm LL limit (default: 0.1 height)"
    )
    alarm_deadband: float = setting(
        0.05, ge=0, unit="m", doc="alarm hysteresis: an alarm clears this far back inside its limit"
    )

    @property
    def flow_range_high(self) -> float:
        """Top of every flow tag's range [m3/s]."""
        if self.flow_max is not None:
            return self.flow_max
        return 2.0 * self.valve_coefficient * math.sqrt(self.height)

    def alarm_setting(self, name: str) -> float:
        """One of ALARM_SETTINGS [m], a derived default resolved."""
        value: float | None = getattr(self, name)
        if value is None:
            return ALARM_DEFAULT_FRACTIONS[name] * self.height
        return value

    def cross_field_problems(self) -> list[tuple[str, str]]:
        """(field, reason) for every rule that involves two fields."""
        problems = []
        if self.initial_level > self.height:
            problems.append(("initial_level", f"must be <= height ({self.height:g} m)"))
        if self.setpoint > self.height:
            problems.append(("setpoint", f"must be <= height ({self.height:g} m)"))
        if self.output_min >= self.output_max:
            problems.append(("output_min", f"must be < output_max ({self.output_max:g})"))
        if self.disturbance_min > self.disturbance_max:
            problems.append(
                ("disturbance_min", f"must be <= disturbance_max ({self.disturbance_max:g})")
            )
        if self.inlet_flow > self.flow_range_high:
            problems.append(("inlet_flow", f"must be <= flow_max ({self.flow_range_high:g})"))
        problems.extend(self._alarm_problems())
        return problems

    def _alarm_problems(self) -> list[tuple[str, str]]:
        for name in ALARM_SETTINGS:
            if self.alarm_setting(name) > self.height:
                return [(name, f"must be <= height ({self.height:g} m)")]
        found = alarm_order_problems({n: self.alarm_setting(n) for n in ALARM_SETTINGS})
        explicit = [p for p in found if getattr(self, p[0]) is not None]
        return (explicit or found)[:1]


TANK_FIELDS = tuple(f.name for f in dataclasses.fields(TankSettings))


def alarm_order_problems(values: Mapping[str, float]) -> list[tuple[str, str]]:
    """(field, reason) for the alarm rules LL < L < H < HH and deadband < H - L.

    ``values`` holds every name of ALARM_SETTINGS [m]. A broken rule is reported
    once for each field involved, naming the other one, so a refused write can
    say which limit is in its way.
    """
    problems = []
    for lower, upper in itertools.pairwise(ALARM_LIMITS):
        if values[lower] >= values[upper]:
            problems.append((lower, f"must be < {upper} ({values[upper]:g} m)"))
            problems.append((upper, f"must be > {lower} ({values[lower]:g} m)"))
    high, low, band = values["alarm_high"], values["alarm_low"], values["alarm_deadband"]
    if band >= high - low:
        problems.append(("alarm_deadband", f"must be < alarm_high - alarm_low ({high - low:g} m)"))
        problems.append(("alarm_high", f"must be > alarm_low + alarm_deadband ({low + band:g} m)"))
        problems.append(("alarm_low", f"must be < alarm_high - alarm_deadband ({high - band:g} m)"))
    return problems


def mode_code(name: str) -> int:
    """Core code of a mode word: auto 0, manual 1, external 2."""
    return MODES.index(name)
