"""Modbus over serial line (V1.02), RTU mode: frames on a serial device (a pty in tests).

A frame is the unit id, the PDU and a CRC-16 (pymodbus's implementation). Frames
of the functions the twin serves are cut by their length; anything else ends at
the 3.5-character silence the specification defines. A frame with a bad CRC is
dropped, as the specification requires. A serial slave never answers for
another unit id (it may be another device on the bus), and broadcasts (unit id
0) are ignored.
"""

from __future__ import annotations

import asyncio
import os
import termios
import tty

import structlog
from pymodbus.framer.rtu import FramerRTU

from twin.commands import Source
from twin.modbus.config import ModbusConfig
from twin.modbus.mbap import Handler
from twin.tags import Role

log = structlog.get_logger(__name__)

BROADCAST = 0
BITS_PER_CHARACTER = 11  # start, 8 data, parity (or a second stop bit), stop
FIXED_LENGTH = {1: 8, 2: 8, 3: 8, 4: 8, 5: 8, 6: 8}  # unit, function, 4 bytes, CRC
BYTE_COUNT_AT = {15: 6, 16: 6, 23: 10}  # where the byte count is; frame = that + 1 + n + 2
MAX_FRAME = 256
_PARITY = {"none": 0, "even": termios.PARENB, "odd": termios.PARENB | termios.PARODD}


def crc(frame: bytes) -> bytes:
    """CRC-16/MODBUS, low byte first as sent on the line."""
    return int(FramerRTU.compute_CRC(frame)).to_bytes(2, "big")


def frame_length(buffer: bytes | bytearray) -> int | None:
    """The length of the frame at the start of ``buffer``; None: unknown (wait for silence)."""
    if len(buffer) < 2:
        return None
    function = buffer[1]
    if function in FIXED_LENGTH:
        return FIXED_LENGTH[function]
    at = BYTE_COUNT_AT.get(function)
    if at is None or len(buffer) <= at:
        return None
    return at + 1 + buffer[at] + 2


def silence(baudrate: int) -> float:
    """t3.5 in seconds; fixed at 1.75 ms above 19,200 bit/s (Modbus serial line 2.5.1.1)."""
    return 0.00175 if baudrate > 19200 else 3.5 * BITS_PER_CHARACTER / baudrate


class RtuLink:
    def __init__(self, config: ModbusConfig, handler: Handler, role: Role) -> None:
        self._config = config
        self._handler = handler
        self._source = Source("modbus", f"rtu:{config.rtu_device}", "modbus", role)
        self._fd: int | None = None
        self._buffer = bytearray()
        self._gap = silence(config.rtu_baudrate)
        self._timer: asyncio.TimerHandle | None = None

    async def open(self) -> None:
        fd = os.open(self._config.rtu_device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            _configure(fd, self._config)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        asyncio.get_running_loop().add_reader(fd, self._readable)
        log.info("modbus_rtu_open", device=self._config.rtu_device,
                 baudrate=self._config.rtu_baudrate, parity=self._config.rtu_parity)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._fd is not None:
            asyncio.get_running_loop().remove_reader(self._fd)
            os.close(self._fd)
            self._fd = None

    def _readable(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # the other end went away (e.g. a closed pty): keep listening
            log.debug("modbus_rtu_read_failed", reason=str(exc))
            return
        self._buffer += data
        del self._buffer[:-MAX_FRAME * 4]  # a noisy line cannot grow the buffer
        self._cut_frames()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(self._gap, self._silence)

    def _cut_frames(self) -> None:
        buffer = self._buffer
        while (length := frame_length(buffer)) is not None and len(buffer) >= length:
            if length <= MAX_FRAME and _valid(bytes(buffer[:length])):
                self._serve(bytes(buffer[:length]))
                del buffer[:length]
            else:
                del buffer[:1]  # not a frame here: hunt for the next one

    def _silence(self) -> None:
        """t3.5 without a character: what is buffered holds frames (or only noise)."""
        self._timer = None
        data, self._buffer = bytes(self._buffer), bytearray()
        start = 0
        while start <= len(data) - 4:
            rest = data[start:]
            length = frame_length(rest)
            if length is not None and length <= len(rest) and _valid(rest[:length]):
                self._serve(rest[:length])
                start += length
            elif length is None and _valid(rest):  # a function the twin does not serve
                self._serve(rest)
                return
            else:
                start += 1  # noise before a frame: hunt

    def _serve(self, frame: bytes) -> None:
        unit_id, pdu = frame[0], frame[1:-2]
        if unit_id == BROADCAST:
            return
        reply = self._handler.handle(unit_id, pdu, self._source, gateway=False)
        if reply is None or self._fd is None:
            return
        message = bytes((unit_id,)) + reply
        try:
            os.write(self._fd, message + crc(message))
        except OSError as exc:
            log.warning("modbus_rtu_write_failed", reason=str(exc))


def _valid(frame: bytes) -> bool:
    return len(frame) >= 4 and crc(frame[:-2]) == frame[-2:]


def _configure(fd: int, config: ModbusConfig) -> None:
    """Raw 8-bit characters at the configured speed, parity and stop bits."""
    tty.setraw(fd)
    attrs = termios.tcgetattr(fd)
    speed = getattr(termios, f"B{config.rtu_baudrate}", None)
    if speed is None:
        raise OSError(f"{config.rtu_device}: unsupported baud rate {config.rtu_baudrate}")
    cflag = termios.CS8 | termios.CREAD | termios.CLOCAL | _PARITY[config.rtu_parity]
    if config.rtu_stopbits == 2:
        cflag |= termios.CSTOPB
    attrs[2] = cflag
    attrs[4] = attrs[5] = speed
    attrs[6][termios.VMIN] = 0
    attrs[6][termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
