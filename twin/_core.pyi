"""Type stubs for the private C++ extension ``twin._core`` (the tank plant core).

All quantities are SI: metres, square metres, cubic metres per second, seconds.
The valve opening and the controller output are ratios in [0, 1].
"""

from typing import Final

import numpy as np
import numpy.typing as npt

__version__: Final[str]

# Controller modes (values of ``Plant.mode``).
AUTO: Final[int]  # 0: the PID drives the valve
MANUAL: Final[int]  # 1: the valve command comes from an operator
EXTERNAL: Final[int]  # 2: the valve command comes from a PLC (behaves as MANUAL in the core)

# Valve characteristics (``TankParams.valve_characteristic``).
LINEAR: Final[int]  # 0: f(x) = x
EQUAL_PERCENTAGE: Final[int]  # 1: f(x) = R**(x - 1)

# Derivative modes (``TankParams.derivative_on``).
ON_MEASUREMENT: Final[int]  # 0 (default): no kick on a setpoint step
ON_ERROR: Final[int]  # 1: the original simulator's behaviour

# Inlet disturbance kinds (``TankParams.disturbance``).
CONSTANT: Final[int]  # 0
BROWNIAN: Final[int]  # 1

# Level transmitter failure signals (``TankParams.level_fail``, NAMUR NE43; docs/faults.md).
FAIL_NONE: Final[int]  # 0
FAIL_LOW: Final[int]  # 1: 3.5 mA, the level reads FAIL_LOW_LEVEL_FRACTION * height
FAIL_HIGH: Final[int]  # 2: 21.5 mA, the level reads FAIL_HIGH_LEVEL_FRACTION * height
FAIL_WIRE_BREAK: Final[int]  # 3: 0 mA, the level reads WIRE_BREAK_LEVEL_FRACTION * height
FAIL_LOW_LEVEL_FRACTION: Final[float]  # -0.03125 = (3.5 - 4) / 16
FAIL_HIGH_LEVEL_FRACTION: Final[float]  # 1.09375 = (21.5 - 4) / 16
WIRE_BREAK_LEVEL_FRACTION: Final[float]  # -0.25 = (0 - 4) / 16

# Status flag bits (``Plant.flags``).
FLAG_OVERFLOWING: Final[int]  # 1: the level is at H and inflow is spilling
FLAG_EMPTY: Final[int]  # 2: the level is at 0

# Valid internal step [s] (Plant(dt=...)).
DT_MIN: Final[float]  # 0.001
DT_MAX: Final[float]  # 10.0

# Every TankParams field name, in declaration order.
PARAM_FIELDS: Final[tuple[str, ...]]
# The fields Plant.set_param accepts (the rest: area, height, initial_level,
# initial_valve, seed are fixed; setpoint, inlet_flow, mode have their own commands).
RUNTIME_FIELDS: Final[tuple[str, ...]]

