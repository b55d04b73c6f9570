"""Delivering events to subscriptions along the notifier hierarchy, and ConditionRefresh.

asyncua hands an event only to the MonitoredItems on its exact emitting node and
keeps a single server-wide list of retained conditions. We need more: an alarm
raised at a tank must also reach the clients watching the Plant folder or the
Server object (Part 3, 7.16-7.18: the HasNotifier hierarchy), and a refresh must
bracket the retained conditions with RefreshStartEvent/RefreshEndEvent for every
event MonitoredItem of the one subscription asked for (Part 9, 5.5.7), those
brackets bypassing the item's where clause (Part 9, 4.5).

This module is the only place that touches asyncua's subscription internals
(``subscriptions``, ``monitored_item_srv``, ``_monitored_events``), as asyncua's
own ``SubscriptionService.condition_refresh`` does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from asyncua import ua
from asyncua.common.events import Event
from asyncua.server.server import Server

from twin.opcua.condition import emitted_by, refresh_event
from twin.opcua.ua_values import ObjectIds, node_id


async def deliver(server: Server, event: Event, notifiers: Iterable[ua.NodeId]) -> None:
    """Raise ``event`` at each notifier, for every subscription of the server."""
    chain = tuple(notifiers)
    for sub in list(server.iserver.subscription_service.subscriptions.values()):
        for notifier in chain:
            await sub.monitored_item_srv.trigger_event(emitted_by(event, notifier))


def find_subscription(server: Server, subscription_id: Any) -> Any | None:
    """The InternalSubscription with that id, or None."""
    try:
        key = int(subscription_id)
    except (TypeError, ValueError):
        return None
    return server.iserver.subscription_service.subscriptions.get(key)


def event_items(subscription: Any, only: int | None = None) -> list[tuple[ua.NodeId, int]]:
    """(notifier node, MonitoredItemId) of the subscription's event MonitoredItems."""
    items: dict[ua.NodeId, list[int]] = subscription.monitored_item_srv._monitored_events
    return [(node, mid) for node, mids in items.items() for mid in mids
            if only is None or mid == only]


async def refresh(
    subscription: Any,
    items: list[tuple[ua.NodeId, int]],
    retained: Iterable[tuple[Event, tuple[ua.NodeId, ...]]],
) -> None:
    """Part 9, 5.5.7: RefreshStart, the retained conditions, RefreshEnd, per item.

    ``retained`` holds each retained condition's latest event with the notifiers
    it is raised at; the event is resent as it was (same EventId).
    """
    conditions = list(retained)
    start = refresh_event(ObjectIds.RefreshStartEventType, node_id(ObjectIds.Server))
    end = refresh_event(ObjectIds.RefreshEndEventType, node_id(ObjectIds.Server))
    service = subscription.monitored_item_srv
    for node, mid in items:
        await _enqueue_unfiltered(subscription, mid, start)
        for event, notifiers in conditions:
            if node in notifiers:
                await service._trigger_event(emitted_by(event, node), mid)
        await _enqueue_unfiltered(subscription, mid, end)


async def _enqueue_unfiltered(subscription: Any, mid: int, event: Event) -> None:
    item = subscription.monitored_item_srv._monitored_items.get(mid)
    if item is None:
        return
    fields = ua.EventFieldList()
    fields.ClientHandle = item.client_handle
    fields.EventFields = event.to_event_fields(item.filter.SelectClauses)
    await subscription.enqueue_event(mid, fields, item.queue_size)
