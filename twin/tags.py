"""The tag table: every value a client can see, declared once.

OPC UA nodes, Modbus registers, Prometheus series, history and the exported
documentation are all generated from :data:`TANK_TAGS` and
:data:`SIMULATION_TAGS`. Adding a tag here makes it appear everywhere.

Units are UN/ECE Recommendation 20 common codes (what OPC UA's
EUInformation.unitId encodes); a unit without a common code has ``code=None``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from twin.tank_config import (
    DERIVATIVE_ON,
    DISTURBANCES,
    LEVEL_FAILS,
    MODES,
    PLC_FAIL_SAFES,
    VALVE_CHARACTERISTICS,
    TankSettings,
)


@dataclass(frozen=True, slots=True)
class Unit:
    code: str | None  # UN/ECE Rec. 20 common code, e.g. "MTR"
    symbol: str  # display symbol, e.g. "m"
    metric_suffix: str | None  # Prometheus base-unit suffix, e.g. "meters"

    @property
    def unit_id(self) -> int:
        """OPC UA EUInformation.UnitId: the common code's bytes packed (Part 8, 5.6.3)."""
        value = 0
        for char in (self.code or "")[:3]:
            value = (value << 8) | ord(char)
        return value if self.code else -1


METRE = Unit("MTR", "m", "meters")
SQUARE_METRE = Unit("MTK", "m²", "square_meters")
CUBIC_METRE_PER_SECOND = Unit("MQS", "m³/s", "cubic_meters_per_second")
SECOND = Unit("SEC", "s", "seconds")
ONE = Unit("C62", "1", "ratio")
RECIPROCAL_METRE = Unit("C92", "m⁻¹", None)
RECIPROCAL_SECOND = Unit("C97", "s⁻¹", None)
METRE_SECOND = Unit(None, "m·s", None)
VALVE_COEFFICIENT = Unit(None, "m^2.5/s", None)
METRE_PER_SECOND = Unit("MTS", "m/s", "meters_per_second")
MILLIAMPERE = Unit("4K", "mA", None)


class Kind(enum.StrEnum):
    MEASUREMENT = "measurement"  # computed by the model
    INPUT = "input"  # an operator's input to the process
    SETTING = "setting"  # a parameter (tuning, limits, configuration)
    STATUS = "status"  # a boolean state
    COMMAND = "command"  # a pulse: writing true triggers an action


class DataType(enum.StrEnum):
    DOUBLE = "Double"
    BOOLEAN = "Boolean"
    ENUM = "Enumeration"  # Int32 code; names in Tag.states
    UINT64 = "UInt64"


class Access(enum.IntEnum):
    """Who may write a tag (the lowest role allowed)."""

    NONE = 0  # read-only for everybody
    OPERATOR = 1
    ENGINEER = 2


class Role(enum.IntEnum):
    OBSERVER = 0  # read only
    OPERATOR = 1  # setpoint, mode, manual valve, inlet, acknowledge
    ENGINEER = 2  # tuning, limits, simulation control


class Scope(enum.StrEnum):
    TANK = "tank"
    SIMULATION = "simulation"


# A bound is a number, the name of a TankSettings attribute, "-name" for its
# negation, or None (unbounded, but always finite).
Bound = float | str | None


@dataclass(frozen=True, slots=True)
class Tag:
    name: str
    kind: Kind
    dtype: DataType
    unit: Unit | None
    low: Bound
    high: Bound
    access: Access
    description: str
    source: str  # snapshot key: "state.level", "param.gain", "flag.empty", "sim.time"
    low_exclusive: bool = False
    states: tuple[str, ...] = ()  # names of an ENUM's codes 0..n-1
    metric: bool = False  # exported as a per-tank Prometheus gauge
    history: bool = False  # sampled into history
    scope: Scope = Scope.TANK

    @property
    def writable(self) -> bool:
        return self.access is not Access.NONE

    def bounds(self, tank: TankSettings | None) -> tuple[float | None, float | None]:
        """The tag's (low, high) range for one tank, in its unit."""
        return _resolve(self.low, tank), _resolve(self.high, tank)

    @property
    def metric_name(self) -> str:
        """Prometheus name following its conventions: base unit as suffix."""
        if self.dtype is DataType.BOOLEAN:
            return f"tank_{self.name}"
        suffix = self.unit.metric_suffix if self.unit else None
        if suffix == "ratio" and self.name.endswith("_ratio"):
            suffix = None
        return f"tank_{self.name}_{suffix}" if suffix else f"tank_{self.name}"


