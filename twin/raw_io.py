"""Raw I/O: the level transmitter and the valve command as a PLC's I/O cards see them.

Per scan, vectorised over the tanks (docs/faults.md, "Raw I/O"):

- Level: a 4-20 mA transmitter spanning 0..height. In operation the signal follows the
  measured level and saturates at 3.8 and 20.5 mA (NAMUR NE43 measurement range); a
  failed transmitter (``level_fail``) sends 3.5 mA (fail low), 21.5 mA (fail high) or
  0 mA (wire break), and the engineering ``level`` then reads the level those map to.
- Valve command: a 4-20 mA analog output, 4 mA closed, 20 mA open.
- Siemens S7 counts (S7-1200/1500 "Representation of analog values", 4 to 20 mA):
  0..27648 for 4..20 mA, overrange up to 32511 (22.81 mA), underrange down to -4864
  (1.185 mA); above 22.81 mA overflow = 32767 (7FFFh); below 1.185 mA the module
  reports a wire break, also 32767 (7FFFh). (S7-300/400 report -32768 (8000h) for
  underflow; this twin follows S7-1200/1500, and -32768 would in any case not fit the
  Modbus INT16 mirror, which reserves 0x8000 for "no value".)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from twin import _core
from twin.errors import CommandError

if TYPE_CHECKING:
    from twin.commands import Command

Floats = npt.NDArray[np.float64]

SPAN_MA = 16.0  # 4..20 mA
NOMINAL_COUNTS = 27648.0  # 20 mA
OVERRANGE_COUNTS = 32511.0  # 22.814 mA, highest valid value
UNDERRANGE_COUNTS = -4864.0  # 1.185 mA, lowest valid value (4-20 mA)
OVERFLOW = 32767.0  # 7FFFh: overflow, and wire break on S7-1200/1500 4-20 mA inputs
WIRE_BREAK = OVERFLOW
NE43_MIN_MA, NE43_MAX_MA = 3.8, 20.5  # a healthy transmitter's signal saturates here
FAIL_MA = {_core.FAIL_LOW: 3.5, _core.FAIL_HIGH: 21.5, _core.FAIL_WIRE_BREAK: 0.0}


def level_current(level: Floats, height: Floats, fail: Floats) -> Floats:
    """The transmitter's signal [mA] for the measured level and its failure state."""
    healthy = np.clip(4.0 + SPAN_MA * level / height, NE43_MIN_MA, NE43_MAX_MA)
    codes = list(FAIL_MA)
    failed = [fail == code for code in codes]
    result: Floats = np.select(failed, [FAIL_MA[code] for code in codes], healthy)
    return result


def input_counts(milliamps: Floats) -> Floats:
    """S7 analog input counts of a 4-20 mA signal, with overflow and wire-break codes."""
    counts = np.rint((milliamps - 4.0) * (NOMINAL_COUNTS / SPAN_MA))
    invalid = (counts > OVERRANGE_COUNTS) | (counts < UNDERRANGE_COUNTS)
    result: Floats = np.where(counts > OVERRANGE_COUNTS, OVERFLOW, counts)
    result[invalid & (counts < 0)] = WIRE_BREAK
    return result


def output_current(command: Floats) -> Floats:
    result: Floats = 4.0 + SPAN_MA * command
    return result


def output_counts(command: Floats) -> Floats:
    result: Floats = np.rint(command * NOMINAL_COUNTS)
    return result


class RawIo:
    """EngineExtension: the ``raw.*`` columns of every snapshot (read-only)."""

    prefix = "raw"

    def apply(self, command: Command) -> None:
        raise CommandError(command.target, "raw I/O values are read-only")

    def evaluate(
        self, state: dict[str, np.ndarray], params: dict[str, np.ndarray], sim_time: float
    ) -> dict[str, np.ndarray]:
        level_ma = level_current(state["level"], params["height"], params["level_fail"])
        command = state["valve_command"]
        return {
            "raw.level_current": level_ma,
            "raw.level_counts": input_counts(level_ma),
            "raw.valve_command_current": output_current(command),
            "raw.valve_command_counts": output_counts(command),
        }
