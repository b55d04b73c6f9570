"""Every Prometheus metric of tank-twin, in one place.

Each twin has its own CollectorRegistry (no global state). Per-tank process
values are read from the engine's latest snapshot at scrape time by a custom
collector, so a scrape costs nothing on the scan path.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from twin.commands import Source
from twin.tags import DataType, Tag, TagTable

if TYPE_CHECKING:
    from twin.snapshot import Snapshot

SCAN_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
LATENESS_BUCKETS = (0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)


class TwinMetrics:
    """The service's own metrics; also the engine's observer."""

    def __init__(self, registry: CollectorRegistry, version: str, core_version: str) -> None:
        self.registry = registry
        self.scan_duration = Histogram(
            "twin_scan_duration_seconds",
            "Wall time of one scan: commands, core step, snapshot and fan-out",
            buckets=SCAN_BUCKETS,
            registry=registry,
        )
        self.scan_lateness = Histogram(
            "twin_scan_lateness_seconds",
            "Scan start after its real-time deadline (jitter)",
            buckets=LATENESS_BUCKETS,
            registry=registry,
        )
        self.overruns = Counter(
            "twin_scan_overruns",
            "Scans that ended after the next scan's deadline",
            registry=registry,
        )
        self.skipped = Counter(
            "twin_scans_skipped",
            "Scan deadlines skipped after overruns (never caught up by bursting)",
            registry=registry,
        )
        self.loop_lag = Gauge(
            "twin_event_loop_lag_seconds",
            "How late the asyncio event loop ran a timer in the last probe",
            registry=registry,
        )
        self.commands = Counter(
            "twin_commands",
            "Writes and calls by source protocol and result",
            ["source", "result"],
            registry=registry,
        )
        # process_cpu_seconds_total, process_resident_memory_bytes...: CPU and memory panels.
        ProcessCollector(registry=registry)
        info = Info("twin_build", "Version of tank-twin and its core", registry=registry)
        info.info(
            {"version": version, "core_version": core_version, "python": platform.python_version()}
        )

    # EngineObserver
    def scan_done(self, duration: float, lateness: float) -> None:
        self.scan_duration.observe(duration)
        self.scan_lateness.observe(lateness)

    def overrun(self, missed: int) -> None:
        self.overruns.inc()
        self.skipped.inc(missed)

    def command(self, source: Source, result: str) -> None:
        self.commands.labels(source=source.protocol, result=result).inc()


class HistoryMetrics:
    """The OPC UA history store's metrics (twin/opcua/history_store.py); its observer.

    Updated from the store's writer thread (prometheus_client is thread-safe).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.rows = Counter(
            "twin_history_rows_written", "History rows committed to SQLite", registry=registry
        )
        self.dropped_rows = Counter(
            "twin_history_rows_dropped",
            "History rows not stored: writer queue full or a failed write",
            registry=registry,
        )
        self.expired_rows = Counter(
            "twin_history_rows_expired", "History rows deleted past retention", registry=registry
        )
        self.transaction = Histogram(
            "twin_history_transaction_duration_seconds",
            "Wall time of one history write transaction",
            buckets=SCAN_BUCKETS,
            registry=registry,
        )

    # StoreObserver
    def written(self, rows: int, seconds: float) -> None:
        self.rows.inc(rows)
        self.transaction.observe(seconds)

    def dropped(self, rows: int) -> None:
        self.dropped_rows.inc(rows)

    def expired(self, rows: int) -> None:
        self.expired_rows.inc(rows)


