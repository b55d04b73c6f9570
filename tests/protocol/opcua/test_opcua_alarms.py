"""Level alarm conditions over real OPC UA: events, Acknowledge, Confirm, ConditionRefresh.

The server here is a bare asyncua Server with a Plant folder and tank objects,
so the alarms are tested on their own; the twin's server wires them the same way.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from asyncua import Client, Server, ua
from asyncua.ua import uaerrors
from prometheus_client import CollectorRegistry

from twin.alarms import LevelAlarms
from twin.clock import FakeClock
from twin.commands import Source
from twin.config import parse_plant
from twin.engine import Engine
from twin.metrics import TwinMetrics
from twin.opcua.alarms import OpcUaAlarms
from twin.plant_builder import build_plant
from twin.tags import Role, TagTable

ENGINEER = Source("test", "setup", "erik", Role.ENGINEER)
ACK, CONFIRM = ua.ObjectIds.AcknowledgeableConditionType_Acknowledge, \
    ua.ObjectIds.AcknowledgeableConditionType_Confirm
ALARM_TYPE = ua.ObjectIds.ExclusiveLevelAlarmType


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Events:
    """Subscription handler: every event notification, in order."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    def event_notification(self, event: Any) -> None:
        self.queue.put_nowait(event)

    async def next(self, timeout: float = 5.0) -> Any:
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def quiet(self, seconds: float = 0.3) -> list[Any]:
        await asyncio.sleep(seconds)
        found = []
        while not self.queue.empty():
            found.append(self.queue.get_nowait())
        return found


@dataclass
class Rig:
    engine: Engine
    registry: CollectorRegistry
    server: Server
    client: Client
    alarms: OpcUaAlarms
    tanks: list[ua.NodeId]
    plant: ua.NodeId
    caller: list[Source]

    async def write(self, name: str, value: float, tank: int = 0) -> None:
        self.engine.submit(name, tank, value, ENGINEER)
        self.engine.request_steps(1, ENGINEER)
        await self.engine.wait_scans(1)

    async def subscribe(self, *nodes: ua.NodeId) -> tuple[Any, Events]:
        events = Events()
        sub = await self.client.create_subscription(20, events)
        for node in nodes:
            await sub.subscribe_events(self.client.get_node(node), ALARM_TYPE)
        return sub, events

    def condition(self, tank: int = 0) -> Any:
        return self.client.get_node(self.alarms.condition_node(tank))


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    data = {"simulation": {"start_paused": True},
            "tanks": [{"name": "T101"}, {"name": "T102"}]}
    config = parse_plant(data, "<test>")
    registry = CollectorRegistry()
    metrics = TwinMetrics(registry, "test", "test")
    engine = Engine(build_plant(config), config, TagTable(), FakeClock(), metrics,
                    extensions=(LevelAlarms(config),))
    server = Server()
    await server.init()
    server.iserver.disabled_clock = True  # no CurrentTime task: stops at once
    url = f"opc.tcp://127.0.0.1:{free_port()}/test"
    server.set_endpoint(url)
    ns = await server.register_namespace("urn:test:alarms")
    plant = await server.nodes.objects.add_folder(ua.NodeId("Plant", ns), "Plant")
    tanks, levels = [], []
    for name in ("T101", "T102"):
        tank = await plant.add_object(ua.NodeId(name, ns), name)
        level = await tank.add_variable(ua.NodeId(f"{name}.level", ns), "level", 2.5)
        tanks.append(tank.nodeid)
        levels.append(level.nodeid)
    caller = [Source("opcua", "session-1", "olga", Role.OPERATOR)]
    alarms = OpcUaAlarms(server, engine, tanks, plant.nodeid, lambda: caller[0],
                         level_nodes=levels, observer=metrics)
    async with engine, server, alarms, Client(url) as client:
        yield Rig(engine, registry, server, client, alarms, tanks, plant.nodeid, caller)


def field(event: Any, name: str) -> Any:
    return getattr(event, name)


async def raise_high(rig: Rig, tank: int = 0) -> None:
    await rig.write("alarm_high", 2.0, tank)  # level 2.5 >= 2.0: H becomes active


