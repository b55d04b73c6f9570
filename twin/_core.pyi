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

# Status flag bits (``Plant.flags``).
FLAG_OVERFLOWING: Final[int]  # 1: the level is at H and inflow is spilling
FLAG_EMPTY: Final[int]  # 2: the level is at 0

class TankParams:
    """Configured parameters of one tank; the defaults are PHYSICS.md's."""

    area: float  # A [m2], > 0
    height: float  # H [m], > 0
    valve_coefficient: float  # k_v [m^2.5/s], > 0
    valve_characteristic: int  # LINEAR | EQUAL_PERCENTAGE
    rangeability: float  # R [1], > 1, default 50
    valve_time_constant: float  # tau_v [s], >= 0, 0 = instant
    valve_rate_limit: float  # [1/s], >= 0, 0 = unlimited
    initial_level: float  # h0 [m], 0..H
    setpoint: float  # h_sp [m], 0..H
    inlet_flow: float  # q_in [m3/s], >= 0
    initial_valve: float  # x0 [1], 0..1
    gain: float  # K_c [1/m], finite (negative = reverse acting)
    integral_time: float  # tau_I [s], >= 0, 0 disables integral action
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
    disturbance_sigma: float  # [m3/s] per step, >= 0
    disturbance_min: float  # [m3/s], >= 0
    disturbance_max: float  # [m3/s], >= disturbance_min
    seed: int  # unsigned 64-bit seed of this tank's generators
    leak_flow: float  # q_leak [m3/s], >= 0

    def __init__(self, **kwargs: float | int) -> None: ...
    def validate(self) -> None:
        """Raise ValueError naming the field if any value is invalid."""

class Plant:
    """N tanks kept as structure-of-arrays, advanced together.

    Every array property is a read-only float64 (or int32/uint32) numpy view of
    length ``n`` into the plant's own storage: it never copies and always shows
    the current values.
    """

    def __init__(self, tanks: list[TankParams], dt: float = 0.1) -> None:
        """Raise ValueError("tank 3: area: must be > 0 (got -1)") on bad input."""

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
        """Advance every tank by n internal steps with the GIL released. Never throws for n >= 0."""

    def params(self, tank: int) -> TankParams:
        """A copy of the tank's current parameters (including runtime changes)."""

    # Commands. Each validates, raises ValueError("tank 3: setpoint: ...") naming
    # the tank and the field, and changes nothing when it raises.
    def set_setpoint(self, tank: int, value: float) -> None: ...
    def set_inlet_flow(self, tank: int, value: float) -> None: ...
    def set_valve_command(self, tank: int, value: float) -> None:
        """Operator/PLC valve command; effective in MANUAL and EXTERNAL."""

    def set_mode(self, tank: int, mode: int) -> None:
        """MANUAL/EXTERNAL -> AUTO is bumpless (integrator back-calculated)."""

    def set_param(self, tank: int, field: str, value: float) -> None:
        """Change one TankParams field at runtime (gains, limits, noise, disturbance, leak...).

        Structural fields (area, height, initial_*) are refused with ValueError.
        """

    def reset(self, tank: int = -1) -> None:
        """Return one tank (or all, with -1) to its configured initial state."""

    def save_state(self) -> bytes:
        """Every dynamic value (levels, integrators, valves, modes, generators, time)."""

    def load_state(self, state: bytes) -> None:
        """Restore save_state() output of a plant built from the same parameters."""

    # Read-only views, length n.
    @property
    def level(self) -> npt.NDArray[np.float64]:
        """Measured level h_meas [m] (what clients read)."""

    @property
    def level_true(self) -> npt.NDArray[np.float64]: ...
    @property
    def setpoint(self) -> npt.NDArray[np.float64]: ...
    @property
    def inlet_flow(self) -> npt.NDArray[np.float64]: ...
    @property
    def outlet_flow(self) -> npt.NDArray[np.float64]:
        """Mean outlet flow over the last step [m3/s]."""

    @property
    def overflow_flow(self) -> npt.NDArray[np.float64]: ...
    @property
    def leak_flow(self) -> npt.NDArray[np.float64]: ...
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
    def mode(self) -> npt.NDArray[np.int32]: ...
    @property
    def flags(self) -> npt.NDArray[np.uint32]: ...
    def param_array(self, field: str) -> npt.NDArray[np.float64]:
        """Read-only view of one float TankParams field across all tanks (current values)."""
