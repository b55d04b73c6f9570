"""pymodbus's client against the twin: floats in both word orders, the INT16 mirror,
setpoints that read back at once, coils, discrete inputs, the simulation's unit,
all-or-nothing multi-tag writes, and a 1,000-tank plant in the block layout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from protocol.modbus.modbus_client import offset
from pymodbus.client import AsyncModbusTcpClient

from twin.modbus.encoding import Encoding
from twin.modbus.register_map import Table

HR, IR, COILS, DI = (Table.HOLDING_REGISTERS, Table.INPUT_REGISTERS, Table.COILS,
                     Table.DISCRETE_INPUTS)
F32 = AsyncModbusTcpClient.DATATYPE.FLOAT32


@asynccontextmanager
async def pymodbus_client(port: int) -> AsyncIterator[AsyncModbusTcpClient]:
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
    assert await client.connect()
    try:
        yield client
    finally:
        client.close()


async def read_float(client, table: Table, address: int, unit: int = 1,
                     word_order: str = "big") -> float:
    read = client.read_holding_registers if table is HR else client.read_input_registers
    reply = await read(address, count=2, device_id=unit)
    assert not reply.isError(), reply
    return float(client.convert_from_registers(reply.registers, F32, word_order=word_order))


async def write_float(client, address: int, value: float, unit: int = 1,
                      word_order: str = "big"):
    words = client.convert_to_registers(value, F32, word_order=word_order)
    return await client.write_registers(address, words, device_id=unit)


@pytest.mark.parametrize(("order", "pymodbus_order"), [("ABCD", "big"), ("CDAB", "little")])
async def test_floats_read_and_write_in_both_word_orders(make_twin, order, pymodbus_order) -> None:
    async with make_twin(modbus={"word_order": order}) as twin, \
            pymodbus_client(twin.modbus.port) as client:
        await twin.engine.wait_scans(1)
        level = await read_float(client, IR, offset(twin, IR, "level"), word_order=pymodbus_order)
        assert level == pytest.approx(float(twin.engine.snapshot.state["level"][0]), abs=1e-6)
        height = await read_float(client, IR, offset(twin, IR, "height"),
                                  word_order=pymodbus_order)
        assert height == 5.0
        setpoint = offset(twin, HR, "setpoint")
        reply = await write_float(client, setpoint, 3.7, word_order=pymodbus_order)
        assert not reply.isError()
        assert await read_float(client, HR, setpoint, word_order=pymodbus_order) == \
            pytest.approx(3.7)
        await twin.engine.wait_scans(1)
        assert twin.plant.setpoint[0] == 3.7  # float32(3.7) is stored as the decimal 3.7


async def test_an_accepted_write_reads_back_before_the_scan_applies_it(make_twin) -> None:
    slow = {"scan_period": 2.0, "dt": 0.1}  # 2 s between scan boundaries
    async with make_twin(simulation=slow) as twin, pymodbus_client(twin.modbus.port) as client:
        await twin.engine.wait_scans(1)
        setpoint = offset(twin, HR, "setpoint")
        mirror = offset(twin, HR, "setpoint", Encoding.INT16)
        inlet = offset(twin, HR, "inlet_flow")
        writes = client.convert_to_registers(1.25, F32) + client.convert_to_registers(0.75, F32)
        reply = await client.write_registers(setpoint, writes, device_id=1)
        assert not reply.isError()
        assert await read_float(client, HR, setpoint) == 1.25
        assert await read_float(client, HR, inlet) == 0.75
        raw = await client.read_holding_registers(mirror, count=1, device_id=1)
        assert raw.registers == [1250]  # scale 0.001 m
        assert twin.engine.writes_pending and twin.plant.setpoint[0] == 2.5  # not applied yet
        await twin.engine.wait_scans(2)
        assert twin.plant.setpoint[0] == 1.25 and twin.plant.inlet_flow[0] == 0.75


async def eventually(condition, timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_the_int16_mirror_reads_and_writes_scaled_values(make_twin) -> None:
    async with make_twin() as twin, pymodbus_client(twin.modbus.port) as client:
        await twin.engine.wait_scans(1)
        level = offset(twin, IR, "level", Encoding.INT16)
        reply = await client.read_input_registers(level, count=1, device_id=1)
        expected = round(float(twin.engine.snapshot.state["level"][0]) * 1000)
        assert abs(reply.registers[0] - expected) <= 1
        mirror = offset(twin, HR, "setpoint", Encoding.INT16)
        assert not (await client.write_register(mirror, 3125, device_id=1)).isError()
        await twin.engine.wait_scans(1)
        assert twin.plant.setpoint[0] == 3.125
        assert await read_float(client, HR, offset(twin, HR, "setpoint")) == 3.125


async def test_coils_discrete_inputs_and_enumerations(make_twin) -> None:
    async with make_twin(tanks=[{"name": "T1", "initial_level": 5.0, "setpoint": 5.0,
                                 "inlet_flow": 3.0}]) as twin, \
            pymodbus_client(twin.modbus.port) as client:
        await twin.engine.wait_scans(3)
        bits = await client.read_discrete_inputs(0, count=2, device_id=1)
        assert bits.bits[:2] == [bool(twin.engine.snapshot.state["flags"][0] & 1), False]
        mode = offset(twin, HR, "mode")
        assert (await client.read_holding_registers(mode, count=1, device_id=1)).registers == [0]
        assert not (await client.write_register(mode, 1, device_id=1)).isError()  # MANUAL
        valve = offset(twin, HR, "valve_command")
        assert not (await write_float(client, valve, 0.25)).isError()  # allowed in MANUAL now
        await twin.engine.wait_scans(1)
        assert twin.plant.mode[0] == 1 and twin.plant.valve_command[0] == 0.25
        ack = offset(twin, COILS, "level_alarm_acknowledge")
        assert not (await client.write_coil(ack, True, device_id=1)).isError()
        coils = await client.read_coils(0, count=3, device_id=1)
        assert coils.bits[:3] == [False, False, False]  # pulses read as 0


async def test_the_simulation_unit_serves_time_counters_and_control(make_twin) -> None:
    async with make_twin(modbus={"role": "engineer"}) as twin, \
            pymodbus_client(twin.modbus.port) as client:
        await twin.engine.wait_scans(2)
        sim = twin.modbus.map.sim_blocks
        assert [s.tag.name for s in sim[COILS].slots] == ["running", "reset_all"]
        sim_time = await read_float(client, IR, 0, unit=255)
        assert 0 < sim_time <= twin.engine.snapshot.sim_time + 1
        scans = await client.read_input_registers(7, count=4, device_id=255)
        value = client.convert_from_registers(scans.registers, client.DATATYPE.UINT64)
        assert 1 <= value <= twin.engine.snapshot.scan
        assert not (await client.write_coil(0, False, device_id=255)).isError()  # pause
        assert (await client.read_coils(0, count=1, device_id=255)).bits[0] is False
        assert not (await write_float(client, 0, 4.0, unit=255)).isError()
        assert await read_float(client, HR, 0, unit=255) == 4.0
        await eventually(lambda: not twin.engine.snapshot.running
                         and twin.engine.snapshot.time_scale == 4.0)


async def test_a_refused_multi_tag_write_changes_nothing(make_twin) -> None:
    async with make_twin(modbus={"role": "engineer"}, simulation={"start_paused": True}) as twin, \
            pymodbus_client(twin.modbus.port) as client:
        state, snapshot = twin.plant.save_state(), twin.engine.snapshot
        setpoint = offset(twin, HR, "setpoint")
        valid = client.convert_to_registers(4.0, F32) + client.convert_to_registers(1.5, F32)
        bad_valve = client.convert_to_registers(0.5, F32)  # AUTO: valve command refused
        reply = await client.write_registers(setpoint, valid + bad_valve, device_id=1)
        assert reply.isError() and reply.exception_code == 3
        output_min = offset(twin, HR, "output_min")
        limits = client.convert_to_registers(0.8, F32) + client.convert_to_registers(0.5, F32)
        reply = await client.write_registers(output_min, limits, device_id=1)  # min > max
        assert reply.isError() and reply.exception_code == 3
        await asyncio.sleep(0.05)
        assert not twin.engine.writes_pending
        assert twin.plant.save_state() == state
        assert twin.engine.snapshot is snapshot  # no command reached the engine
        swapped = client.convert_to_registers(0.2, F32) + client.convert_to_registers(0.9, F32)
        reply = await client.write_registers(output_min, swapped, device_id=1)
        assert not reply.isError()  # judged together: valid once both are written
        await eventually(lambda: twin.plant.params(0).output_max == 0.9)
        assert twin.plant.params(0).output_min == 0.2 and twin.plant.setpoint[0] == 2.5


async def test_a_thousand_tanks_are_addressable_in_the_block_layout(make_twin) -> None:
    plant = {"fleets": [{"count": 1000, "name": "T{index:04d}"}]}
    async with make_twin(**plant) as twin, pymodbus_client(twin.modbus.port) as client:
        layout = twin.modbus.map.layout
        assert (layout.name, layout.units) == ("block", 2)
        stride = twin.modbus.map.tank_blocks[HR].size
        for tank in (0, 1, layout.tanks_per_unit - 1, layout.tanks_per_unit, 999):
            unit = 1 + tank // layout.tanks_per_unit
            address = (tank % layout.tanks_per_unit) * stride + offset(twin, HR, "setpoint")
            assert address + 2 <= 65536
            reply = await write_float(client, address, 1.0 + tank / 1000, unit=unit)
            assert not reply.isError(), (tank, reply)
        await twin.engine.wait_scans(2)
        assert twin.plant.setpoint[999] == pytest.approx(1.999)
        last_of_unit_1 = layout.tanks_per_unit - 1
        assert twin.plant.setpoint[last_of_unit_1] == pytest.approx(1.0 + last_of_unit_1 / 1000)
        assert (await client.read_holding_registers(0, count=1, device_id=3)).isError()


async def test_block_layout_in_one_unit_without_int16_mirrors(make_twin) -> None:
    plant = {"fleets": [{"count": 1000}]}
    modbus = {"layout": "block", "int16_mirror": False}
    async with make_twin(modbus=modbus, **plant) as twin, \
            pymodbus_client(twin.modbus.port) as client:
        assert twin.modbus.map.layout.units == 1
        stride = twin.modbus.map.tank_blocks[IR].size
        await twin.engine.wait_scans(1)
        level = await read_float(client, IR, 999 * stride + offset(twin, IR, "level"))
        assert level == pytest.approx(float(twin.engine.snapshot.state["level"][999]), abs=1e-6)
