"""Subscriptions whose monitored items on tag variables are sampled per scan.

asyncua's subscription machinery (publishing loop, keep-alive, acknowledgements,
republish) is kept; three classes are swapped in below it:

- :class:`TwinSubscriptionService` creates :class:`TwinSubscription` and clamps
  the publishing interval to the configured minimum;
- :class:`TwinSubscription` publishes the queued tag values as one pre-encoded
  DataChangeNotification (plus whatever asyncua's own items queued);
- :class:`TwinMonitoredItems` keeps items on tag variables in an
  :class:`~twin.opcua.sampling.ItemSet` and everything else (other nodes,
  events) in asyncua's implementation, and refuses items over the limit.

The :class:`Sampler` feeds every subscription's items from each snapshot.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from asyncua import ua
from asyncua.common import utils
from asyncua.server.internal_subscription import InternalSubscription
from asyncua.server.monitored_item_service import MonitoredItemService
from asyncua.server.subscription_service import SubscriptionService
from asyncua.ua.ua_binary import struct_to_binary
from asyncua.ua.uaprotocol_auto import DataChangeFilter

from twin.opcua.address_space import NodeMap, Point
from twin.opcua.sampling import BlockKey, Column, Columns, ItemSet, NewItem
from twin.opcua.ua_values import AttributeIds, ObjectIds, StatusCodes, node_id, status
from twin.opcua.values import ticks
from twin.snapshot import Snapshot
from twin.tags import DataType, Scope, Tag

if TYPE_CHECKING:
    from twin.opcua.config import OpcUaConfig
    from twin.opcua.services import TwinInternalServer

DATA_CHANGE_BINARY = node_id(ObjectIds.DataChangeNotification_Encoding_DefaultBinary)
_INT32 = struct.Struct("<i")
_DEADBAND_NONE, _DEADBAND_ABSOLUTE, _DEADBAND_PERCENT = 0, 1, 2


class Sampler:
    """The engine subscriber: hands each scan's values to every subscription."""

    def __init__(self, snapshot: Callable[[], Snapshot], scan_period: float) -> None:
        self._snapshot = snapshot
        self._scan_period = scan_period
        self.item_sets: set[ItemSet] = set()

    def on_snapshot(self, snap: Snapshot) -> None:
        if not self.item_sets:
            return
        columns = columns_of(snap)
        period = self._scan_period / snap.time_scale
        now, source = time.monotonic(), ticks(snap.wall_time)
        for items in self.item_sets:
            items.sample(columns, source, now, period)

    def current(self) -> tuple[Columns, int]:
        """The latest snapshot's values and source time (for first samples)."""
        snap = self._snapshot()
        return columns_of(snap), ticks(snap.wall_time)


def columns_of(snap: Snapshot) -> Columns:
    cache: dict[tuple[Scope, str], Column] = {}

    def column(tag: Tag) -> Column:
        key = (tag.scope, tag.name)
        if key not in cache:
            if tag.scope is Scope.SIMULATION:
                cache[key] = np.array([snap.value(tag)])
            else:
                cache[key] = snap.column(tag)
        return cache[key]

    return column


def parse_filter(flt: Any, point: Point) -> tuple[float, ua.DataChangeTrigger]:
    """(absolute deadband, trigger) of a monitoring filter; raises ServiceError if invalid."""
    if flt is None or isinstance(flt, ua.ExtensionObject):  # absent (an empty extension object)
        return 0.0, ua.DataChangeTrigger.StatusValue
    if isinstance(flt, ua.EventFilter):
        raise utils.ServiceError(StatusCodes.BadFilterNotAllowed)
    if not isinstance(flt, DataChangeFilter):  # as decoded (ua.DataChangeFilter is another)
        raise utils.ServiceError(StatusCodes.BadMonitoredItemFilterUnsupported)
    kind, value, trigger = flt.DeadbandType, float(flt.DeadbandValue), flt.Trigger
    if kind == _DEADBAND_NONE:
        return 0.0, trigger
    if point.tag.dtype is DataType.BOOLEAN:  # deadbands apply to numbers only (Part 4, 7.22.2)
        raise utils.ServiceError(StatusCodes.BadFilterNotAllowed)
    if trigger == ua.DataChangeTrigger.StatusValueTimestamp:
        trigger = ua.DataChangeTrigger.StatusValue  # so says Part 4, 7.10, with a deadband
    if kind == _DEADBAND_ABSOLUTE and value >= 0:
        return value, trigger
    if kind == _DEADBAND_PERCENT and point.eu_range is not None and 0.0 <= value <= 100.0:
        low, high = point.eu_range
        return value / 100.0 * (high - low), trigger  # Part 8, 6.2
    raise utils.ServiceError(StatusCodes.BadDeadbandFilterInvalid)