class TankParams:
    """Configured parameters of one tank; the defaults are PHYSICS.md's.

    Setting a field only type-checks it; ranges are checked by validate() and by Plant().
    Besides the ranges noted below every float must be finite, and sanity caps far
    outside any real tank keep every step finite (e.g. area <= 1e6, flows <= 1e4,
    time constants <= 1e6); the ValueError message states the range.
    Supports ==, repr() and pickling (so copy.copy() works).
    """

    area: float  # A [m2], > 0 (and within [1e-4, 1e6])
    height: float  # H [m], > 0 (and within [1e-3, 1e3])
    valve_coefficient: float  # k_v [m^2.5/s], > 0
    valve_characteristic: int  # LINEAR | EQUAL_PERCENTAGE
    rangeability: float  # R [1], > 1, default 50; eq% passes k_v/R at x = 0 (real eq% valves leak)
    valve_time_constant: float  # tau_v [s], >= 0, 0 = instant
    valve_rate_limit: float  # [1/s], >= 0, 0 = unlimited
    initial_level: float  # h0 [m], 0..H
    setpoint: float  # h_sp [m], 0..H
    inlet_flow: float  # q_in [m3/s], >= 0
    initial_valve: float  # x0 [1], 0..1
    gain: float  # K_c [1/m], 0 or 1e-9 <= |K_c| <= 1e6 (negative = reverse acting)
    integral_time: float  # tau_I [s], 0 (disables integral action) or >= 0.001
    derivative_time: float  # tau_D [s], >= 0, 0 disables derivative action
    bias: float  # u_b [1], finite
    output_min: float  # u_min [1], 0 <= u_min < u_max <= 1
    output_max: float  # u_max [1]
    integral_limit: float  # z_max [m s], > 0
    derivative_on: int  # ON_MEASUREMENT | ON_ERROR
    mode: int  # initial mode: AUTO | MANUAL | EXTERNAL
    noise_std: float  # measurement noise standard deviation [m], >= 0
    measurement_bias: float  # [m], finite
    disturbance: int  # CONSTANT | BROWNIAN
    disturbance_sigma: float  # [m3/s] per step, >= 0 (BROWNIAN draws every step, even at 0)
    disturbance_min: float  # [m3/s], >= 0
    disturbance_max: float  # [m3/s], >= disturbance_min
    seed: int  # unsigned 64-bit seed of this tank's noise and disturbance generators
    leak_flow: float  # q_leak [m3/s], >= 0 (a fault)
    # Faults (docs/faults.md), all runtime fields:
    level_drift_rate: float  # [m/s] within [-1, 1]; the measurement drifts while != 0, 0 clears
    valve_slow_time_constant: float  # [s] >= 0; while > 0 the actuator lag uses it instead of tau_v
    level_freeze: int  # 0 | 1: the measured level holds its last value
    level_fail: int  # FAIL_NONE | FAIL_LOW | FAIL_HIGH | FAIL_WIRE_BREAK
    valve_stuck: int  # 0 | 1: the valve position holds; commands are ignored
    inlet_trip: int  # 0 | 1: inlet flow 0 (no Brownian draw); the previous inlet returns at 0

    def __init__(self, **kwargs: float | int) -> None:
        """Defaults overridden by keyword; an unknown keyword raises TypeError."""

    def validate(self) -> None:
        """Raise ValueError naming the field if any value is invalid.

        E.g. "setpoint: must be within [0, 5] m (got 7.0)".
        """

    def __eq__(self, other: object) -> bool: ...

