"""Subscriptions over real TCP: changes per scan, sampling intervals, deadbands, queues, limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
import pytest_asyncio
from asyncua import Client, ua
from protocol.opcua.opcua_rig import client, demo, double, node, ns_of, write

from twin.app import Twin

pytestmark = pytest.mark.asyncio(loop_scope="module")


class Changes:
    """Subscription handler: (node id, value, source timestamp) of every notification."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any, Any]] = []

    def datachange_notification(self, n: Any, value: Any, data: Any) -> None:
        self.seen.append((n.nodeid.Identifier, value, data.monitored_item.Value.SourceTimestamp))

    def of(self, ident: str) -> list[Any]:
        return [value for name, value, _ in self.seen if name == ident]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Twin, Client, int]]:
    tmp = tmp_path_factory.mktemp("opcua-subs")
    config = demo(tmp, opcua={"max_sessions": 3, "max_subscriptions_per_session": 2,
                              "max_monitored_items_per_subscription": 4,
                              "max_queue_size": 5, "min_sampling_interval": 0.05},
                  tanks=[{"name": "T101", "noise_std": 0.02}, {"name": "T102"}])
    async with Twin(config) as twin, client(twin.opcua.endpoint) as c:
        yield twin, c, await ns_of(c)


async def subscribe(c: Client, ns: int, idents: list[str], interval: float = 50,
                    **params: Any) -> tuple[Any, Changes, list[Any]]:
    changes = Changes()
    sub = await c.create_subscription(interval, changes)
    handles = await sub.subscribe_data_change([node(c, ns, i) for i in idents], **params)
    return sub, changes, handles


async def test_changing_values_arrive_once_per_scan_with_scan_timestamps(rig: Any) -> None:
    _, c, ns = rig
    sub, changes, _ = await subscribe(c, ns, ["T101.level", "Simulation.sim_time"])
    await asyncio.sleep(1.0)
    await sub.delete()
    levels, times = changes.of("T101.level"), changes.of("Simulation.sim_time")
    assert 7 <= len(levels) <= 13  # noisy level: a new value every 0.1 s scan
    assert len(times) == len(set(times)) and times == sorted(times)
    stamps = [ts for name, _, ts in changes.seen if name == "T101.level"]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


async def test_a_steady_value_is_reported_once_and_a_write_shows_up(rig: Any) -> None:
    _, c, ns = rig
    sub, changes, _ = await subscribe(c, ns, ["T102.setpoint"])
    await asyncio.sleep(0.4)
    assert changes.of("T102.setpoint") == [2.5]  # the first sample only
    assert await write(c, ua.NodeId("T102.setpoint", ns), double(3.0)) == "Good"
    await asyncio.sleep(0.4)
    await sub.delete()
    assert changes.of("T102.setpoint") == [2.5, 3.0]


async def test_absolute_deadband_compares_with_the_last_reported_value(rig: Any) -> None:
    _, c, ns = rig
    changes = Changes()
    sub = await c.create_subscription(50, changes)
    await sub.deadband_monitor(node(c, ns, "T102.inlet_flow"), 0.1, ua.DeadbandType.Absolute)
    target = ua.NodeId("T102.inlet_flow", ns)
    for value in (1.05, 1.09, 1.13, 1.16, 1.21, 1.3):  # drifts in steps under the band
        assert await write(c, target, double(value)) == "Good"
        await asyncio.sleep(0.25)
    await sub.delete()
    assert changes.of("T102.inlet_flow") == [1.0, 1.13, 1.3]


async def test_percent_deadband_uses_the_tank_s_eurange(rig: Any) -> None:
    _, c, ns = rig
    changes = Changes()
    sub = await c.create_subscription(50, changes)
    # EURange of T102.setpoint: 0 .. 5 m, so 10 % is 0.5 m
    await sub.deadband_monitor(node(c, ns, "T102.setpoint"), 10.0, ua.DeadbandType.Percent)
    target = ua.NodeId("T102.setpoint", ns)
    for value in (3.3, 3.6, 2.9, 3.1):
        assert await write(c, target, double(value)) == "Good"
        await asyncio.sleep(0.25)
    await sub.delete()
    assert changes.of("T102.setpoint") == [3.0, 3.6, 2.9]


def request(ns: int, ident: str, handle: int, **params: Any) -> ua.MonitoredItemCreateRequest:
    return ua.MonitoredItemCreateRequest(
        ItemToMonitor=ua.ReadValueId(NodeId=ua.NodeId(ident, ns), AttributeId=13),
        MonitoringMode=ua.MonitoringMode.Reporting,
        RequestedParameters=ua.MonitoringParameters(ClientHandle=handle, **params))