async def test_an_alarm_reaches_subscribers_of_the_tank_the_plant_and_the_server(
        rig: Rig) -> None:
    _, events = await rig.subscribe(rig.tanks[0], rig.plant, ua.NodeId(ua.ObjectIds.Server))
    await raise_high(rig)
    received = [await events.next() for _ in range(3)]
    assert len({e.EventId for e in received}) == 1, "one event, raised at three notifiers"
    event = received[0]
    assert event.EventType == ua.NodeId(ALARM_TYPE)
    assert event.SourceName == "T101" and event.SourceNode == rig.tanks[0]
    assert event.NodeId == rig.alarms.condition_node(0)  # ConditionId
    assert event.Severity == 500 and "level high" in event.Message.Text
    assert field(event, "ActiveState/Id") is True
    assert field(event, "LimitState/CurrentState").Text == "High"
    assert field(event, "AckedState/Id") is False
    assert field(event, "ConfirmedState/Id") is True
    assert field(event, "EnabledState/Id") is True
    assert event.Retain is True
    assert event.HighLimit == 2.0 and event.HighHighLimit == 4.5
    assert await events.quiet() == []  # no further events without a transition


async def test_the_other_tank_and_other_notifiers_stay_quiet(rig: Rig) -> None:
    _, events = await rig.subscribe(rig.tanks[1])
    await raise_high(rig, tank=0)
    assert await events.quiet() == []


async def test_condition_variables_show_the_state_without_events(rig: Rig) -> None:
    await raise_high(rig)
    await asyncio.sleep(0.1)
    cond = rig.condition()
    active = await cond.get_child(["0:ActiveState", "0:Id"])
    limit = await cond.get_child(["0:LimitState", "0:CurrentState"])
    assert await active.read_value() is True
    assert (await limit.read_value()).Text == "High"
    assert await (await cond.get_child("0:Retain")).read_value() is True
    assert await cond.read_type_definition() == ua.NodeId(ALARM_TYPE)


async def test_acknowledge_then_confirm_then_clear(rig: Rig) -> None:
    _, events = await rig.subscribe(rig.tanks[0])
    await raise_high(rig)
    raised = await events.next()
    cond = rig.condition()
    with pytest.raises(uaerrors.BadEventIdUnknown):
        await cond.call_method(ua.NodeId(ACK), b"not-an-event", ua.LocalizedText("?"))
    with pytest.raises(uaerrors.BadConditionBranchAlreadyConfirmed):
        await cond.call_method(ua.NodeId(CONFIRM), raised.EventId, ua.LocalizedText("early"))
    await cond.call_method(ua.NodeId(ACK), raised.EventId, ua.LocalizedText("seen it"))
    acked = await events.next()
    assert field(acked, "AckedState/Id") is True and field(acked, "ConfirmedState/Id") is False
    assert acked.Comment.Text == "seen it" and acked.ClientUserId == "olga"
    assert acked.EventId != raised.EventId and acked.Retain is True
    with pytest.raises(uaerrors.BadConditionBranchAlreadyAcked):
        await cond.call_method(ua.NodeId(ACK), acked.EventId, ua.LocalizedText("again"))
    await cond.call_method(ua.NodeId(CONFIRM), acked.EventId, ua.LocalizedText("fixed"))
    confirmed = await events.next()
    assert field(confirmed, "ConfirmedState/Id") is True and confirmed.Retain is True
    await rig.write("alarm_high", 4.0)  # back to normal: nothing left to retain
    cleared = await events.next()
    assert field(cleared, "ActiveState/Id") is False and cleared.Retain is False
    assert field(cleared, "LimitState/CurrentState") is None
    assert cleared.Severity == 100