class Plant:
    """N tanks kept as structure-of-arrays, advanced together.

    Every array property is a read-only float64 (or int32/uint32) numpy view of
    length ``n`` into the plant's own storage: it never copies and always shows
    the current values. A view keeps the plant alive; writing to it raises ValueError.

    Threads: step() releases the GIL. Commands, reset, save/load and params() issued
    from another thread while a step runs wait for it to finish; views read during a
    step may show a mix of old and new values.

    Errors are ValueError with the message "tank <i>: <field>: <what> (got <value>)",
    e.g. "tank 2: setpoint: must be within [0, 5] m (got 7.0)" or
    "tank 12: no such tank (plant has 3)"; a failed command changes nothing.
    """

    def __init__(self, tanks: list[TankParams], dt: float = 0.1) -> None:
        """Raise ValueError("tank 3: area: must be > 0 (got -1.0)") on bad input.

        ``tanks`` must not be empty; ``dt`` within [DT_MIN, DT_MAX] s.
        """

    @property
    def n(self) -> int: ...
    @property
    def dt(self) -> float: ...
    @property
    def time(self) -> float:
        """Simulation time [s] = steps * dt."""

    @property
    def steps(self) -> int:
        """Internal steps taken since construction."""

    def step(self, n: int = 1) -> None:
        """Advance every tank by n internal steps with the GIL released. Never throws for n >= 0.

        n < 0 raises ValueError. After a step the flow views (outlet, overflow, leak)
        describe the step just completed, while ``inlet_flow`` already holds the inflow
        of the NEXT step (a Brownian disturbance moves it at the end of each step): to
        balance volumes, read ``inlet_flow`` before calling step(1).
        """

    def params(self, tank: int) -> TankParams:
        """A copy of the tank's current parameters (including runtime changes).

        setpoint, inlet_flow and mode are the current values; the structural fields
        (area, height, initial_level, initial_valve, seed) are the configured ones.
        """

    # Commands. Each validates, raises ValueError("tank 3: setpoint: ...") naming
    # the tank and the field, and changes nothing when it raises.
    def set_setpoint(self, tank: int, value: float) -> None:
        """Setpoint [m], within [0, H]."""

    def set_inlet_flow(self, tank: int, value: float) -> None:
        """Inlet flow [m3/s], >= 0, for the next step. A BROWNIAN tank clips it to
        [disturbance_min, disturbance_max] at the end of that step. While the inlet is
        tripped (``inlet_trip``) the flow stays 0 and this value applies when the trip ends."""

    def set_valve_command(self, tank: int, value: float) -> None:
        """Operator/PLC valve command [1], within [0, 1]; effective in MANUAL and EXTERNAL.

        Accepted in AUTO too, but the PID overwrites it at the next step (no effect).
        """

    def set_mode(self, tank: int, mode: int) -> None:
        """MANUAL/EXTERNAL -> AUTO is bumpless (integrator back-calculated at the next
        step so the valve command does not jump, unless |z| would exceed z_max or there
        is no integral action); AUTO -> MANUAL keeps the valve command where it is."""

    def set_param(self, tank: int, field: str, value: float) -> None:
        """Change one TankParams field at runtime (gains, limits, noise, disturbance, leak...).

        ``field`` must be in RUNTIME_FIELDS; integer fields take an integral value
        (e.g. 1.0). Structural fields (area, height, initial_level, initial_valve,
        seed) and setpoint/inlet_flow/mode (use their commands) are refused with
        ValueError, as is an unknown field. Changing gain or integral_time rescales the
        integrator so that K_c z / tau_I, the integral's share of the output, is kept.
        """

    def reset(self, tank: int = -1) -> None:
        """Return one tank (or all, with -1) to its configured initial state.

        Parameters changed at runtime return to the configured ones, the generators
        are reseeded; ``time``/``steps`` are not changed.
        """

    def save_state(self) -> bytes:
        """Every dynamic value (levels, integrators, valves, modes, generators, time)
        and the runtime parameters, in this build's native binary format."""

    def load_state(self, state: bytes) -> None:
        """Restore save_state() output of a plant built from the same parameters.

        ValueError (and nothing changed) if the format version, tank count, dt or a
        structural parameter differs, or if any value is invalid or non-finite.
        """

    # Read-only views, length n.
    @property
    def level(self) -> npt.NDArray[np.float64]:
        """Measured level h_meas [m] (what clients read)."""

    @property
    def level_true(self) -> npt.NDArray[np.float64]: ...
    @property
    def setpoint(self) -> npt.NDArray[np.float64]: ...
    @property
    def inlet_flow(self) -> npt.NDArray[np.float64]:
        """Inlet flow of the next step [m3/s] (see step())."""

    @property
    def outlet_flow(self) -> npt.NDArray[np.float64]:
        """Mean outlet flow over the last step [m3/s]."""

    @property
    def overflow_flow(self) -> npt.NDArray[np.float64]: ...
    @property
    def leak_flow(self) -> npt.NDArray[np.float64]:
        """Leak that actually left over the last step [m3/s]: the configured leak_flow,
        less what an emptying tank could not supply (0 before the first step)."""

    @property
    def valve_command(self) -> npt.NDArray[np.float64]: ...
    @property
    def valve_position(self) -> npt.NDArray[np.float64]: ...
    @property
    def controller_output(self) -> npt.NDArray[np.float64]:
        """PID output clamped to [u_min, u_max] [1]; tracks the valve command outside AUTO."""

    @property
    def error(self) -> npt.NDArray[np.float64]: ...
    @property
    def integral(self) -> npt.NDArray[np.float64]: ...
    @property
    def level_drift(self) -> npt.NDArray[np.float64]:
        """Offset the level drift fault has accumulated [m] (0 while it is off)."""

    @property
    def mode(self) -> npt.NDArray[np.int32]: ...
    @property
    def flags(self) -> npt.NDArray[np.uint32]:
        """FLAG_OVERFLOWING | FLAG_EMPTY as set by the last step (EMPTY at start if h0 = 0)."""

    def param_array(self, field: str) -> npt.NDArray[np.float64]:
        """Read-only float64 view of one TankParams field across all tanks (current values).

        The integer fields (valve_characteristic, derivative_on, mode, disturbance)
        come as float64 too; ``seed`` and unknown names raise ValueError.
        """
