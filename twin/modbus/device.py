"""The Modbus device: answers one request PDU from the register map and the engine.

Reads return what the engine says a client should read (``Engine.current``: a
queued write's value, else the latest snapshot's), so an accepted write reads
back at once. While no write is pending, and always for the read-only tables,
that is the snapshot, served from per-snapshot register images
(twin.modbus.image); otherwise value by value. Writes go through the engine's one
validated write path; a request that writes several tags is validated as a
whole first and then submitted, so a refused request changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import structlog

from twin.commands import CommandValidator, Source
from twin.error_report import ErrorReporter
from twin.errors import (
    AccessDeniedError,
    CommandError,
    InvalidStateError,
    NotWritableError,
    OutOfRangeError,
    TypeMismatchError,
    UnknownTagError,
)
from twin.modbus import encoding as enc
from twin.modbus.image import ImageCache
from twin.modbus.pdu import (
    ExceptionCode,
    FunctionCode,
    ModbusError,
    Read,
    WriteBits,
    WriteRegisters,
    decode_request,
    exception_reply,
    function_of,
    pack_bits,
    read_reply,
    write_reply,
)
from twin.modbus.register_map import Block, RegisterMap, Slot, Table, Target
from twin.snapshot import Snapshot
from twin.tags import Tag

log = structlog.get_logger(__name__)

Write = tuple[Tag, "int | None", Any]  # tag, tank (None: simulation), value

# CommandError subclass -> Modbus exception (docs/modbus.md, "Exception codes").
_REFUSALS: dict[type[CommandError], ExceptionCode] = {
    OutOfRangeError: ExceptionCode.ILLEGAL_DATA_VALUE,
    TypeMismatchError: ExceptionCode.ILLEGAL_DATA_VALUE,
    InvalidStateError: ExceptionCode.ILLEGAL_DATA_VALUE,
    NotWritableError: ExceptionCode.ILLEGAL_DATA_ADDRESS,
    AccessDeniedError: ExceptionCode.ILLEGAL_DATA_ADDRESS,
    UnknownTagError: ExceptionCode.ILLEGAL_DATA_ADDRESS,
}


_READ_ONLY_TABLES = (Table.INPUT_REGISTERS, Table.DISCRETE_INPUTS)  # never a pending write


def exception_for(error: CommandError) -> ExceptionCode:
    """The exception code answering a refused write (03 for a refusal not listed)."""
    for cls in type(error).__mro__:
        if cls in _REFUSALS:
            return _REFUSALS[cls]
    return ExceptionCode.ILLEGAL_DATA_VALUE


class EngineAccess(Protocol):
    """What the device needs of the engine (twin.engine.Engine)."""

    validator: CommandValidator
    snapshot: Snapshot

    @property
    def writes_pending(self) -> bool: ...
    def current(self, tag: Tag, tank: int | None) -> Any: ...
    def submit(self, name: str, tank: int | None, value: Any, source: Source) -> Any: ...


class RequestObserver(Protocol):
    """What the device reports per request (implemented by twin.metrics.ModbusMetrics)."""

    def request(self, function: str, result: str) -> None: ...


class ModbusDevice:
    def __init__(
        self,
        register_map: RegisterMap,
        engine: EngineAccess,
        observer: RequestObserver,
        errors: ErrorReporter,
    ) -> None:
        self.map = register_map
        self.engine = engine
        self._observer = observer
        self._errors = errors
        self._read_only = register_map.config.read_only
        self._answer_unknown = register_map.config.unknown_unit == "exception"
        self._cdab = register_map.cdab
        self._images = ImageCache(register_map)

    def handle(
        self, unit_id: int, pdu: bytes, source: Source, gateway: bool = True
    ) -> bytes | None:
        """The reply PDU to ``pdu`` addressed to ``unit_id``; None: send no reply.

        ``gateway``: answer an unknown unit id as a gateway does (TCP), if configured
        to; a serial slave never does.
        """
        code = pdu[0]
        function = _metric_name(code)
        target = self.map.target(unit_id)
        if target is None:
            self._observer.request(function, "unknown_unit")
            log.debug("modbus_unknown_unit", unit_id=unit_id, client=source.client)
            if not (gateway and self._answer_unknown):
                return None
            return exception_reply(code, ExceptionCode.GATEWAY_TARGET_FAILED)
        try:
            reply = self._execute(function_of(code), pdu, target, source)
        except ModbusError as exc:
            self._observer.request(function, exc.code.metric_name)
            log.debug("modbus_exception", code=int(exc.code), reason=exc.reason, unit_id=unit_id,
                      function=code, client=source.client)
            return exception_reply(code, exc.code)
        except Exception as exc:
            self._errors.internal(exc, protocol="modbus", client=source.client,
                                  unit_id=unit_id, function=code)
            self._observer.request(function, ExceptionCode.SERVER_DEVICE_FAILURE.metric_name)
            return exception_reply(code, ExceptionCode.SERVER_DEVICE_FAILURE)
        self._observer.request(function, "ok")
        return reply

    def _execute(self, function: FunctionCode, pdu: bytes, target: Target, source: Source) -> bytes:
        if function.writes and self._read_only:
            raise ModbusError(ExceptionCode.ILLEGAL_FUNCTION, "writes are disabled (read_only)")
        request = decode_request(function, pdu[1:])
        if isinstance(request, Read):
            return read_reply(function, self._read(target, request))
        if isinstance(request, WriteBits):
            self._apply(self._bit_writes(target, request), source)
        elif isinstance(request, WriteRegisters):
            self._apply(self._register_writes(target, request), source)
        else:
            write, read = request
            self._apply(self._register_writes(target, write), source)
            return read_reply(function, self._read(target, read))
        if function in (FunctionCode.WRITE_SINGLE_COIL, FunctionCode.WRITE_SINGLE_REGISTER):
            return bytes(pdu)  # the reply echoes the request
        count = len(request.values) if isinstance(request, WriteBits) else request.count
        return write_reply(function, request.address, count)

    # -- reads ------------------------------------------------------------------
    def _check_range(self, target: Target, table: Table, address: int, count: int) -> None:
        size = self.map.size(target, table)
        if address + count > size:
            last = address + count - 1
            raise ModbusError(
                ExceptionCode.ILLEGAL_DATA_ADDRESS,
                f"{table.label} {address}..{last} outside the map (0..{size - 1})",
            )

    def _read(self, target: Target, request: Read) -> bytes:
        table = request.table
        self._check_range(target, table, request.address, request.count)
        pieces = self.map.segments(target, table, request.address, request.count)
        from_image = not target.simulation and (
            table in _READ_ONLY_TABLES or not self.engine.writes_pending)
        if from_image:
            snapshot = self.engine.snapshot
            rows = [(self._images.row(snapshot, table, tank), low, high)
                    for tank, _, low, high in pieces]
            if table.bits:
                return pack_bits([bool(bit) for row, low, high in rows for bit in row[low:high]])
            return b"".join(row[low:high].tobytes() for row, low, high in rows)
        if table.bits:
            current = self.engine.current
            return pack_bits([bool(current(slot.tag, tank))
                              for tank, block, low, high in pieces
                              for slot in block.slots[low:high]])
        return b"".join(self._registers(tank, block, low, high)
                        for tank, block, low, high in pieces)

    def _registers(self, tank: int | None, block: Block, low: int, high: int) -> bytes:
        """Registers [low, high) of a block, encoded value by value from ``Engine.current``."""
        slots = block.covering(low, high)
        values: dict[str, Any] = {}  # a float32 and its INT16 mirror read one value
        current = self.engine.current
        parts = []
        for slot in slots:
            name = slot.tag.name
            value = values.get(name)
            if value is None:
                value = values[name] = current(slot.tag, tank)
            parts.append(self._encode(slot, tank, value))
        start = slots[0].offset
        return b"".join(parts)[2 * (low - start): 2 * (high - start)]

    def _encode(self, slot: Slot, tank: int | None, value: Any) -> bytes:
        encoding = slot.encoding
        if encoding is enc.Encoding.FLOAT32:
            return enc.encode_float32(value, self._cdab)
        if encoding is enc.Encoding.INT16:
            return enc.encode_int16(self.map.scaling(slot.tag, tank).to_raw(value))
        if encoding is enc.Encoding.UINT16:
            return enc.encode_uint16(int(value))
        return enc.encode_uint64(int(value), self._cdab)

    # -- writes -----------------------------------------------------------------
    def _bit_writes(self, target: Target, request: WriteBits) -> list[Write]:
        count = len(request.values)
        self._check_range(target, Table.COILS, request.address, count)
        values = iter(request.values)
        return [(slot.tag, tank, next(values))
                for tank, block, low, high in self.map.segments(
                    target, Table.COILS, request.address, count)
                for slot in block.slots[low:high]]

    def _register_writes(self, target: Target, request: WriteRegisters) -> list[Write]:
        self._check_range(target, Table.HOLDING_REGISTERS, request.address, request.count)
        writes: list[Write] = []
        data, pos = request.data, 0
        segments = self.map.segments(target, Table.HOLDING_REGISTERS, request.address,
                                     request.count)
        for tank, block, low, high in segments:
            slots = block.covering(low, high)
            if slots[0].offset != low or slots[-1].end != high:
                split = slots[0] if slots[0].offset != low else slots[-1]
                raise ModbusError(ExceptionCode.ILLEGAL_DATA_VALUE,
                                  f"writes part of {split.tag.name}'s {split.encoding.label}")
            for slot in slots:
                width = 2 * slot.encoding.width
                writes.append((slot.tag, tank, self._decode(slot, tank, data[pos:pos + width])))
                pos += width
        return writes

    def _decode(self, slot: Slot, tank: int | None, raw: bytes) -> float | int:
        encoding = slot.encoding
        if encoding is enc.Encoding.FLOAT32:
            return enc.decode_float32(raw, self._cdab)
        if encoding is enc.Encoding.UINT16:
            return int.from_bytes(raw, "big")
        if encoding is enc.Encoding.UINT64:  # a counter (step_request)
            return int.from_bytes(enc.swap_words(raw) if self._cdab else raw, "big")
        value = int.from_bytes(raw, "big", signed=True)
        if encoding is not enc.Encoding.INT16 or value == enc.INT16_NO_VALUE:
            raise ModbusError(ExceptionCode.ILLEGAL_DATA_VALUE, f"{slot.tag.name}: not a value")
        return self.map.scaling(slot.tag, tank).from_raw(value)

    def _apply(self, writes: list[Write], source: Source) -> None:
        """Submit every write, or none: a multi-tag request is validated as a whole first."""
        if len(writes) > 1:
            self._validate_all(writes, source)
        for tag, tank, value in writes:
            try:
                self.engine.submit(tag.name, tank, value, source)
            except CommandError as exc:
                if len(writes) > 1:
                    raise  # validated a moment ago: an internal inconsistency (04)
                raise ModbusError(exception_for(exc), str(exc)) from None

    def _validate_all(self, writes: list[Write], source: Source) -> None:
        staged: dict[tuple[str, int | None], Any] = {}
        current = _staged_current(staged, self.engine.current)
        for tag, tank, value in writes:
            try:
                command = self.engine.validator.validate(tag.name, tank, value, source, current)
            except CommandError as exc:
                log.warning("modbus_write_rejected", source=source.describe(), target=exc.target,
                            value=value, reason=exc.reason, error=type(exc).__name__,
                            writes=len(writes))
                raise ModbusError(exception_for(exc), str(exc)) from None
            staged[(tag.name, tank)] = command.value


def _staged_current(
    staged: dict[tuple[str, int | None], Any], current: Callable[[Tag, int | None], Any]
) -> Callable[[Tag, int | None], Any]:
    """``current`` as it will be once the earlier writes of the same request are queued."""

    def value(tag: Tag, tank: int | None) -> Any:
        key = (tag.name, tank)
        return staged[key] if key in staged else current(tag, tank)

    return value


_METRIC_NAMES = {int(f): f.metric_name for f in FunctionCode}


def _metric_name(code: int) -> str:
    return _METRIC_NAMES.get(code, "unsupported")