class PlantCollector(Collector):
    """Process values and simulation state, read from the latest snapshot at scrape time."""

    def __init__(
        self,
        tags: TagTable,
        tank_names: tuple[str, ...],
        snapshot: Callable[[], Snapshot],
        per_tank: bool,
    ) -> None:
        self._tags = [t for t in tags.tank if t.metric]
        self._names = tank_names
        self._snapshot = snapshot
        self._per_tank = per_tank

    def describe(self) -> list[Metric]:
        return []  # dynamic: do not call collect() at registration

    def collect(self) -> Iterator[Metric]:
        snap = self._snapshot()
        yield GaugeMetricFamily("twin_sim_time_seconds", "Simulation time", value=snap.sim_time)
        yield GaugeMetricFamily(
            "twin_time_scale_ratio", "Simulated seconds per wall second", value=snap.time_scale
        )
        yield GaugeMetricFamily(
            "twin_running", "1 while the simulation runs, 0 while paused", value=float(snap.running)
        )
        yield GaugeMetricFamily("twin_tanks", "Tanks in the plant", value=len(self._names))
        yield GaugeMetricFamily(
            "twin_sim_steps", "Internal steps since start", value=float(snap.steps)
        )
        if self._per_tank:
            for tag in self._tags:
                yield self._family(tag, snap)

    def _family(self, tag: Tag, snap: Snapshot) -> Metric:
        family = GaugeMetricFamily(tag.metric_name, _help(tag), labels=["tank"])
        values = snap.column(tag).tolist()
        for name, value in zip(self._names, values, strict=True):
            family.add_metric([name], float(value))
        return family


def _help(tag: Tag) -> str:
    text = tag.description
    if tag.dtype is DataType.BOOLEAN:
        return f"{text} (1 true, 0 false)"
    if tag.unit is not None and tag.unit.symbol != "1":
        return f"{text} [{tag.unit.symbol}]"
    return text


class ModbusMetrics:
    """The Modbus front end's metrics (twin/modbus); also its request observer."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "twin_modbus_requests",
            "Modbus requests by function and result (ok, an exception name, unknown_unit)",
            ["function", "result"],
            registry=registry,
        )
        self.connections = Gauge(
            "twin_modbus_connections", "Open Modbus TCP (and TLS) connections", registry=registry
        )
        self.refused = Counter(
            "twin_modbus_connections_refused",
            "Connections closed at once: max_connections reached, or no acceptable TLS role",
            registry=registry,
        )
        self.malformed = Counter(
            "twin_modbus_malformed_frames",
            "Frames with an impossible header (protocol id, length); the connection is closed",
            registry=registry,
        )
        self._children: dict[tuple[str, str], Counter] = {}

    def request(self, function: str, result: str) -> None:
        child = self._children.get((function, result))
        if child is None:
            child = self.requests.labels(function=function, result=result)
            self._children[(function, result)] = child
        child.inc()


class OpcUaMetrics:
    """The OPC UA front end's metrics (twin/opcua). Gauges are read at scrape time."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.sessions = Gauge("twin_opcua_sessions", "Open OPC UA sessions", registry=registry)
        self.subscriptions = Gauge(
            "twin_opcua_subscriptions", "OPC UA subscriptions", registry=registry
        )
        self.monitored_items = Gauge(
            "twin_opcua_monitored_items", "Monitored items in all subscriptions", registry=registry
        )
        self.notifications = Counter(
            "twin_opcua_notifications",
            "Data change notifications handed to subscriptions' publish responses",
            registry=registry,
        )
        self.writes = Counter(
            "twin_opcua_writes",
            "Writes to tag variables by result (the OPC UA status code name)",
            ["result"],
            registry=registry,
        )
        self.calls = Counter(
            "twin_opcua_calls",
            "Calls of tank-twin methods by result (the OPC UA status code name)",
            ["result"],
            registry=registry,
        )

    def watch(
        self,
        sessions: Callable[[], float],
        subscriptions: Callable[[], float],
        monitored_items: Callable[[], float],
    ) -> None:
        """Read the gauges from the server when scraped (no bookkeeping on any hot path)."""
        self.sessions.set_function(sessions)
        self.subscriptions.set_function(subscriptions)
        self.monitored_items.set_function(monitored_items)

    def wrote(self, result: str) -> None:
        self.writes.labels(result=result).inc()

    def called(self, result: str) -> None:
        self.calls.labels(result=result).inc()