class TwinMonitoredItems(MonitoredItemService):
    def __init__(self, isub: TwinSubscription, aspace: Any, server: TwinInternalServer) -> None:
        super().__init__(isub, aspace)
        self.twin_sub = isub
        self.server = server

    @property
    def _nodes(self) -> NodeMap:
        assert self.server.context is not None
        return self.server.context.nodes

    @property
    def _config(self) -> OpcUaConfig:
        return self.server.config

    def _point(self, item: ua.MonitoredItemCreateRequest) -> Point | None:
        target = item.ItemToMonitor
        if target.AttributeId != AttributeIds.Value or self.server.context is None:
            return None
        return self._nodes.points.get(target.NodeId)

    async def create_monitored_items(
        self, params: ua.CreateMonitoredItemsParameters
    ) -> list[ua.MonitoredItemCreateResult]:
        results: list[ua.MonitoredItemCreateResult] = []
        batches: dict[BlockKey, list[NewItem]] = {}
        limit = self._config.max_monitored_items_per_subscription
        for item in params.ItemsToCreate:
            if len(self._monitored_items) >= limit:
                results.append(ua.MonitoredItemCreateResult(
                    StatusCode=status(StatusCodes.BadTooManyMonitoredItems)))
                continue
            point = self._point(item)
            if point is None:
                results.extend(await super().create_monitored_items(
                    ua.CreateMonitoredItemsParameters(ItemsToCreate=[item])))
            else:
                results.append(self._create_tag_item(item, point, batches))
        if batches:
            columns, source = self.server.sampler.current()
            for key, items in batches.items():
                self.twin_sub.items.add(key, items, columns, source)
        return results

    def _create_tag_item(self, item: ua.MonitoredItemCreateRequest, point: Point,
                         batches: dict[BlockKey, list[NewItem]]) -> ua.MonitoredItemCreateResult:
        result, mdata = self._make_monitored_item_common(item)
        try:
            key, threshold = self._block_key(item.RequestedParameters, point)
        except utils.ServiceError as exc:
            return ua.MonitoredItemCreateResult(StatusCode=status(exc.code))
        result.RevisedSamplingInterval = key.interval * 1000.0
        result.RevisedQueueSize = key.queue_size
        mdata.queue_size = key.queue_size
        reporting = item.MonitoringMode == ua.MonitoringMode.Reporting
        batches.setdefault(key, []).append(
            NewItem(result.MonitoredItemId, mdata.client_handle or 0, point, threshold, reporting))
        self._commit_monitored_item(result, mdata)
        return result

    def _block_key(self, params: ua.MonitoringParameters, point: Point) -> tuple[BlockKey, float]:
        threshold, trigger = parse_filter(params.Filter, point)
        requested = params.SamplingInterval  # ms; -1: the publishing interval (Part 4, 7.21)
        if requested < 0:
            requested = self.isub.data.RevisedPublishingInterval
        interval = max(requested / 1000.0, self._config.min_sampling_interval)
        queue = 1 if params.QueueSize <= 1 else min(params.QueueSize, self._config.max_queue_size)
        return BlockKey(point.tag, interval, queue, params.DiscardOldest, trigger), threshold

    def modify_monitored_items(
        self, params: ua.ModifyMonitoredItemsParameters
    ) -> list[ua.MonitoredItemModifyResult]:
        results = []
        for item in params.ItemsToModify:
            mid = item.MonitoredItemId
            if mid not in self.twin_sub.items:
                results += super().modify_monitored_items(
                    ua.ModifyMonitoredItemsParameters(ItemsToModify=[item]))
                continue
            results.append(self._modify_tag_item(mid, item.RequestedParameters))
        return results

    def _modify_tag_item(self, mid: int,
                         params: ua.MonitoringParameters) -> ua.MonitoredItemModifyResult:
        mdata = self._monitored_items[mid]
        assert mdata.read_value_id is not None
        point = self._nodes.points[mdata.read_value_id.NodeId]
        try:
            key, threshold = self._block_key(params, point)
        except utils.ServiceError as exc:
            return ua.MonitoredItemModifyResult(StatusCode=status(exc.code))
        mdata.client_handle = params.ClientHandle
        mdata.filter, mdata.queue_size = params.Filter, key.queue_size
        reporting = mdata.mode == ua.MonitoringMode.Reporting
        self.twin_sub.items.remove([mid])
        columns, source = self.server.sampler.current()
        self.twin_sub.items.add(key, [NewItem(mid, params.ClientHandle, point, threshold,
                                              reporting)], columns, source)
        return ua.MonitoredItemModifyResult(RevisedSamplingInterval=key.interval * 1000.0,
                                            RevisedQueueSize=key.queue_size)

    async def _set_monitoring_mode(self, mode: ua.MonitoringMode, mid: int) -> ua.StatusCode:
        if mid not in self.twin_sub.items:
            return await super()._set_monitoring_mode(mode, mid)
        self._monitored_items[mid].mode = mode
        columns, source = self.server.sampler.current()
        # Sampling without reporting only feeds triggered items, which we do not offer.
        self.twin_sub.items.set_reporting(mid, mode == ua.MonitoringMode.Reporting, columns,
                                          source)
        return ua.StatusCode()

    def _delete_monitored_items(self, mid: int) -> ua.StatusCode:
        if mid not in self.twin_sub.items:
            return super()._delete_monitored_items(mid)
        self.twin_sub.items.remove([mid])
        self._monitored_items.pop(mid)
        return ua.StatusCode()

    def delete_all_monitored_items(self) -> None:
        super().delete_all_monitored_items()
        self.server.sampler.item_sets.discard(self.twin_sub.items)


