"""The Modbus front end: TCP listener (and the optional TLS and RTU listeners) around
one :class:`~twin.modbus.device.ModbusDevice`, as an async context manager.

Nothing is global: two twins in one process run two servers side by side.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import structlog

from twin.commands import Source
from twin.error_report import ErrorReporter
from twin.modbus.device import EngineAccess, ModbusDevice
from twin.modbus.mbap import MbapConnection
from twin.modbus.register_map import RegisterMap
from twin.tags import Role, TagTable

if TYPE_CHECKING:
    from ssl import SSLContext

    from twin.config import PlantConfig
    from twin.metrics import ModbusMetrics
    from twin.modbus.rtu import RtuLink

log = structlog.get_logger(__name__)

PROTOCOL = "modbus"
USER = "modbus"  # Modbus TCP carries no user; the plant file's role applies to every client


class ModbusServer:
    def __init__(
        self,
        config: PlantConfig,
        engine: EngineAccess,
        metrics: ModbusMetrics,
        errors: ErrorReporter,
        tags: TagTable,
    ) -> None:
        self.config = config.modbus
        self.map = RegisterMap(self.config, tags, [tank.settings for tank in config.tanks])
        self.handler = ModbusDevice(self.map, engine, metrics, errors)
        self.role = Role[self.config.role.upper()]
        self.port: int | None = None
        self.tls_port: int | None = None
        self._metrics = metrics
        self._connections: set[MbapConnection] = set()
        self._servers: list[asyncio.Server] = []
        self._rtu: RtuLink | None = None

    @property
    def active(self) -> bool:
        """True if any listener is configured."""
        return self.config.enabled or self.config.tls or self.config.rtu

    async def __aenter__(self) -> ModbusServer:
        try:
            if self.config.enabled:
                self.port = await self._listen(self.config.host, self.config.port, None)
            if self.config.tls:
                from twin.modbus.tls import server_context

                context = server_context(self.config)
                self.tls_port = await self._listen(self.config.tls_host, self.config.tls_port,
                                                   context)
            if self.config.rtu:
                from twin.modbus.rtu import RtuLink

                self._rtu = RtuLink(self.config, self.handler, self.role)
                await self._rtu.open()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        self._log_started()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for server in self._servers:
            server.close()
        for connection in list(self._connections):
            connection.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        if self._rtu is not None:
            await self._rtu.close()
            self._rtu = None
        await asyncio.sleep(0)  # let the aborted transports run connection_lost
        self.port = self.tls_port = None

    async def _listen(self, host: str, port: int, ssl: SSLContext | None) -> int:
        loop = asyncio.get_running_loop()
        idle = self.config.idle_timeout
        server = await loop.create_server(
            lambda: MbapConnection(self, idle), host, port, ssl=ssl, reuse_address=True
        )
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    def _log_started(self) -> None:
        layout = self.map.layout
        log.info("modbus_started", host=self.config.host, port=self.port, tls_port=self.tls_port,
                 rtu=self.config.rtu_device if self.config.rtu else None, layout=layout.name,
                 unit_ids=f"{layout.first_unit}..{layout.first_unit + layout.units - 1}",
                 tanks_per_unit=layout.tanks_per_unit,
                 simulation_unit_id=self.config.simulation_unit_id,
                 word_order=self.config.word_order, role=self.config.role,
                 read_only=self.config.read_only)
        if self.config.exposed:
            log.warning("modbus_exposed", host=self.config.host,
                        reason="Modbus TCP has no authentication: any host that reaches this "
                        "address can read and (unless read_only) write the plant")

    # -- ConnectionOwner --------------------------------------------------------
    def admit(self, connection: MbapConnection) -> bool:
        if len(self._connections) >= self.config.max_connections:
            self._metrics.refused.inc()
            log.warning("modbus_connection_refused", client=connection.peer,
                        reason=f"max_connections ({self.config.max_connections}) reached")
            return False
        self._connections.add(connection)
        self._metrics.connections.set(len(self._connections))
        log.info("modbus_client_connected", client=connection.peer,
                 connections=len(self._connections))
        return True

    def release(self, connection: MbapConnection) -> None:
        if connection in self._connections:
            self._connections.discard(connection)
            self._metrics.connections.set(len(self._connections))
            log.info("modbus_client_disconnected", client=connection.peer,
                     connections=len(self._connections))

    def malformed(self) -> None:
        self._metrics.malformed.inc()

    def source_for(self, peer: str, transport: asyncio.BaseTransport) -> Source | None:
        if transport.get_extra_info("ssl_object") is None:
            return Source(PROTOCOL, peer, USER, self.role)
        from twin.modbus.tls import client_source

        source = client_source(peer, transport, self.role)
        if source is None:
            self._metrics.refused.inc()
        return source
