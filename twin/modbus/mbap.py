"""Modbus Messaging on TCP/IP (Implementation Guide V1.0b): the MBAP header and one
client connection.

A connection answers its requests in the order they arrive, pipelined or not.
Requests are served synchronously from the snapshot, at most ``BATCH`` per turn
of the event loop, so a client flooding the socket cannot starve the engine or
the other clients; while its replies pile up unread the connection stops
reading (TCP flow control pushes back on that client alone). A frame whose
header cannot be valid (protocol id not 0, length outside 2..254) cannot be
resynchronised on a byte stream: the connection is closed.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from typing import Protocol

import structlog

from twin.commands import Source

log = structlog.get_logger(__name__)

MBAP = struct.Struct(">HHHB")  # transaction id, protocol id, length, unit id
MBAP_SIZE = MBAP.size  # 7 bytes
MIN_LENGTH, MAX_LENGTH = 2, 254  # unit id + PDU of 1..253 bytes
BATCH = 64  # requests served per event-loop turn before yielding
WRITE_HIGH_WATER = 64 * 1024  # bytes of unsent replies before reading pauses
KEEPALIVE = {"TCP_KEEPIDLE": 30, "TCP_KEEPINTVL": 10, "TCP_KEEPCNT": 3}  # s, s, probes


class Handler(Protocol):
    def handle(
        self, unit_id: int, pdu: bytes, source: Source, gateway: bool = True
    ) -> bytes | None: ...


class ConnectionOwner(Protocol):
    """The server's side of a connection: admission, accounting and the device."""

    @property
    def handler(self) -> Handler: ...
    def admit(self, connection: MbapConnection) -> bool: ...
    def release(self, connection: MbapConnection) -> None: ...
    def malformed(self) -> None: ...
    def source_for(self, peer: str, transport: asyncio.BaseTransport) -> Source | None: ...


def encode_frame(transaction: int, unit_id: int, pdu: bytes) -> bytes:
    return MBAP.pack(transaction, 0, len(pdu) + 1, unit_id) + pdu


class MbapConnection(asyncio.Protocol):
    def __init__(self, owner: ConnectionOwner, idle_timeout: float) -> None:
        self._owner = owner
        self._idle_timeout = idle_timeout
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._source = Source("modbus")
        self._paused_by_writes = False
        self._draining = False
        self._loop = asyncio.get_running_loop()  # factories run inside the server's loop
        self._last_activity = 0.0
        self._idle_timer: asyncio.TimerHandle | None = None
        self.peer = "-"

    # -- asyncio.Protocol -------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        if not self._owner.admit(self):
            transport.abort()
            return
        source = self._owner.source_for(self.peer, transport)
        if source is None:  # e.g. a TLS client without an acceptable certificate role
            transport.abort()
            return
        self._source = source
        self._last_activity = self._loop.time()
        _tune_socket(transport)
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self._arm_idle_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        self._owner.release(self)
        self._transport = None
        self._buffer.clear()

    def data_received(self, data: bytes) -> None:
        self._last_activity = self._loop.time()
        self._buffer += data
        self._serve()

    def pause_writing(self) -> None:
        self._paused_by_writes = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._paused_by_writes = False
        self._update_reading()
        self._serve()

    # -- serving ----------------------------------------------------------------
    def _serve(self) -> None:
        transport = self._transport
        if transport is None or self._paused_by_writes:
            return
        replies, buffer, served = [], self._buffer, 0
        malformed = False
        while len(buffer) >= MBAP_SIZE and served < BATCH:
            transaction, protocol, length, unit_id = MBAP.unpack_from(buffer)
            if protocol != 0 or not MIN_LENGTH <= length <= MAX_LENGTH:
                malformed = True
                break
            end = 6 + length
            if len(buffer) < end:
                break
            pdu = bytes(buffer[MBAP_SIZE:end])
            del buffer[:end]
            served += 1
            reply = self._owner.handler.handle(unit_id, pdu, self._source)
            if reply is not None:
                replies.append(encode_frame(transaction, unit_id, reply))
        if replies:
            transport.write(b"".join(replies))
        if malformed:
            self._reject(transaction, protocol, length)
            return
        self._draining = served >= BATCH and len(buffer) >= MBAP_SIZE
        self._update_reading()
        if self._draining:
            self._loop.call_soon(self._serve)

    def _update_reading(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if self._paused_by_writes or self._draining:
            if transport.is_reading():
                transport.pause_reading()
        elif not transport.is_reading():
            transport.resume_reading()

    def _reject(self, transaction: int, protocol: int, length: int) -> None:
        self._owner.malformed()
        log.warning("modbus_malformed_frame", client=self.peer, transaction=transaction,
                    protocol_id=protocol, length=length)
        self._buffer.clear()
        if self._transport is not None:
            self._transport.close()  # after the replies to the frames before it

    # -- idle connections -------------------------------------------------------
    def _arm_idle_timer(self) -> None:
        if self._idle_timeout <= 0:
            return
        due = self._last_activity + self._idle_timeout
        self._idle_timer = self._loop.call_at(due, self._check_idle)

    def _check_idle(self) -> None:
        self._idle_timer = None
        if self._transport is None:
            return
        if self._loop.time() - self._last_activity >= self._idle_timeout:
            log.info("modbus_idle_closed", client=self.peer, idle_s=self._idle_timeout)
            self._transport.abort()
            return
        self._arm_idle_timer()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.abort()


def _tune_socket(transport: asyncio.BaseTransport) -> None:
    """Keepalive probes find half-open peers; no Nagle delay on small replies."""
    sock: socket.socket | None = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in KEEPALIVE.items():
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


ProtocolFactory = Callable[[], MbapConnection]
