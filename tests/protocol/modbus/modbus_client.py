"""Modbus TCP by hand for the tests: exact frames, register helpers."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Any

from twin.app import Twin

MBAP = struct.Struct(">HHHB")


class RawClient:
    """Modbus TCP by hand: exact frames in, exact frames out."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._tid = 0

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    def frame(self, pdu: bytes, unit: int = 1, tid: int | None = None) -> bytes:
        if tid is None:
            self._tid = (self._tid + 1) & 0xFFFF
            tid = self._tid
        return MBAP.pack(tid, 0, len(pdu) + 1, unit) + pdu

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def receive(self, timeout: float = 2.0) -> tuple[int, int, bytes]:
        """(transaction id, unit id, PDU) of the next reply."""
        header = await asyncio.wait_for(self.reader.readexactly(MBAP.size), timeout)
        tid, protocol, length, unit = MBAP.unpack(header)
        assert protocol == 0
        pdu = await asyncio.wait_for(self.reader.readexactly(length - 1), timeout)
        return tid, unit, pdu

    async def request(self, pdu: bytes, unit: int = 1) -> bytes:
        frame = self.frame(pdu, unit)
        await self.send(frame)
        tid, reply_unit, reply = await self.receive()
        assert (tid, reply_unit) == (self._tid, unit)
        return reply

    async def closed(self, timeout: float = 2.0) -> bool:
        """True when the server has closed the connection (EOF or reset)."""
        try:
            data = await asyncio.wait_for(self.reader.read(1), timeout)
        except ConnectionError:
            return True
        return data == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def read_pdu(function: int, address: int, count: int) -> bytes:
    return struct.pack(">BHH", function, address, count)


def write_registers_pdu(address: int, data: bytes, count: int | None = None) -> bytes:
    count = len(data) // 2 if count is None else count
    return struct.pack(">BHHB", 16, address, count, len(data)) + data


def float_words(value: float, order: str = "ABCD") -> bytes:
    data = struct.pack(">f", value)
    return data if order == "ABCD" else data[2:] + data[:2]


def words_float(data: bytes, order: str = "ABCD") -> float:
    if order == "CDAB":
        data = data[2:] + data[:2]
    return float(struct.unpack(">f", data)[0])


def offset(twin: Twin, table: Any, name: str, encoding: Any = None) -> int:
    """The offset of tag ``name`` in a tank's block of ``table`` (float32 unless told)."""
    from twin.modbus.encoding import Encoding

    wanted = encoding or (Encoding.BIT if table.bits else None)
    for slot in twin.modbus.map.tank_blocks[table].slots:
        if slot.tag.name == name and (wanted is None or slot.encoding is wanted):
            if wanted is None and slot.encoding not in (Encoding.FLOAT32, Encoding.UINT16):
                continue
            return slot.offset
    raise KeyError(name)
