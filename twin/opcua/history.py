"""OPC UA history of the process values: sampled from the snapshots, kept in SQLite.

:class:`OpcUaHistory` samples every tag marked ``history=True`` for every tank
once per ``sample_period`` of simulation time (vectorised: one array per sample,
no per-value work on the event loop), hands the sample to the
:class:`~twin.opcua.history_store.HistoryStore` writer thread, marks the
variables as historizing, and puts :class:`~twin.opcua.history_read.HistoryReadService`
in place of asyncua's HistoryManager. :class:`SqliteHistory` is the store behind
asyncua's ``HistoryStorageInterface``, for code that uses asyncua's own API.

Usage (by the OPC UA server, once its address space exists)::

    history = OpcUaHistory(server, engine, config.history, node_map.node_id,
                           observer=HistoryMetrics(registry))
    async with history:
        ...
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import structlog
from asyncua import ua
from asyncua.server.history import HistoryStorageInterface

from twin.opcua.history_config import HistoryConfig
from twin.opcua.history_read import HistoryReadService
from twin.opcua.history_store import HistoryStore, StoreObserver
from twin.opcua.ua_values import AttributeIds, UaError, stamp
from twin.tags import DataType, Tag

if TYPE_CHECKING:
    from asyncua.common.events import Event
    from asyncua.common.node import Node
    from asyncua.server.server import Server

    from twin.engine import Engine
    from twin.snapshot import Snapshot

log = structlog.get_logger(__name__)

NodeIdOf = Callable[[str, int], ua.NodeId]  # (tag name, tank index) -> the variable's NodeId
VARIANTS = {  # as the address space shows them (enumerations: MultiStateDiscrete UInt32)
    DataType.DOUBLE: ua.VariantType.Double,
    DataType.BOOLEAN: ua.VariantType.Boolean,
    DataType.ENUM: ua.VariantType.UInt32,
    DataType.UINT64: ua.VariantType.UInt64,
}
_HISTORY_READ = ua.AccessLevel.HistoryRead.mask


class OpcUaHistory:
    """History of one twin: sampler, store and HistoryRead service."""

    def __init__(self, server: Server, engine: Engine, config: HistoryConfig,
                 node_id: NodeIdOf, *, observer: StoreObserver | None = None) -> None:
        self._server = server
        self._engine = engine
        self.config = config
        self._node_id = node_id
        self.tags: tuple[Tag, ...] = tuple(t for t in engine.tags.tank if t.history)
        self.store = HistoryStore(
            config.path, retention=config.retention, batch_size=config.batch_size,
            flush_interval=config.flush_interval, max_pending_rows=config.max_pending_rows,
            observer=observer)
        self.max_values = config.max_values_per_read
        self.storage = SqliteHistory(self)
        self._series: dict[ua.NodeId, tuple[int, ua.VariantType]] = {}
        self._ids: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._next_sample: float | None = None
        self._last_ts = 0
        self._unsubscribe: Callable[[], None] | None = None

    # -- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        tanks = len(self._engine.config.tanks)
        nodes = [(self._node_id(tag.name, tank), VARIANTS[tag.dtype])
                 for tag in self.tags for tank in range(tanks)]  # tag-major, as sampled
        ids = await self.store.open([(node.to_string(), int(vt)) for node, vt in nodes])
        self._series = {node: (ids[node.to_string()], vt) for node, vt in nodes}
        self._ids = np.array([ids[node.to_string()] for node, _ in nodes], dtype=np.int64)
        try:
            await self._mark_historizing([node for node, _ in nodes])
        except BaseException:
            await self.store.close()
            raise
        self._server.iserver.history_manager = HistoryReadService(self._server.iserver, self)
        self._unsubscribe = self._engine.subscribe(self._on_snapshot)
        self._on_snapshot(self._engine.snapshot)
        log.info("opcua_history_started", path=self.config.path, series=len(nodes),
                 sample_period_s=self.config.sample_period, retention_s=self.config.retention)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self.store.close()

    async def __aenter__(self) -> OpcUaHistory:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def series(self, node: ua.NodeId) -> tuple[int, ua.VariantType] | None:
        """The store's series id and the variant type of a historized variable."""
        return self._series.get(node)

    # -- sampling (engine fan-out, synchronous, once per scan) --------------------------
    def _on_snapshot(self, snapshot: Snapshot) -> None:
        period = self.config.sample_period
        if self._next_sample is not None and snapshot.sim_time < self._next_sample - 1e-9:
            return  # paused publishes and scans between sample instants
        # The next instant on the grid k * period after this one (never a burst).
        self._next_sample = (math.floor(snapshot.sim_time / period + 1e-9) + 1) * period
        values = np.concatenate([snapshot.column(tag).astype(np.float64) for tag in self.tags])
        # Strictly increasing source timestamps, even if the wall clock steps back [us].
        self._last_ts = max(round(snapshot.wall_time * 1_000_000), self._last_ts + 1)
        self.store.append(self._last_ts, snapshot.sim_time, self._ids, values)

    async def _mark_historizing(self, nodes: list[ua.NodeId]) -> None:
        """AccessLevel gains HistoryRead and Historizing becomes true (Part 3, 5.6.2)."""
        aspace = self._server.iserver.aspace
        for node in nodes:
            for attr in (AttributeIds.AccessLevel, AttributeIds.UserAccessLevel):
                current = aspace.read_attribute_value(node, attr).Value
                level = (current.Value if current is not None else 0) | _HISTORY_READ
                await self._server.write_attribute_value(
                    node, ua.DataValue(ua.Variant(level, ua.VariantType.Byte)), attr)
            await self._server.write_attribute_value(
                node, ua.DataValue(ua.Variant(True, ua.VariantType.Boolean)),
                AttributeIds.Historizing)


