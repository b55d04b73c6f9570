"""The HistoryRead service over our store: raw reads (Part 11, 6.5.3) and processed
Minimum/Maximum/Average/Count reads (Part 11, 6.5.4; Part 13, 5.4).

asyncua's own HistoryManager answers ReadProcessedDetails with BadNotImplemented
and turns continuation points into bare timestamps (which cannot say which way a
reverse read runs); :class:`HistoryReadService` replaces it on the server.

Raw reads: forward in [StartTime, EndTime), reverse in (EndTime, StartTime] when
EndTime < StartTime or only EndTime is given; NumValuesPerNode (or the server's
``max_values_per_read``) values per call, with a continuation point for the rest.
ReturnBounds and IsReadModified are not supported (bounds are not returned;
modified reads answer BadHistoryOperationUnsupported).

Processed reads: forward only (StartTime < EndTime); each interval's value has the
interval's start as timestamp and the status Good with the Calculated bit (Partial
for an interval cut short by EndTime); an interval without data is BadNoData, or
0 for Count. Continuation points are ours: a kind byte and the next timestamp.
"""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from asyncua import ua
from asyncua.server.history import HistoryManager

from twin.opcua.ua_values import ObjectIds, StatusCodes, stamp, status

if TYPE_CHECKING:
    from asyncua.server.internal_server import InternalServer

    from twin.opcua.history import OpcUaHistory

S = StatusCodes
_CP = struct.Struct("<2sBq")  # magic, kind, next timestamp [us]
_MAGIC = b"TH"
RAW_FORWARD, RAW_REVERSE, PROCESSED = range(3)
_INFO_DATAVALUE = 0x400  # StatusCode InfoType = DataValue (Part 4, 7.39)
_CALCULATED, _PARTIAL = 0x1, 0x4  # historian bits (Part 11, 6.3.3)
AGGREGATES = {
    ObjectIds.AggregateFunction_Minimum: "min",
    ObjectIds.AggregateFunction_Maximum: "max",
    ObjectIds.AggregateFunction_Average: "avg",
    ObjectIds.AggregateFunction_Count: "count",
}
_COLUMN = {"min": 1, "max": 2, "avg": 3, "count": 4}


class HistoryReadService(HistoryManager):  # type: ignore[misc,unused-ignore]
    """asyncua's HistoryManager with our raw and processed reads."""

    def __init__(self, iserver: InternalServer, history: OpcUaHistory) -> None:
        super().__init__(iserver)
        self.storage = history.storage
        self._history = history

    async def init(self) -> None:
        """The store is opened by OpcUaHistory, not by the server."""

    async def stop(self) -> None:
        """The store is closed by OpcUaHistory, not by the server."""

    async def read_history(self, params: ua.HistoryReadParameters) -> list[ua.HistoryReadResult]:
        details = params.HistoryReadDetails
        nodes = params.NodesToRead
        if params.ReleaseContinuationPoints:  # ours are stateless: nothing to release
            return [ua.HistoryReadResult() for _ in nodes]
        if isinstance(details, ua.ReadProcessedDetails):
            if len(details.AggregateType) != len(nodes):
                return [_fail(S.BadAggregateListMismatch) for _ in nodes]
            return [await self._processed(rv, details, aggregate)
                    for rv, aggregate in zip(nodes, details.AggregateType, strict=True)]
        if isinstance(details, ua.ReadRawModifiedDetails):
            if details.IsReadModified:
                return [_fail(S.BadHistoryOperationUnsupported) for _ in nodes]
            return [await self._raw(rv, details, params.TimestampsToReturn) for rv in nodes]
        return [_fail(S.BadHistoryOperationUnsupported) for _ in nodes]

    async def _raw(self, rv: ua.HistoryReadValueId, d: ua.ReadRawModifiedDetails,
                   stamps: ua.TimestampsToReturn) -> ua.HistoryReadResult:
        series = self._history.series(rv.NodeId)
        if series is None:
            return _fail(S.BadHistoryOperationUnsupported)
        start, end, count = _us(d.StartTime), _us(d.EndTime), d.NumValuesPerNode
        if (start is None) + (end is None) + (count == 0) > 1:
            return _fail(S.BadInvalidTimestampArgument)  # two of the three are needed
        reverse = start is None or (end is not None and end < start)
        if start is None:  # only EndTime: backwards from it
            start, end = end, None
        if rv.ContinuationPoint:
            resumed = _resume(rv.ContinuationPoint, RAW_REVERSE if reverse else RAW_FORWARD)
            if resumed is None:
                return _fail(S.BadContinuationPointInvalid)
            start = resumed
        if start is not None and start == end:
            end = start + 1  # the value at exactly that time, if any
        limit = min(count or self._history.max_values, self._history.max_values)
        rows = await self._history.store.raw(series[0], start, end, limit + 1, reverse)
        result = ua.HistoryReadResult()
        if len(rows) > limit:
            kind = RAW_REVERSE if reverse else RAW_FORWARD
            result.ContinuationPoint = _CP.pack(_MAGIC, kind, rows[limit][0])
        values = [_data_value(value, series[1], ts, stamps) for ts, value in rows[:limit]]
        result.HistoryData = ua.HistoryData(DataValues=values)
        result.StatusCode = status(S.Good if values else S.GoodNoData)
        return result

    async def _processed(self, rv: ua.HistoryReadValueId, d: ua.ReadProcessedDetails,
                         aggregate: ua.NodeId) -> ua.HistoryReadResult:
        series = self._history.series(rv.NodeId)
        if series is None:
            return _fail(S.BadHistoryOperationUnsupported)
        ident = aggregate.Identifier
        name = (AGGREGATES.get(ident) if aggregate.NamespaceIndex == 0 and isinstance(ident, int)
                else None)
        start, end = _us(d.StartTime), _us(d.EndTime)
        if name is None:
            return _fail(S.BadAggregateNotSupported)
        if start is None or end is None or end <= start:
            return _fail(S.BadInvalidTimestampArgument)
        interval = round(d.ProcessingInterval * 1000) or end - start  # ms -> us; 0: one
        first = start
        if rv.ContinuationPoint:
            resumed = _resume(rv.ContinuationPoint, PROCESSED)
            if resumed is None:
                return _fail(S.BadContinuationPointInvalid)
            first = resumed
        stop = min(end, first + self._history.max_values * interval)
        rows = await self._history.store.aggregate(series[0], first, stop, interval)
        by_interval = {row[0]: row for row in rows}
        values = []
        for k in range(math.ceil((stop - first) / interval)):
            t0 = first + k * interval
            cut = min(t0 + interval, end) - t0 < interval
            values.append(_aggregate_value(name, by_interval.get(k), series[1], t0, cut))
        result = ua.HistoryReadResult()
        if stop < end:
            result.ContinuationPoint = _CP.pack(_MAGIC, PROCESSED, stop)
        result.HistoryData = ua.HistoryData(DataValues=values)
        return result


