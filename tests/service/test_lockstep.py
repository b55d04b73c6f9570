"""Lock-step: write step_request = step_ack + n, the twin advances exactly n scans, then
step_ack = step_request. In the engine (fake clock), over Modbus TCP and over OPC UA."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import pytest
from asyncua import ua
from plants import test_plant
from protocol.modbus.modbus_client import RawClient, read_pdu, write_registers_pdu
from protocol.opcua.opcua_rig import client, demo, node, ns_of

from twin.app import Twin
from twin.clock import FakeClock
from twin.commands import Source
from twin.config import parse_plant
from twin.engine import Engine
from twin.errors import AccessDeniedError, OutOfRangeError, TypeMismatchError
from twin.opcua.user_file import add_user
from twin.plant_builder import build_plant
from twin.snapshot import Snapshot
from twin.tags import Role, TagTable

PLC = Source("test", "plc", "plc", Role.OPERATOR)
SIM = 255  # the simulation's Modbus unit id


def make_engine(**simulation: object) -> Engine:
    cfg = parse_plant({"simulation": dict(simulation)}, "<test>")
    return Engine(build_plant(cfg), cfg, TagTable(), FakeClock())


async def until(predicate: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.001)


async def test_a_request_advances_exactly_n_scans_and_the_last_snapshot_carries_the_ack() -> None:
    engine = make_engine(start_paused=True, scan_period=0.5, dt=0.1)
    seen: list[Snapshot] = []
    engine.subscribe(seen.append)
    async with engine:
        engine.submit("step_request", None, 4, PLC)
        await until(lambda: engine.snapshot.step_ack == 4)
        await asyncio.sleep(0.01)
        scans = [s for s in seen if s.scan > 0]
        assert [s.scan for s in scans] == [1, 2, 3, 4]  # exactly four scans, then it holds
        assert [s.step_ack for s in scans] == [1, 2, 3, 4]
        assert scans[-1].sim_time == pytest.approx(2.0)
        assert engine.snapshot.step_request == 4 and not engine.snapshot.running
        # Counting on from the acknowledge: two more scans.
        engine.submit("step_request", None, engine.snapshot.step_ack + 2, PLC)
        await until(lambda: engine.snapshot.step_ack == 6)
        await asyncio.sleep(0.01)
        assert engine.snapshot.scan == 6


async def test_a_request_while_running_pauses_the_real_time_clock() -> None:
    engine = make_engine()
    async with engine:
        await engine.wait_scans(3)
        engine.submit("step_request", None, 5, PLC)
        await until(lambda: engine.snapshot.step_ack == 5)
        held = engine.snapshot.scan
        await asyncio.sleep(0.02)
        assert not engine.snapshot.running
        assert engine.snapshot.scan == held  # paused: no scan after the last requested one


async def test_requests_are_validated() -> None:
    engine = make_engine(start_paused=True)
    async with engine:
        engine.submit("step_request", None, 3, PLC)
        await until(lambda: engine.snapshot.step_ack == 3)
        with pytest.raises(OutOfRangeError, match="last request"):
            engine.submit("step_request", None, 2, PLC)
        with pytest.raises(OutOfRangeError, match="at most"):
            engine.submit("step_request", None, 3 + 1_000_001, PLC)
        with pytest.raises(TypeMismatchError):
            engine.submit("step_request", None, 4.5, PLC)
        with pytest.raises(AccessDeniedError):
            engine.submit("step_request", None, 4, Source("test", role=Role.OBSERVER))
        engine.submit("step_request", None, 3, PLC)  # the same counter: nothing to do
        await asyncio.sleep(0.01)
        assert engine.snapshot.scan == 3


async def test_reset_all_returns_every_tank_to_its_initial_state() -> None:
    cfg = parse_plant({"simulation": {"start_paused": True},
                       "tanks": [{"name": "A"}, {"name": "B", "initial_level": 1.0}]}, "<test>")
    engine = Engine(build_plant(cfg), cfg, TagTable(), FakeClock())
    async with engine:
        engine.submit("setpoint", 0, 4.0, PLC)
        engine.submit("inlet_flow", 1, 0.0, PLC)
        engine.submit("step_request", None, 50, PLC)
        await until(lambda: engine.snapshot.step_ack == 50)
        assert engine.snapshot.state["level"][1] != 1.0
        engine.submit("reset_all", None, True, Source("test", role=Role.ENGINEER))
        await until(lambda: engine.snapshot.state["level_true"][1] == 1.0)
        assert engine.snapshot.state["setpoint"][0] == 2.5


def _u64(value: int) -> bytes:
    return struct.pack(">Q", value)


async def _read_u64(client: RawClient, address: int) -> int:
    reply = await client.request(read_pdu(4, address, 4), unit=SIM)
    return int(struct.unpack(">Q", reply[2:10])[0])


async def test_lock_step_over_modbus_tcp() -> None:
    """A PLC's handshake: read step_ack (input registers 15..18 of unit 255), write
    step_ack + n to step_request (holding registers 3..6), poll until step_ack equals it."""
    config = test_plant({"modbus": {"port": 0}, "opcua": {"enabled": False},
                         "metrics": {"enabled": False}, "simulation": {"start_paused": True}})
    async with Twin(config) as twin:
        assert twin.modbus.port is not None
        client = await RawClient.connect(twin.modbus.port)
        try:
            ack = await _read_u64(client, 15)
            scans = await _read_u64(client, 7)
            assert (ack, scans) == (0, 0)
            for n in (1, 10, 3):
                reply = await client.request(write_registers_pdu(3, _u64(ack + n)), unit=SIM)
                assert reply[0] == 16
                async with asyncio.timeout(5):
                    while (await _read_u64(client, 15)) != ack + n:
                        await asyncio.sleep(0.002)
                ack += n
                scans += n
                assert await _read_u64(client, 7) == scans
            await asyncio.sleep(0.05)
            assert await _read_u64(client, 7) == scans  # nothing ran on its own
            reply = await client.request(write_registers_pdu(3, _u64(ack - 1)), unit=SIM)
            assert reply == bytes([0x90, 0x03])  # behind the last request: illegal data value
        finally:
            await client.close()


async def test_lock_step_over_opc_ua(tmp_path: Path) -> None:
    async with Twin(demo(tmp_path, simulation={"start_paused": True})) as twin:
        assert twin.opcua is not None
        async with client(twin.opcua.endpoint) as c:
            ns = await ns_of(c)
            request = node(c, ns, "Simulation.step_request")
            ack = node(c, ns, "Simulation.step_ack")
            scans = node(c, ns, "Simulation.scan_count")
            assert await ack.read_value() == 0
            await request.write_value(ua.DataValue(ua.Variant(7, ua.VariantType.UInt64)))
            async with asyncio.timeout(5):
                while await ack.read_value() != 7:
                    await asyncio.sleep(0.005)
            assert await scans.read_value() == 7
            with pytest.raises(ua.UaStatusCodeError) as refused:
                await request.write_value(ua.DataValue(ua.Variant(6, ua.VariantType.UInt64)))
            assert refused.value.code == ua.StatusCodes.BadOutOfRange  # type: ignore[attr-defined]


async def test_owed_lock_step_scans_continue_after_a_restore() -> None:
    engine = make_engine(start_paused=True)
    async with engine:
        engine.submit("step_request", None, 2, PLC)
        await until(lambda: engine.snapshot.step_ack == 2)
        plant, info = engine.saved_state()
    info = {**info, "step_request": 5}  # saved while 3 scans were still owed
    other = make_engine(start_paused=True)
    other.restore(plant, info)
    assert other.snapshot.step_ack == 2 and other.snapshot.scan == 2
    async with other:
        await until(lambda: other.snapshot.step_ack == 5)
        assert other.snapshot.scan == 5
        assert other.snapshot.sim_time == pytest.approx(0.5)


async def test_reset_all_is_an_opc_ua_method_for_engineers(tmp_path: Path) -> None:
    add_user(tmp_path / "users", "erik", Role.ENGINEER, "erik-secret")
    async with Twin(demo(tmp_path, simulation={"start_paused": True})) as twin:
        assert twin.opcua is not None
        twin.engine.submit("setpoint", 0, 4.0, PLC)
        twin.engine.request_steps(1, PLC)
        await twin.engine.wait_scans(1)
        url = twin.opcua.endpoint
        async with client(url) as anonymous, \
                client(url, user="erik", password="erik-secret") as erik:
            ns = await ns_of(anonymous)
            method = ua.NodeId("Simulation.ResetAll", ns)
            with pytest.raises(ua.UaStatusCodeError) as refused:  # an operator
                await node(anonymous, ns, "Simulation").call_method(method)
            assert refused.value.code == ua.StatusCodes.BadUserAccessDenied  # type: ignore[attr-defined]
            assert twin.plant.setpoint[0] == 4.0
            await node(erik, ns, "Simulation").call_method(method)
            await until(lambda: twin.engine.snapshot.state["setpoint"][0] == 2.5)