async def test_acknowledge_is_refused_to_observers_and_counted(rig: Rig) -> None:
    _, events = await rig.subscribe(rig.tanks[0])
    await raise_high(rig)
    raised = await events.next()
    rig.caller[0] = Source("opcua", "session-2", "otto", Role.OBSERVER)
    with pytest.raises(uaerrors.BadUserAccessDenied):
        await rig.condition().call_method(ua.NodeId(ACK), raised.EventId, ua.LocalizedText(""))
    sample = rig.registry.get_sample_value
    assert sample("twin_commands_total", {"source": "opcua", "result": "rejected"}) == 1.0
    rig.caller[0] = Source("opcua", "session-1", "olga", Role.OPERATOR)
    await rig.condition().call_method(ua.NodeId(ACK), raised.EventId, ua.LocalizedText(""))
    await events.next()
    assert sample("twin_commands_total", {"source": "opcua", "result": "applied"}) == 1.0
    assert rig.engine.snapshot.state["alarm.acked"][0]


async def test_condition_refresh_brackets_the_retained_conditions(rig: Rig) -> None:
    _, first = await rig.subscribe(rig.tanks[0])
    await raise_high(rig)
    raised = await first.next()
    sub, events = await rig.subscribe(ua.NodeId(ua.ObjectIds.Server))
    condition_type = rig.client.get_node(ua.NodeId(ua.ObjectIds.ConditionType))
    await condition_type.call_method(ua.NodeId(ua.ObjectIds.ConditionType_ConditionRefresh),
                                     ua.Variant(sub.subscription_id, ua.VariantType.UInt32))
    start, condition, end = [await events.next() for _ in range(3)]
    assert start.EventType == ua.NodeId(ua.ObjectIds.RefreshStartEventType)
    assert condition.EventId == raised.EventId and condition.Retain is True
    assert end.EventType == ua.NodeId(ua.ObjectIds.RefreshEndEventType)
    assert await events.quiet() == []
    with pytest.raises(uaerrors.BadSubscriptionIdInvalid):
        await condition_type.call_method(
            ua.NodeId(ua.ObjectIds.ConditionType_ConditionRefresh),
            ua.Variant(999_999, ua.VariantType.UInt32))


async def test_escalation_to_high_high_needs_a_new_acknowledgement(rig: Rig) -> None:
    _, events = await rig.subscribe(rig.tanks[0])
    await raise_high(rig)
    raised = await events.next()
    await rig.condition().call_method(ua.NodeId(ACK), raised.EventId, ua.LocalizedText(""))
    await events.next()
    await rig.write("alarm_high_high", 2.2)  # level 2.5 >= 2.2: HH
    escalated = await events.next()
    assert field(escalated, "LimitState/CurrentState").Text == "HighHigh"
    assert escalated.Severity == 800 and escalated.LastSeverity == 500
    assert field(escalated, "AckedState/Id") is False


async def test_the_twins_own_server_raises_and_acknowledges(tmp_path: Any) -> None:
    """The same, end to end, through the twin's OPC UA server and its roles."""
    pytest.importorskip("twin.opcua.server")
    from twin.app import Twin

    data = {"metrics": {"enabled": False}, "modbus": {"enabled": False},
            "history": {"enabled": False}, "simulation": {"start_paused": True},
            "opcua": {"port": 0, "allow_none": True, "anonymous": "operator",
                      "pki_dir": str(tmp_path / "pki"), "users_file": str(tmp_path / "users")},
            "tanks": [{"name": "T101"}]}
    async with Twin(parse_plant(data, "<test>")) as twin:
        assert twin.opcua is not None
        async with Client(twin.opcua.endpoint) as client:
            events = Events()
            sub = await client.create_subscription(20, events)
            await sub.subscribe_events(client.get_node(ua.NodeId(ua.ObjectIds.Server)),
                                       ALARM_TYPE)
            twin.engine.submit("alarm_high", 0, 2.0, ENGINEER)
            twin.engine.request_steps(1, ENGINEER)
            raised = await events.next()
            assert raised.SourceName == "T101" and field(raised, "ActiveState/Id") is True
            condition = client.get_node(raised.NodeId)
            await condition.call_method(ua.NodeId(ACK), raised.EventId, ua.LocalizedText("ok"))
            acked = await events.next()
            assert field(acked, "AckedState/Id") is True and acked.ClientUserId == "anonymous"