async def create(c: Client, sub: Any, *items: ua.MonitoredItemCreateRequest) -> list[Any]:
    params = ua.CreateMonitoredItemsParameters(SubscriptionId=sub.subscription_id,
                                               ItemsToCreate=list(items))
    return list(await c.uaclient.create_monitored_items(params))


def deadband(kind: int, value: float) -> ua.DataChangeFilter:
    return ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValue, DeadbandType=kind,
                               DeadbandValue=value)


async def test_invalid_filters_are_refused_per_item(rig: Any) -> None:
    _, c, ns = rig
    sub = await c.create_subscription(50, Changes())
    results = await create(
        c, sub,
        request(ns, "T101.gain", 1, Filter=deadband(2, 10.0)),  # open range: no EURange
        request(ns, "T101.level", 2, Filter=deadband(2, 120.0)),
        request(ns, "T101.level", 3, Filter=deadband(1, -1.0)),
        request(ns, "T101.overflowing", 4, Filter=deadband(1, 1.0)),  # a Boolean
        request(ns, "T101.level", 5, Filter=deadband(1, 0.01)))
    assert [r.StatusCode.name for r in results] == [
        "BadDeadbandFilterInvalid", "BadDeadbandFilterInvalid", "BadDeadbandFilterInvalid",
        "BadFilterNotAllowed", "Good"]
    await sub.delete()


async def test_sampling_interval_is_revised_and_honoured(rig: Any) -> None:
    _, c, ns = rig
    sub = await c.create_subscription(50, Changes())
    results = await create(c, sub, request(ns, "T101.level", 1, SamplingInterval=500),
                           request(ns, "T101.level", 2, SamplingInterval=1),
                           request(ns, "T101.level", 3, SamplingInterval=-1))
    assert [r.RevisedSamplingInterval for r in results] == [500.0, 50.0, 50.0]
    await sub.delete()
    slow, fast = Changes(), Changes()
    subs = [await c.create_subscription(50, handler) for handler in (slow, fast)]
    await subs[0].subscribe_data_change(node(c, ns, "T101.level"), sampling_interval=500)
    await subs[1].subscribe_data_change(node(c, ns, "T101.level"), sampling_interval=100)
    await asyncio.sleep(2.0)
    for sub in subs:
        await sub.delete()
    assert 3 <= len(slow.of("T101.level")) <= 6  # a noisy level sampled every 0.5 s
    assert len(fast.of("T101.level")) >= 15  # ... and every scan


async def test_a_queue_keeps_the_samples_between_publishes_with_the_overflow_bit(
        rig: Any) -> None:
    _, c, ns = rig
    got: list[ua.DataValue] = []

    class Raw:
        def datachange_notification(self, n: Any, value: Any, data: Any) -> None:
            got.append(data.monitored_item.Value)

    sub = await c.create_subscription(1000, Raw())  # publish once a second
    await sub.subscribe_data_change(node(c, ns, "T101.level"), queuesize=3)
    await asyncio.sleep(2.5)
    await sub.delete()
    assert len(got) >= 4  # up to 3 per publish, not just the latest
    overflow = [dv for dv in got if dv.StatusCode.value & 0x0480 == 0x0480]
    assert overflow  # 10 samples per second into a queue of 3: the oldest were dropped


async def test_limits_on_items_subscriptions_and_sessions(rig: Any) -> None:
    twin, c, ns = rig
    sub = await c.create_subscription(100, Changes())
    idents = ["T101.level", "T101.setpoint", "T101.mode", "T102.level", "T102.mode"]
    results = await create(c, sub, *(request(ns, i, k) for k, i in enumerate(idents)))
    assert [r.StatusCode.name for r in results] == ["Good"] * 4 + ["BadTooManyMonitoredItems"]
    assert twin.registry.get_sample_value("twin_opcua_monitored_items") == 4
    second = await c.create_subscription(100, Changes())
    with pytest.raises(ua.UaStatusCodeError) as refused:
        await c.create_subscription(100, Changes())
    assert refused.value.code == ua.StatusCodes.BadTooManySubscriptions
    await sub.delete()
    await second.delete()
    async with AsyncExitStack() as stack:
        for _ in range(2):  # the fixture's client is the first of 3
            await stack.enter_async_context(client(twin.opcua.endpoint))
        with pytest.raises(ua.UaStatusCodeError) as refused:
            async with client(twin.opcua.endpoint):
                pass
        assert refused.value.code == ua.StatusCodes.BadTooManySessions
        assert twin.registry.get_sample_value("twin_opcua_sessions") == 3
    async with client(twin.opcua.endpoint):  # a closed session frees its place
        pass


async def test_notifications_are_counted(rig: Any) -> None:
    twin, _, _ = rig
    assert twin.registry.get_sample_value("twin_opcua_notifications_total") > 20