class SqliteHistory(HistoryStorageInterface):  # type: ignore[misc,unused-ignore]
    """Our store behind asyncua's history interface (values only; events are not kept)."""

    def __init__(self, history: OpcUaHistory) -> None:
        super().__init__(history.max_values)
        self._history = history

    async def init(self) -> None:
        """Opened by OpcUaHistory.start()."""

    async def stop(self) -> None:
        """Closed by OpcUaHistory.stop()."""

    async def new_historized_node(self, node_id: ua.NodeId, period: timedelta | None,
                                  count: int = 0) -> None:
        """A node historized through asyncua's API; retention is the store's."""
        await self._history.store.register([(node_id.to_string(), int(ua.VariantType.Double))])

    async def save_node_value(self, node_id: ua.NodeId, datavalue: ua.DataValue) -> None:
        key = node_id.to_string()
        sid = (await self._history.store.register([(key, int(ua.VariantType.Double))]))[key]
        if datavalue.Value is None or datavalue.Value.Value is None:
            return
        moment = datavalue.SourceTimestamp or datetime.now(UTC)
        value = float(datavalue.Value.Value)
        self._history.store.append(round(moment.timestamp() * 1_000_000), None,
                                   np.array([sid], dtype=np.int64),
                                   np.array([value], dtype=np.float64))

    async def read_node_history(self, node_id: ua.NodeId, start: datetime | None,
                                end: datetime | None,
                                nb_values: int) -> tuple[list[ua.DataValue], datetime | None]:
        """asyncua's semantics: inclusive times, newest first without a start."""
        series = self._history.series(node_id)
        if series is None:
            return [], None
        lo, hi = _us_or_none(start), _us_or_none(end)
        reverse = lo is None or (hi is not None and hi < lo)
        if lo is None:  # newest first, from the end time (or from now)
            lo, hi = hi, None
        limit = min(nb_values or self.max_history_data_response_size,
                    self.max_history_data_response_size)
        rows = await self._history.store.raw(series[0], lo, hi, limit + 1, reverse)
        more = rows[limit][0] if len(rows) > limit else None
        values = [ua.DataValue(ua.Variant(value, ua.VariantType.Double),
                               SourceTimestamp=stamp(_utc(ts))) for ts, value in rows[:limit]]
        return values, (_utc(more) if more is not None else None)

    async def new_historized_event(self, source_id: ua.NodeId, evtypes: list[Node],
                                   period: timedelta | None, count: int = 0) -> None:
        raise UaError("event history is not kept")

    async def save_event(self, event: Event) -> None:
        """Events are not kept."""

    async def read_event_history(self, source_id: ua.NodeId, start: datetime | None,
                                 end: datetime | None, nb_values: int,
                                 evfilter: Any) -> tuple[list[Event], datetime | None]:
        return [], None


def _us_or_none(moment: datetime | None) -> int | None:
    if moment is None or moment <= ua.get_win_epoch():
        return None
    return round(moment.timestamp() * 1_000_000)


def _utc(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, UTC)
