"""A small asyncio HTTP/1.1 server for /metrics, /healthz and /readyz.

The exposition is rendered in a worker thread so a large plant's scrape never
stalls the event loop (and so never delays a scan).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

log = structlog.get_logger(__name__)

MAX_REQUEST_HEAD = 16 * 1024
READ_TIMEOUT = 10.0


class MetricsServer:
    def __init__(
        self,
        registry: CollectorRegistry,
        host: str,
        port: int,
        alive: Callable[[], bool],
        ready: Callable[[], bool],
    ) -> None:
        self._registry = registry
        self._host = host
        self._port = port
        self._alive = alive
        self._ready = ready
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The bound port (useful when configured as 0)."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def __aenter__(self) -> MetricsServer:
        self._server = await asyncio.start_server(self._on_client, self._host, self._port)
        log.info("metrics_listening", host=self._host, port=self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._clients):
            task.cancel()
        for task in list(self._clients):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._server.wait_closed()
        self._server = None

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
            status, ctype, body = await self._respond(head)
            writer.write(_response(status, ctype, body, head.startswith(b"HEAD ")))
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ConnectionError):
            pass
        finally:
            self._clients.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _respond(self, head: bytes) -> tuple[str, str, bytes]:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            return "400 Bad Request", "text/plain", b"bad request\n"
        method, target, _ = parts
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain", b"method not allowed\n"
        path = target.split("?", 1)[0]
        if path == "/metrics":
            accept = _header(lines, "accept")
            encoder, ctype = choose_encoder(accept)
            body = await asyncio.to_thread(encoder, self._registry)
            return "200 OK", ctype, body
        if path == "/healthz":
            ok = self._alive()
            return ("200 OK" if ok else "503 Service Unavailable"), "text/plain", (
                b"ok\n" if ok else b"engine stopped\n")
        if path == "/readyz":
            ok = self._ready()
            return ("200 OK" if ok else "503 Service Unavailable"), "text/plain", (
                b"ready\n" if ok else b"starting\n")
        return "404 Not Found", "text/plain", b"not found: try /metrics, /healthz, /readyz\n"


def _header(lines: list[str], name: str) -> str:
    for line in lines[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name:
            return value.strip()
    return ""


def _response(status: str, ctype: str, body: bytes, head_only: bool) -> bytes:
    header = (
        f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode("latin-1")
    return header if head_only else header + body
