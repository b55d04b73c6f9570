"""Protocol data units of the Modbus Application Protocol (V1.1b3): function codes,
exception codes, request decoding with the specification's checks, and replies.

Checks follow the specification's state diagrams (section 6): function code
(01), then quantity and byte count (03), then the address range (02, checked
against the register map by the device), then execution (03 for a refused
value, 04 for an internal failure).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from twin.errors import TwinError
from twin.modbus.register_map import Table

_HEADER = struct.Struct(">HH")  # address, quantity (or value)
COIL_ON, COIL_OFF = 0xFF00, 0x0000


class FunctionCode(enum.IntEnum):
    READ_COILS = 0x01
    READ_DISCRETE_INPUTS = 0x02
    READ_HOLDING_REGISTERS = 0x03
    READ_INPUT_REGISTERS = 0x04
    WRITE_SINGLE_COIL = 0x05
    WRITE_SINGLE_REGISTER = 0x06
    WRITE_MULTIPLE_COILS = 0x0F
    WRITE_MULTIPLE_REGISTERS = 0x10
    READ_WRITE_MULTIPLE_REGISTERS = 0x17

    @property
    def writes(self) -> bool:
        return self not in _READS

    @property
    def metric_name(self) -> str:
        return self.name.lower()


_READS = frozenset({
    FunctionCode.READ_COILS,
    FunctionCode.READ_DISCRETE_INPUTS,
    FunctionCode.READ_HOLDING_REGISTERS,
    FunctionCode.READ_INPUT_REGISTERS,
})


class ExceptionCode(enum.IntEnum):
    ILLEGAL_FUNCTION = 0x01
    ILLEGAL_DATA_ADDRESS = 0x02
    ILLEGAL_DATA_VALUE = 0x03
    SERVER_DEVICE_FAILURE = 0x04
    GATEWAY_TARGET_FAILED = 0x0B  # gateway target device failed to respond

    @property
    def metric_name(self) -> str:
        return self.name.lower()


class ModbusError(TwinError):
    """A request answered with a Modbus exception (raised and caught in twin.modbus)."""

    def __init__(self, code: ExceptionCode, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"exception {code:02X}: {reason}")


# Largest quantities (Modbus Application Protocol 6.1-6.17).
MAX_READ_BITS = 2000
MAX_READ_REGISTERS = 125
MAX_WRITE_BITS = 1968
MAX_WRITE_REGISTERS = 123
MAX_READ_WRITE_WRITE = 121

_READ_TABLES = {
    FunctionCode.READ_COILS: (Table.COILS, MAX_READ_BITS),
    FunctionCode.READ_DISCRETE_INPUTS: (Table.DISCRETE_INPUTS, MAX_READ_BITS),
    FunctionCode.READ_HOLDING_REGISTERS: (Table.HOLDING_REGISTERS, MAX_READ_REGISTERS),
    FunctionCode.READ_INPUT_REGISTERS: (Table.INPUT_REGISTERS, MAX_READ_REGISTERS),
}


@dataclass(frozen=True, slots=True)
class Read:
    table: Table
    address: int
    count: int


@dataclass(frozen=True, slots=True)
class WriteBits:
    address: int
    values: tuple[bool, ...]


@dataclass(frozen=True, slots=True)
class WriteRegisters:
    address: int
    data: bytes  # 2 bytes per register, as received

    @property
    def count(self) -> int:
        return len(self.data) // 2


Request = Read | WriteBits | WriteRegisters | tuple[WriteRegisters, Read]


_FUNCTIONS = {int(f): f for f in FunctionCode}


def function_of(code: int) -> FunctionCode:
    function = _FUNCTIONS.get(code)
    if function is None:
        raise ModbusError(ExceptionCode.ILLEGAL_FUNCTION, f"function {code} unsupported")
    return function


def decode_request(function: FunctionCode, data: bytes) -> Request:
    """The request in ``data`` (the PDU after its function code), checked for 03."""
    if function in _READ_TABLES:
        table, most = _READ_TABLES[function]
        address, count = _fixed(data)
        _check_count(count, most)
        return Read(table, address, count)
    if function is FunctionCode.WRITE_SINGLE_COIL:
        address, value = _fixed(data)
        if value not in (COIL_ON, COIL_OFF):
            raise ModbusError(ExceptionCode.ILLEGAL_DATA_VALUE, f"coil value {value:#06x}")
        return WriteBits(address, (value == COIL_ON,))
    if function is FunctionCode.WRITE_SINGLE_REGISTER:
        address, _ = _fixed(data)
        return WriteRegisters(address, bytes(data[2:4]))
    if function is FunctionCode.WRITE_MULTIPLE_COILS:
        address, count, packed = _multiple(data, MAX_WRITE_BITS, bits=True)
        return WriteBits(address, unpack_bits(packed, count))
    if function is FunctionCode.WRITE_MULTIPLE_REGISTERS:
        address, count, payload = _multiple(data, MAX_WRITE_REGISTERS, bits=False)
        return WriteRegisters(address, payload)
    return _read_write(data)


def _fixed(data: bytes) -> tuple[int, int]:
    if len(data) != 4:
        raise ModbusError(ExceptionCode.ILLEGAL_DATA_VALUE, f"{len(data) + 1}-byte PDU, need 5")
    address, value = _HEADER.unpack(data)
    return int(address), int(value)


def _check_count(count: int, most: int) -> None:
    if not 1 <= count <= most:
        raise ModbusError(ExceptionCode.ILLEGAL_DATA_VALUE, f"quantity {count}, allowed 1..{most}")


def _multiple(data: bytes, most: int, bits: bool) -> tuple[int, int, bytes]:
    """address, quantity, payload of FC15 (``bits``) or FC16."""
    if len(data) < 5:
        raise ModbusError(ExceptionCode.ILLEGAL_DATA_VALUE, "truncated request")
    address, count = _HEADER.unpack_from(data)
    _check_count(count, most)
    expected = (count + 7) // 8 if bits else 2 * count
    byte_count = data[4]
    if byte_count != expected or len(data) != 5 + byte_count:
        raise ModbusError(
            ExceptionCode.ILLEGAL_DATA_VALUE,
            f"byte count {byte_count} with {len(data) - 5} data bytes, quantity {count} "
            f"needs {expected}",
        )
    return int(address), int(count), bytes(data[5:])


def _read_write(data: bytes) -> tuple[WriteRegisters, Read]:
    if len(data) < 9:
        raise ModbusError(ExceptionCode.ILLEGAL_DATA_VALUE, "truncated request")
    read_address, read_count, write_address, write_count = struct.unpack_from(">HHHH", data)
    _check_count(read_count, MAX_READ_REGISTERS)
    _check_count(write_count, MAX_READ_WRITE_WRITE)
    byte_count = data[8]
    if byte_count != 2 * write_count or len(data) != 9 + byte_count:
        raise ModbusError(ExceptionCode.ILLEGAL_DATA_VALUE, "byte count mismatch")
    write = WriteRegisters(write_address, bytes(data[9:]))
    return write, Read(Table.HOLDING_REGISTERS, read_address, read_count)


def unpack_bits(packed: bytes, count: int) -> tuple[bool, ...]:
    """Bits LSB first in each byte (Modbus Application Protocol 6.11)."""
    return tuple(bool(packed[i >> 3] >> (i & 7) & 1) for i in range(count))


def pack_bits(values: list[bool]) -> bytes:
    out = bytearray((len(values) + 7) // 8)
    for i, value in enumerate(values):
        if value:
            out[i >> 3] |= 1 << (i & 7)
    return bytes(out)


def read_reply(function: int, payload: bytes) -> bytes:
    return bytes((function, len(payload))) + payload


def write_reply(function: int, address: int, quantity: int) -> bytes:
    return bytes((function,)) + _HEADER.pack(address, quantity)


def exception_reply(function: int, code: ExceptionCode) -> bytes:
    """The function code with its high bit set, then the exception code."""
    return bytes(((function | 0x80) & 0xFF, code))