class TwinSubscription(InternalSubscription):
    def __init__(self, *args: Any, server: TwinInternalServer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.items = ItemSet()
        self.server = server
        self.monitored_item_srv = TwinMonitoredItems(self, self.monitored_item_srv.aspace, server)
        server.sampler.item_sets.add(self.items)

    def has_published_results(self) -> bool:
        if self._publishing_enabled and self.items.dirty:
            return True
        return super().has_published_results()

    def _pop_triggered_datachanges(self, result: ua.PublishResult) -> None:
        """One DataChangeNotification, encoded here: our items' records, then asyncua's."""
        parts, count = self.items.pop(ticks(time.time()))
        others = [n for queued in self._triggered_datachanges.values() for n in queued]
        self._triggered_datachanges = {}
        total = count + len(others)
        if not total:
            return
        body = b"".join([_INT32.pack(total), *parts, *(struct_to_binary(n) for n in others),
                         _INT32.pack(0)])  # no DiagnosticInfos
        result.NotificationMessage.NotificationData.append(
            ua.ExtensionObject(TypeId=DATA_CHANGE_BINARY, Body=cast(ua.ByteString, body)))
        self.server.notified(total)


class TwinSubscriptionService(SubscriptionService):
    def __init__(self, aspace: Any, iserver: TwinInternalServer) -> None:
        super().__init__(aspace, iserver)
        self.twin_server = iserver

    async def create_subscription(
        self,
        params: ua.CreateSubscriptionParameters,
        callback: Callable[..., Any],
        session_id: ua.NodeId,
        request_callback: Callable[..., Any] | None = None,
    ) -> ua.CreateSubscriptionResult:
        server = self.twin_server
        if len(self.subscriptions) >= server.max_subscriptions:
            raise utils.ServiceError(StatusCodes.BadTooManySubscriptions)
        result = ua.CreateSubscriptionResult()
        result.RevisedPublishingInterval = max(params.RequestedPublishingInterval,
                                               server.min_publishing_interval_ms)
        result.RevisedLifetimeCount = self._clamp_lifetime_count(params.RequestedLifetimeCount)
        result.RevisedMaxKeepAliveCount = self._clamp_keep_alive_count(
            params.RequestedMaxKeepAliveCount)
        self._sub_id_counter += 1
        result.SubscriptionId = self._sub_id_counter
        sub = TwinSubscription(
            result, self.aspace, callback, session_id, request_callback=request_callback,
            delete_callback=lambda: self.subscriptions.pop(result.SubscriptionId, None),
            no_acks_limit=server.max_unacked_messages_per_subscription,
            max_queue_size=server.max_monitored_item_queue_size,
            publishing_enabled=params.PublishingEnabled, server=server,
        )
        await sub.start()
        self.subscriptions[result.SubscriptionId] = sub
        return result

    def count_items(self) -> int:
        return sum(len(s.monitored_item_srv._monitored_items) for s in self.subscriptions.values())