def _resolve(bound: Bound, tank: TankSettings | None) -> float | None:
    if bound is None or isinstance(bound, float | int):
        return None if bound is None else float(bound)
    if tank is None:
        return None
    sign = -1.0 if bound.startswith("-") else 1.0
    return sign * float(getattr(tank, bound.lstrip("-")))


M, IN, S, ST, C = Kind.MEASUREMENT, Kind.INPUT, Kind.SETTING, Kind.STATUS, Kind.COMMAND
D, B, E = DataType.DOUBLE, DataType.BOOLEAN, DataType.ENUM
RO, OP, EN = Access.NONE, Access.OPERATOR, Access.ENGINEER
FLOW = CUBIC_METRE_PER_SECOND
FMAX = "flow_range_high"
ALARM_STATES = ("NORMAL", "LL", "L", "H", "HH")  # codes of level_alarm_state


def _t(name: str, kind: Kind, dtype: DataType, unit: Unit | None, low: Bound, high: Bound,
       access: Access, source: str, description: str, **extra: object) -> Tag:
    return Tag(name, kind, dtype, unit, low, high, access, description, source, **extra)  # type: ignore[arg-type]


TANK_TAGS: tuple[Tag, ...] = (
    _t("level", M, D, METRE, 0.0, "height", RO, "state.level",
       "Measured level: true level plus measurement bias and noise", metric=True, history=True),
    _t("level_true", M, D, METRE, 0.0, "height", RO, "state.level_true",
       "True level in the model (for diagnostics)", metric=True, history=True),
    _t("setpoint", IN, D, METRE, 0.0, "height", OP, "state.setpoint",
       "Level setpoint of the controller", metric=True, history=True),
    _t("inlet_flow", IN, D, FLOW, 0.0, FMAX, OP, "state.inlet_flow",
       "Inlet flow into the tank", metric=True, history=True),
    _t("outlet_flow", M, D, FLOW, 0.0, FMAX, RO, "state.outlet_flow",
       "Outlet flow through the control valve (mean over the last step)", metric=True,
       history=True),
    _t("overflow_flow", M, D, FLOW, 0.0, FMAX, RO, "state.overflow_flow",
       "Flow spilling over the top of a full tank", metric=True, history=True),
    _t("leak_flow", M, D, FLOW, 0.0, FMAX, RO, "state.leak_flow",
       "Flow leaving through a leak (a fault)", metric=True, history=True),
    _t("valve_command", IN, D, ONE, 0.0, 1.0, OP, "state.valve_command",
       "Commanded valve opening; writable in MANUAL and EXTERNAL modes", metric=True,
       history=True),
    _t("valve_position", M, D, ONE, 0.0, 1.0, RO, "state.valve_position",
       "Actual valve opening (after actuator lag and rate limit)", metric=True, history=True),
    _t("controller_output", M, D, ONE, 0.0, 1.0, RO, "state.controller_output",
       "PID output, clamped to its limits; tracks the valve command outside AUTO",
       metric=True, history=True),
    _t("error", M, D, METRE, "-height", "height", RO, "state.error",
       "Control error: setpoint minus measured level", metric=True, history=True),
    _t("integral", M, D, METRE_SECOND, "-integral_limit", "integral_limit", RO,
       "state.integral", "Integrator state z of the PID"),
    _t("mode", IN, E, None, 0.0, 2.0, OP, "state.mode",
       "Controller mode: 0 AUTO, 1 MANUAL, 2 EXTERNAL (valve from a PLC)",
       states=tuple(m.upper() for m in MODES), metric=True, history=True),
    _t("overflowing", ST, B, None, None, None, RO, "flag.overflowing",
       "The tank is full and spilling", metric=True),
    _t("empty", ST, B, None, None, None, RO, "flag.empty", "The tank is empty", metric=True),
    _t("reset", C, B, None, None, None, EN, "command.reset",
       "Write true to return the tank to its configured initial state"),
    _t("gain", S, D, RECIPROCAL_METRE, None, None, EN, "param.gain",
       "Controller gain K_c (negative: reverse acting)"),
    _t("integral_time", S, D, SECOND, 0.0, None, EN, "param.integral_time",
       "Integral time tau_I (0 disables integral action)"),
    _t("derivative_time", S, D, SECOND, 0.0, None, EN, "param.derivative_time",
       "Derivative time tau_D (0 disables derivative action)"),
    _t("bias", S, D, ONE, None, None, EN, "param.bias", "Controller bias u_b"),
    _t("output_min", S, D, ONE, 0.0, 1.0, EN, "param.output_min", "Controller output low limit"),
    _t("output_max", S, D, ONE, 0.0, 1.0, EN, "param.output_max",
       "Controller output high limit"),
    _t("integral_limit", S, D, METRE_SECOND, 0.0, None, EN, "param.integral_limit",
       "Integral clamp z_max", low_exclusive=True),
    _t("derivative_on", S, E, None, 0.0, 1.0, EN, "param.derivative_on",
       "Derivative source: 0 measurement (no setpoint kick), 1 error",
       states=tuple(d.upper() for d in DERIVATIVE_ON)),
    _t("valve_characteristic", S, E, None, 0.0, 1.0, EN, "param.valve_characteristic",
       "Valve trim: 0 linear, 1 equal percentage",
       states=tuple(v.upper() for v in VALVE_CHARACTERISTICS)),
    _t("rangeability", S, D, ONE, 1.0, None, EN, "param.rangeability",
       "Rangeability R of an equal-percentage valve", low_exclusive=True),
    _t("valve_coefficient", S, D, VALVE_COEFFICIENT, 0.0, None, EN, "param.valve_coefficient",
       "Valve coefficient k_v", low_exclusive=True),
    _t("valve_time_constant", S, D, SECOND, 0.0, None, EN, "param.valve_time_constant",
       "Actuator first-order lag tau_v (0 = instant)"),
    _t("valve_rate_limit", S, D, RECIPROCAL_SECOND, 0.0, None, EN, "param.valve_rate_limit",
       "Actuator stroke-rate limit (0 = unlimited)"),
    _t("noise_std", S, D, METRE, 0.0, "height", EN, "param.noise_std",
       "Measurement noise standard deviation"),
    _t("measurement_bias", S, D, METRE, "-height", "height", EN, "param.measurement_bias",
       "Measurement bias"),
    _t("disturbance", S, E, None, 0.0, 1.0, EN, "param.disturbance",
       "Inlet disturbance: 0 constant, 1 Brownian",
       states=tuple(d.upper() for d in DISTURBANCES)),
    _t("disturbance_sigma", S, D, FLOW, 0.0, FMAX, EN, "param.disturbance_sigma",
       "Brownian inlet step standard deviation"),
    _t("disturbance_min", S, D, FLOW, 0.0, FMAX, EN, "param.disturbance_min",
       "Brownian inlet lower bound"),
    _t("disturbance_max", S, D, FLOW, 0.0, FMAX, EN, "param.disturbance_max",
       "Brownian inlet upper bound"),
    _t("leak", S, D, FLOW, 0.0, FMAX, EN, "param.leak_flow",
       "Injected leak flow (a fault; 0 = none)"),
    _t("area", S, D, SQUARE_METRE, None, None, RO, "param.area", "Cross-section area A"),
    _t("height", S, D, METRE, None, None, RO, "param.height", "Height H"),
    # Level alarms (twin/alarms.py): limits, hysteresis, states, acknowledgement.
    _t("alarm_high_high", S, D, METRE, 0.0, "height", EN, "alarm.high_high",
       "Level alarm limit HH: active at or above it", metric=True),
    _t("alarm_high", S, D, METRE, 0.0, "height", EN, "alarm.high",
       "Level alarm limit H: active at or above it", metric=True),
    _t("alarm_low", S, D, METRE, 0.0, "height", EN, "alarm.low",
       "Level alarm limit L: active at or below it", metric=True),
    _t("alarm_low_low", S, D, METRE, 0.0, "height", EN, "alarm.low_low",
       "Level alarm limit LL: active at or below it", metric=True),
    _t("alarm_deadband", S, D, METRE, 0.0, "height", EN, "alarm.deadband",
       "Level alarm hysteresis: an alarm clears this far back inside its limit"),
    _t("level_alarm_high_high", ST, B, None, None, None, RO, "alarm.hh_active",
       "Level alarm HH is active", metric=True),
    _t("level_alarm_high", ST, B, None, None, None, RO, "alarm.h_active",
       "Level alarm H is active (also while HH is)", metric=True),
    _t("level_alarm_low", ST, B, None, None, None, RO, "alarm.l_active",
       "Level alarm L is active (also while LL is)", metric=True),
    _t("level_alarm_low_low", ST, B, None, None, None, RO, "alarm.ll_active",
       "Level alarm LL is active", metric=True),
    _t("level_alarm_state", M, E, None, 0.0, 4.0, RO, "alarm.state",
       "Most severe active level alarm: 0 NORMAL, 1 LL, 2 L, 3 H, 4 HH",
       states=ALARM_STATES, metric=True, history=True),
    _t("level_alarm_acked", ST, B, None, None, None, RO, "alarm.acked",
       "The last level alarm was acknowledged (false while one awaits acknowledgement)",
       metric=True),
    _t("level_alarm_confirmed", ST, B, None, None, None, RO, "alarm.confirmed",
       "The last acknowledged level alarm was confirmed (false while one awaits it)"),
    _t("level_alarm_acknowledge", C, B, None, None, None, OP, "alarm.acknowledge",
       "Write true to acknowledge the tank's level alarm"),
    _t("level_alarm_confirm", C, B, None, None, None, OP, "alarm.confirm",
       "Write true to confirm the tank's acknowledged level alarm"),
    # Faults (docs/faults.md): the switches (besides noise_std, measurement_bias, leak)...
    _t("level_drift_rate", S, D, METRE_PER_SECOND, -1.0, 1.0, EN, "param.level_drift_rate",
       "Level sensor drift rate (a fault; 0 = none, which also clears the drift)"),
    _t("level_freeze", S, B, None, None, None, EN, "param.level_freeze",
       "Level sensor frozen: the measured level holds its value (a fault)"),
    _t("level_fail", S, E, None, 0.0, 3.0, EN, "param.level_fail",
       "Level transmitter failure signal (a fault): 0 NONE, 1 LOW (3.5 mA), 2 HIGH (21.5 mA), "
       "3 WIRE_BREAK (0 mA)", states=tuple(f.upper() for f in LEVEL_FAILS)),
    _t("valve_stuck", S, B, None, None, None, EN, "param.valve_stuck",
       "Valve stuck: the position holds and commands are ignored (a fault)"),
    _t("valve_slow_time_constant", S, D, SECOND, 0.0, None, EN,
       "param.valve_slow_time_constant",
       "Slow valve: actuator lag replacing valve_time_constant (a fault; 0 = none)"),
    _t("inlet_trip", S, B, None, None, None, EN, "param.inlet_trip",
       "Inlet pump tripped: inlet flow 0, the previous flow returns when cleared (a fault)"),
    # ...and one status per fault (twin/faults.py), exported as metrics.
    _t("fault_level_noise", ST, B, None, None, None, RO, "fault.level_noise",
       "Fault active: level measurement noise (noise_std > 0)", metric=True),
    _t("fault_level_bias", ST, B, None, None, None, RO, "fault.level_bias",
       "Fault active: level measurement bias (measurement_bias != 0)", metric=True),
    _t("fault_level_drift", ST, B, None, None, None, RO, "fault.level_drift",
       "Fault active: level sensor drift", metric=True),
    _t("fault_level_freeze", ST, B, None, None, None, RO, "fault.level_freeze",
       "Fault active: level sensor frozen", metric=True),
    _t("fault_level_fail_low", ST, B, None, None, None, RO, "fault.level_fail_low",
       "Fault active: level transmitter failed low (3.5 mA)", metric=True),
    _t("fault_level_fail_high", ST, B, None, None, None, RO, "fault.level_fail_high",
       "Fault active: level transmitter failed high (21.5 mA)", metric=True),
    _t("fault_level_wire_break", ST, B, None, None, None, RO, "fault.level_wire_break",
       "Fault active: level transmitter wire break (0 mA)", metric=True),
    _t("fault_valve_stuck", ST, B, None, None, None, RO, "fault.valve_stuck",
       "Fault active: valve stuck", metric=True),
    _t("fault_valve_slow", ST, B, None, None, None, RO, "fault.valve_slow",
       "Fault active: slow valve", metric=True),
    _t("fault_leak", ST, B, None, None, None, RO, "fault.leak",
       "Fault active: leak (leak > 0)", metric=True),
    _t("fault_inlet_trip", ST, B, None, None, None, RO, "fault.inlet_trip",
       "Fault active: inlet pump tripped", metric=True),
    _t("fault_active", ST, B, None, None, None, RO, "fault.any",
       "Any fault is active on this tank", metric=True),
    # PLC in the loop (twin/plc_link.py, docs/faults.md): heartbeat, comm loss, fail-safe.
    _t("plc_heartbeat", IN, D, None, 0.0, 32767.0, OP, "plc.heartbeat",
       "EXTERNAL mode: a counter the PLC must change within plc_timeout (simulation time)"),
    _t("plc_timeout", S, D, SECOND, 0.0, 300.0, EN, "plc.timeout",
       "EXTERNAL mode: heartbeat timeout in simulation time", low_exclusive=True),
    _t("plc_fail_safe", S, E, None, 0.0, 3.0, EN, "plc.fail_safe",
       "EXTERNAL mode: action on heartbeat loss: 0 HOLD the valve, 1 CLOSE it, 2 OPEN it, "
       "3 AUTO (the internal PID takes over bumplessly)",
       states=tuple(f.upper() for f in PLC_FAIL_SAFES)),
    _t("plc_comm_loss", ST, B, None, None, None, RO, "plc.comm_loss",
       "EXTERNAL mode: the PLC heartbeat stopped; the fail-safe action is in force",
       metric=True),
    _t("plc_heartbeat_age", M, D, SECOND, 0.0, None, RO, "plc.heartbeat_age",
       "Simulation time since the PLC heartbeat last changed (0 outside EXTERNAL mode)",
       metric=True),
    # Raw I/O (twin/raw_io.py): the level transmitter and the valve command as a PLC sees
    # them, 4-20 mA and Siemens S7 counts (docs/faults.md, "Raw I/O").
    _t("level_raw_current", M, D, MILLIAMPERE, 0.0, 22.0, RO, "raw.level_current",
       "Level transmitter signal: 4-20 mA over 0..height (NE43: 3.8-20.5 mA in operation)"),
    _t("level_raw_counts", M, D, None, -4864.0, 32767.0, RO, "raw.level_counts",
       "Level as Siemens S7 analog input counts: 0..27648 for 4..20 mA, 32767 overflow or "
       "wire break"),
    _t("valve_command_raw_current", M, D, MILLIAMPERE, 4.0, 20.0, RO,
       "raw.valve_command_current", "Valve command as a 4-20 mA analog output signal"),
    _t("valve_command_raw_counts", M, D, None, 0.0, 27648.0, RO, "raw.valve_command_counts",
       "Valve command as Siemens S7 analog output counts: 0..27648 for 4..20 mA"),
)

