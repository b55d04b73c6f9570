"""How one value becomes registers: float32 (two words, ABCD or CDAB), scaled INT16,
uint16 enumeration codes, uint64 counters (four words) and bits.

Word order applies to every multi-register value: ABCD sends the most significant
word first (Modbus's own big-endian rule extended to 32 bits, libmodbus's
``modbus_get_float_abcd``); CDAB sends the least significant word first (many
PLCs; for uint64 the four words are reversed). Bytes within a word are always
big-endian, as the Modbus Application Protocol (section 4.2) prescribes.
"""

from __future__ import annotations

import enum
import math
import struct
from dataclasses import dataclass
from functools import lru_cache

INT16_MAX = 32767  # the mirror's largest magnitude; -32768 (0x8000) means "no value"
INT16_NO_VALUE = -32768
MIN_EXPONENT, MAX_EXPONENT = -9, 9
UNBOUNDED_HEADROOM = 10.0  # a range-less tag's mirror spans +-10 x its configured value...
UNBOUNDED_FLOOR = 10.0  # ...and at least +-10 units

_F32 = struct.Struct(">f")
_U64 = struct.Struct(">Q")


class Encoding(enum.Enum):
    """A register encoding: its name in the register map and its width."""

    FLOAT32 = ("float32", 2)
    INT16 = ("int16", 1)  # a scaled mirror of an analog value
    UINT16 = ("uint16", 1)  # an enumeration's code
    UINT64 = ("uint64", 4)  # a counter
    BIT = ("bool", 1)  # a coil or a discrete input

    def __init__(self, label: str, width: int) -> None:
        self.label = label
        self.width = width  # registers (or bits, for BIT)


@dataclass(frozen=True, slots=True)
class Scaling:
    """A scaled INT16: ``value = raw * 10**exponent`` (offset 0), saturating at +-32767."""

    exponent: int

    @property
    def scale(self) -> float:
        return 10.0**self.exponent

    @property
    def offset(self) -> float:
        return 0.0

    def to_raw(self, value: float) -> int:
        if not math.isfinite(value):
            return INT16_NO_VALUE if math.isnan(value) else _saturate(value)
        if self.exponent <= 0:
            raw = round(value * 10**-self.exponent)
        else:
            raw = round(value / 10**self.exponent)
        return int(max(-INT16_MAX, min(INT16_MAX, raw)))

    def from_raw(self, raw: int) -> float:
        if self.exponent <= 0:
            return float(raw / 10**-self.exponent)  # correctly rounded: 2700 -> 2.7
        return float(raw * 10**self.exponent)


def _saturate(value: float) -> int:
    return INT16_MAX if value > 0 else -INT16_MAX


@lru_cache(maxsize=4096)
def scaling_for(low: float | None, high: float | None, reference: float | None) -> Scaling:
    """The decimal scaling of a tag's INT16 mirror (docs/modbus.md, "Scaled INT16").

    The smallest power of ten whose 32767 steps cover the tag's range for this tank.
    A tag without a finite range covers +-10 x its configured value (at least +-10);
    one without a configured value either (``sim_time``) counts whole units.
    """
    if low is not None and high is not None:
        magnitude = max(abs(low), abs(high))
    elif reference is not None:
        magnitude = max(UNBOUNDED_HEADROOM * abs(reference), UNBOUNDED_FLOOR)
    else:
        return Scaling(0)
    for exponent in range(MIN_EXPONENT, MAX_EXPONENT + 1):
        span = INT16_MAX / 10**-exponent if exponent < 0 else INT16_MAX * 10**exponent
        if magnitude <= span:
            return Scaling(exponent)
    return Scaling(MAX_EXPONENT)


def swap_words(data: bytes) -> bytes:
    """Reverse the order of the 16-bit words of one value (ABCD <-> CDAB)."""
    return b"".join(data[i : i + 2] for i in range(len(data) - 2, -1, -2))


def encode_float32(value: float, cdab: bool) -> bytes:
    try:
        data = _F32.pack(value)
    except OverflowError:  # finite but beyond float32: saturate to +-inf as IEEE 754 does
        data = _F32.pack(math.copysign(math.inf, value))
    return data[2:] + data[:2] if cdab else data


def decode_float32(data: bytes, cdab: bool) -> float:
    """The float a client wrote, as the shortest decimal that round-trips in float32.

    A client writing 2.7 sends float32(2.7) = 2.70000005; the twin stores 2.7, and
    reads it back as the same float32.
    """
    if cdab:
        data = data[2:] + data[:2]
    value = _F32.unpack(data)[0]
    if not math.isfinite(value):
        return float(value)
    return float(_shortest_float32(value))


def _shortest_float32(value: float) -> str:
    for digits in range(1, 10):
        text = f"{value:.{digits}g}"
        if _F32.pack(float(text)) == _F32.pack(value):
            return text
    return repr(value)


def encode_uint64(value: int, cdab: bool) -> bytes:
    data = _U64.pack(max(0, min(value, 2**64 - 1)))
    return swap_words(data) if cdab else data


def encode_int16(raw: int) -> bytes:
    return raw.to_bytes(2, "big", signed=True)


def encode_uint16(code: int) -> bytes:
    return max(0, min(code, 0xFFFF)).to_bytes(2, "big")
