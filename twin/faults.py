"""Fault status of every tank, one boolean column per fault (docs/faults.md).

The faults themselves act in the C++ core (measurement, actuator, inlet); they are
switched through their parameter tags (``level_freeze``, ``valve_stuck``, ...) like
any other setting. This extension only derives the read-only ``fault_*`` status tags
from those parameters, so a client and Prometheus see at a glance which fault is on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from twin import _core
from twin.errors import CommandError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from twin.commands import Command

Bools = npt.NDArray[np.bool_]


def fault_columns(params: Mapping[str, np.ndarray]) -> dict[str, Bools]:
    """Status columns keyed by source ("fault.leak", ...) from the parameter columns."""
    fail = params["level_fail"]
    columns: dict[str, Bools] = {
        "fault.level_noise": params["noise_std"] > 0.0,
        "fault.level_bias": params["measurement_bias"] != 0.0,
        "fault.level_drift": params["level_drift_rate"] != 0.0,
        "fault.level_freeze": params["level_freeze"] != 0.0,
        "fault.level_fail_low": fail == _core.FAIL_LOW,
        "fault.level_fail_high": fail == _core.FAIL_HIGH,
        "fault.level_wire_break": fail == _core.FAIL_WIRE_BREAK,
        "fault.valve_stuck": params["valve_stuck"] != 0.0,
        "fault.valve_slow": params["valve_slow_time_constant"] > 0.0,
        "fault.leak": params["leak_flow"] > 0.0,
        "fault.inlet_trip": params["inlet_trip"] != 0.0,
    }
    columns["fault.any"] = np.logical_or.reduce(list(columns.values()))
    return columns


class FaultStatus:
    """EngineExtension: the ``fault.*`` columns, recomputed when the parameters change."""

    prefix = "fault"

    def __init__(self) -> None:
        self._params: Mapping[str, np.ndarray] | None = None
        self._columns: dict[str, np.ndarray] = {}

    def apply(self, command: Command) -> None:
        raise CommandError(command.target, "fault status is read-only (write the fault's switch)")

    def evaluate(
        self, state: dict[str, np.ndarray], params: dict[str, np.ndarray], sim_time: float
    ) -> dict[str, np.ndarray]:
        if params is not self._params:  # the engine replaces the dict when a parameter changes
            self._params = params
            self._columns = dict(fault_columns(params))
        return self._columns