def _aggregate_value(name: str, row: tuple[Any, ...] | None, vtype: ua.VariantType,
                     t0: int, partial: bool) -> ua.DataValue:
    bits = _INFO_DATAVALUE | _CALCULATED | (_PARTIAL if partial else 0)
    start = stamp(_datetime(t0))
    if name == "count":
        count = 0 if row is None else int(row[4])
        return ua.DataValue(ua.Variant(count, ua.VariantType.Int32),
                            StatusCode=status(S.Good | bits), SourceTimestamp=start)
    if row is None:
        return ua.DataValue(StatusCode=status(S.BadNoData), SourceTimestamp=start)
    value = row[_COLUMN[name]]
    variant = (ua.Variant(float(value), ua.VariantType.Double) if name == "avg"
               else ua.Variant(_typed(value, vtype), vtype))
    return ua.DataValue(variant, StatusCode=status(S.Good | bits),
                        SourceTimestamp=start)


def _data_value(value: float, vtype: ua.VariantType, ts: int,
                stamps: ua.TimestampsToReturn) -> ua.DataValue:
    moment = stamp(_datetime(ts))
    both = ua.TimestampsToReturn.Both
    source = moment if stamps in (ua.TimestampsToReturn.Source, both) else None
    server = moment if stamps in (ua.TimestampsToReturn.Server, both) else None
    return ua.DataValue(ua.Variant(_typed(value, vtype), vtype), SourceTimestamp=source,
                        ServerTimestamp=server)


def _typed(value: float, vtype: ua.VariantType) -> Any:
    if vtype is ua.VariantType.Boolean:
        return bool(value)
    if vtype is ua.VariantType.Double or vtype is ua.VariantType.Float:
        return float(value)
    return int(value)


def _resume(point: bytes, kind: int) -> int | None:
    """The timestamp a continuation point resumes at, if it is ours and of this kind."""
    if len(point) != _CP.size:
        return None
    magic, found, ts = _CP.unpack(point)
    return ts if magic == _MAGIC and found == kind else None


def _fail(code: int) -> ua.HistoryReadResult:
    result = ua.HistoryReadResult()
    result.StatusCode = status(code)
    return result


def _us(moment: datetime | None) -> int | None:
    """Microseconds since 1970 of a UtcTime; None for DateTime.MinValue (unspecified)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment <= ua.get_win_epoch():
        return None
    return round(moment.timestamp() * 1_000_000)


def _datetime(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, UTC)
