"""Modbus RTU on a serial device: a pty pair stands in for the line."""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from protocol.modbus.modbus_client import float_words, offset, read_pdu

from twin.app import Twin
from twin.modbus.register_map import Table
from twin.modbus.rtu import crc, frame_length, silence

HR = Table.HOLDING_REGISTERS


def adu(unit: int, pdu: bytes) -> bytes:
    body = bytes([unit]) + pdu
    return body + crc(body)


class Line:
    """The master's end of the pty."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        os.set_blocking(fd, False)

    async def exchange(self, data: bytes, timeout: float = 0.5) -> bytes:
        os.write(self.fd, data)
        return await self.receive(timeout)

    async def receive(self, timeout: float) -> bytes:
        """Everything the slave sends until ``timeout`` passes without a byte."""
        received = b""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            try:
                chunk = os.read(self.fd, 512)
            except BlockingIOError:
                await asyncio.sleep(0.005)
                continue
            received += chunk
            deadline = loop.time() + 0.05
        return received


@asynccontextmanager
async def rtu_twin(make_twin, **modbus: object) -> AsyncIterator[tuple[Twin, Line]]:
    master, slave = os.openpty()
    try:
        section = {"enabled": False, "rtu": True, "rtu_device": os.ttyname(slave), **modbus}
        async with make_twin(modbus=section) as twin:
            yield twin, Line(master)
    finally:
        os.close(master)
        os.close(slave)


async def test_rtu_reads_and_writes(make_twin) -> None:
    async with rtu_twin(make_twin) as (twin, line):
        setpoint = offset(twin, HR, "setpoint")
        reply = await line.exchange(adu(1, read_pdu(3, setpoint, 2)))
        assert reply == adu(1, b"\x03\x04" + float_words(2.5))
        write = struct.pack(">BHHB", 16, setpoint, 2, 4) + float_words(4.0)
        assert await line.exchange(adu(1, write)) == adu(1, write[:5])
        assert await line.exchange(adu(1, read_pdu(3, setpoint, 0))) == adu(1, b"\x83\x03")
        await twin.engine.wait_scans(2)
        assert twin.plant.setpoint[0] == 4.0


async def test_rtu_drops_bad_crcs_noise_other_units_and_broadcasts(make_twin) -> None:
    async with rtu_twin(make_twin) as (twin, line):
        good = adu(1, read_pdu(4, 0, 2))
        assert await line.exchange(good[:-1] + bytes([good[-1] ^ 0xFF])) == b""
        assert (await line.exchange(b"\x07\xff" + good))[:3] == b"\x01\x04\x04"  # hunts
        assert await line.exchange(adu(9, read_pdu(4, 0, 2))) == b""  # another slave's
        broadcast = struct.pack(">BHHB", 16, 0, 2, 4) + float_words(1.0)
        assert await line.exchange(adu(0, broadcast)) == b""
        assert await line.exchange(adu(1, bytes([0x2B, 0x0E, 0x01, 0x00]))) == adu(1, b"\xab\x01")
        await twin.engine.wait_scans(2)
        assert twin.plant.setpoint[0] == 2.5
        assert twin.registry.get_sample_value("twin_modbus_connections") == 0


def test_rtu_frame_lengths_and_silence() -> None:
    assert frame_length(adu(1, read_pdu(3, 0, 1))) == 8
    write = adu(1, struct.pack(">BHHB", 16, 0, 2, 4) + bytes(4))
    assert frame_length(write) == len(write) == 13
    assert frame_length(b"\x01\x10\x00") is None and frame_length(b"\x01\x2b\x0e") is None
    assert silence(9600) == 3.5 * 11 / 9600 and silence(115200) == 0.00175
