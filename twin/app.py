"""The composition root: builds every part of one twin and runs its lifecycle.

Nothing here is global: two ``Twin`` objects live side by side in one process.
Subsystems are async context managers entered in dependency order (engine, then
protocol servers, then metrics) and exited in reverse.
"""

from __future__ import annotations

import contextlib

import structlog
from prometheus_client import CollectorRegistry

import twin
from twin import _core
from twin.alarms import LevelAlarms
from twin.clock import Clock, MonotonicClock
from twin.config import PlantConfig
from twin.engine import Engine
from twin.error_report import ErrorReporter
from twin.faults import FaultStatus
from twin.loop_monitor import LoopLagMonitor
from twin.metrics import ModbusMetrics, PlantCollector, TwinMetrics
from twin.metrics_server import MetricsServer
from twin.modbus.server import ModbusServer
from twin.opcua.server import OpcUaServer
from twin.plant_builder import build_plant
from twin.plc_link import PlcLink
from twin.raw_io import RawIo
from twin.tags import TagTable

log = structlog.get_logger(__name__)


class Twin:
    def __init__(self, config: PlantConfig, *, clock: Clock | None = None, dev: bool = False,
                 headless: bool = False):
        self.config = config
        self.tags = TagTable()
        self.errors = ErrorReporter(dev)
        self.registry = CollectorRegistry()
        self.metrics = TwinMetrics(self.registry, twin.__version__, _core.__version__)
        self.plant = build_plant(config)
        self.alarms = LevelAlarms(config)
        self.engine = Engine(
            self.plant, config, self.tags, clock or MonotonicClock(), self.metrics,
            extensions=(self.alarms, FaultStatus(), PlcLink(config, self.plant), RawIo()),
            autostart=False,
        )
        names = tuple(tank.name for tank in config.tanks)
        self.tank_names = names
        self.registry.register(
            PlantCollector(self.tags, names, lambda: self.engine.snapshot, config.metrics.per_tank)
        )
        self.modbus = ModbusServer(
            config, self.engine, ModbusMetrics(self.registry), self.errors, self.tags
        )
        self.opcua = (
            OpcUaServer(config, self.engine, self.tags, self.registry, self.errors, self.metrics)
            if config.opcua.enabled else None
        )
        self.metrics_server: MetricsServer | None = None
        self.headless = headless  # no protocol or metrics server (tank-twin simulate)
        self.ready = False
        self._stack: contextlib.AsyncExitStack | None = None

    def _front_ends(self) -> list[contextlib.AbstractAsyncContextManager[object]]:
        """Protocol servers, entered after the engine and before the metrics server.

        Each is an async context manager built from (engine, its config section,
        metrics, error reporter) and living in its own package (twin/opcua,
        twin/modbus).
        """
        front_ends: list[contextlib.AbstractAsyncContextManager[object]] = []
        if self.headless:
            return front_ends
        if self.opcua is not None:
            front_ends.append(self.opcua)
        if self.modbus.active:
            front_ends.append(self.modbus)
        return front_ends

    def tank_index(self, name: str) -> int:
        return self.tank_names.index(name)

    async def __aenter__(self) -> Twin:
        stack = contextlib.AsyncExitStack()
        try:
            await stack.enter_async_context(self.engine)
            for front_end in self._front_ends():
                await stack.enter_async_context(front_end)
            await stack.enter_async_context(LoopLagMonitor(self.metrics.loop_lag))
            if self.config.metrics.enabled and not self.headless:
                server = MetricsServer(
                    self.registry,
                    self.config.metrics.host,
                    self.config.metrics.port,
                    alive=lambda: self.engine.alive,
                    ready=lambda: self.ready,
                )
                self.metrics_server = await stack.enter_async_context(server)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        self.engine.start()  # the clock runs once every subsystem is up
        self.ready = True
        log.info(
            "twin_started",
            plant=self.config.source,
            tanks=len(self.tank_names),
            scan_period_s=self.config.simulation.scan_period,
            time_scale=self.config.simulation.time_scale,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.ready = False
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await stack.aclose()
            self.metrics_server = None
            log.info("twin_stopped", plant=self.config.source)
