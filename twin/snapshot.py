"""The plant's values at the end of one scan, shared read-only by every consumer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from twin.tags import DataType, Tag

# Core views copied into every snapshot (names of ``Plant`` properties).
STATE_FIELDS = (
    "level",
    "level_true",
    "setpoint",
    "inlet_flow",
    "outlet_flow",
    "overflow_flow",
    "leak_flow",
    "valve_command",
    "valve_position",
    "controller_output",
    "error",
    "integral",
    "mode",
    "flags",
)

FLAG_BITS = {"overflowing": 1, "empty": 2}


def frozen(array: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    array.flags.writeable = False
    return array


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Immutable values of one scan. Arrays are copies owned by the snapshot."""

    scan: int
    steps: int
    sim_time: float
    wall_time: float  # time.time() when the scan finished: the source timestamp
    running: bool
    time_scale: float
    overruns: int
    state: Mapping[str, npt.NDArray[np.generic]]
    params: Mapping[str, npt.NDArray[np.float64]]
    step_request: int = 0  # lock-step counters (Engine: step_request / step_ack)
    step_ack: int = 0

    @property
    def n(self) -> int:
        return len(self.state["level"])

    def column(self, tag: Tag) -> npt.NDArray[np.generic]:
        """All tanks' values of a tank tag, as an array (no copy where possible)."""
        kind, _, name = tag.source.partition(".")
        if kind == "state":
            return self.state[name]
        if kind == "param":
            return self.params[name]
        if kind == "flag":
            flags: npt.NDArray[np.uint32] = np.asarray(self.state["flags"], dtype=np.uint32)
            active: npt.NDArray[np.bool_] = np.bitwise_and(flags, FLAG_BITS[name]) != 0
            return active
        if kind == "command":
            return np.zeros(self.n, dtype=bool)
        return self.state[tag.source]  # a column computed by an engine extension

    def value(self, tag: Tag, tank: int | None = None) -> float | int | bool:
        """One value as a Python scalar of the tag's type."""
        kind, _, name = tag.source.partition(".")
        if kind == "sim":
            return self._simulation_value(name)
        assert tank is not None
        raw = self.column(tag)[tank]
        if tag.dtype is DataType.BOOLEAN:
            return bool(raw)
        if tag.dtype is DataType.ENUM:
            return int(raw)
        return float(raw)

    def _simulation_value(self, name: str) -> float | int | bool:
        values: dict[str, float | int | bool] = {
            "time": self.sim_time,
            "time_scale": self.time_scale,
            "running": self.running,
            "steps": self.steps,
            "scans": self.scan,
            "overruns": self.overruns,
            "step_request": self.step_request,
            "step_ack": self.step_ack,
            "reset_all": False,
        }
        return values[name]