SIMULATION_TAGS: tuple[Tag, ...] = tuple(
    Tag(*args, scope=Scope.SIMULATION)  # type: ignore[misc]
    for args in (
        ("sim_time", M, D, SECOND, 0.0, None, RO, "Simulation time", "sim.time"),
        ("time_scale", S, D, ONE, 0.1, 1000.0, EN,
         "Simulated seconds per wall-clock second", "sim.time_scale"),
        ("running", ST, B, None, None, None, EN,
         "The simulation runs (write false to pause, true to resume)", "sim.running"),
        ("step_count", M, DataType.UINT64, None, 0.0, None, RO,
         "Internal steps taken since start", "sim.steps"),
        ("scan_count", M, DataType.UINT64, None, 0.0, None, RO, "Scans completed", "sim.scans"),
        ("overruns", M, DataType.UINT64, None, 0.0, None, RO,
         "Scans that missed their real-time deadline", "sim.overruns"),
        # Lock-step (docs/scenarios.md, "Lock-step"): write step_ack + n to advance n scans.
        ("step_request", IN, DataType.UINT64, None, 0.0, None, OP,
         "Lock-step request counter: write step_ack + n to pause and advance exactly n scans",
         "sim.step_request"),
        ("step_ack", M, DataType.UINT64, None, 0.0, None, RO,
         "Lock-step acknowledge counter: equals step_request once the requested scans are done",
         "sim.step_ack"),
        ("reset_all", C, B, None, None, None, EN,
         "Write true to return every tank to its configured initial state", "sim.reset_all"),
    )
)


@dataclass(frozen=True, slots=True)
class TagTable:
    """Lookup over the declared tags (built by the composition root)."""

    tank: tuple[Tag, ...] = TANK_TAGS
    simulation: tuple[Tag, ...] = SIMULATION_TAGS

    def tank_tag(self, name: str) -> Tag:
        for tag in self.tank:
            if tag.name == name:
                return tag
        raise KeyError(name)

    def simulation_tag(self, name: str) -> Tag:
        for tag in self.simulation:
            if tag.name == name:
                return tag
        raise KeyError(name)
