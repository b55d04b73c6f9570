"""Exact exception frames over raw TCP: 01 function, 02 address, 03 count and value,
04 internal failure, 0B unknown unit id; the reply's function code is the request's
with the high bit set."""

from __future__ import annotations

import struct

import pytest
from protocol.modbus.modbus_client import float_words, offset, read_pdu, write_registers_pdu
from structlog.testing import capture_logs

from twin.modbus.encoding import Encoding
from twin.modbus.register_map import Table

HR, IR, COILS, DI = (Table.HOLDING_REGISTERS, Table.INPUT_REGISTERS, Table.COILS,
                     Table.DISCRETE_INPUTS)


@pytest.mark.parametrize(("function", "count"), [
    (3, 0), (3, 126), (4, 0), (4, 126), (1, 0), (1, 2001), (2, 0), (2, 2001),
])
async def test_an_illegal_read_count_answers_03_with_the_function_code_high_bit(
        make_twin, raw_clients, function, count) -> None:
    async with make_twin() as twin:
        client = await raw_clients(twin.modbus.port)
        reply = await client.request(read_pdu(function, 0, count))
        assert reply == bytes([function | 0x80, 0x03])


async def test_illegal_write_counts_and_byte_counts_answer_03(make_twin, raw_clients) -> None:
    async with make_twin() as twin:
        client = await raw_clients(twin.modbus.port)
        too_many = write_registers_pdu(50, b"\x00\x00" * 2, count=124)  # 248 bytes: no frame
        assert await client.request(too_many) == b"\x90\x03"  # can carry them
        zero = struct.pack(">BHHB", 16, 50, 0, 0)
        assert await client.request(zero) == b"\x90\x03"
        mismatch = struct.pack(">BHHB", 16, 50, 2, 2) + b"\x00\x01"  # 2 registers, 2 bytes
        assert await client.request(mismatch) == b"\x90\x03"
        coils = struct.pack(">BHHB", 15, 0, 1969, 247) + bytes(247)
        assert await client.request(coils) == b"\x8f\x03"
        coil_bad_value = struct.pack(">BHH", 5, 1, 0x1234)
        assert await client.request(coil_bad_value) == b"\x85\x03"
        truncated = bytes([3, 0, 0, 0])  # FC3 with 3 data bytes
        assert await client.request(truncated) == b"\x83\x03"


async def test_addresses_outside_the_map_answer_02_including_reads_past_the_end(
        make_twin, raw_clients) -> None:
    async with make_twin() as twin:
        client = await raw_clients(twin.modbus.port)
        sizes = {t: twin.modbus.map.tank_blocks[t].size for t in Table}
        assert (await client.request(read_pdu(3, sizes[HR] - 2, 2)))[:2] == b"\x03\x04"
        assert await client.request(read_pdu(3, sizes[HR] - 2, 3)) == b"\x83\x02"
        assert await client.request(read_pdu(4, sizes[IR], 1)) == b"\x84\x02"
        assert await client.request(read_pdu(4, 65535, 1)) == b"\x84\x02"
        assert await client.request(read_pdu(1, sizes[COILS] - 1, 2)) == b"\x81\x02"
        assert await client.request(read_pdu(2, 0, sizes[DI] + 1)) == b"\x82\x02"
        write = write_registers_pdu(sizes[HR], b"\x00\x00")
        assert await client.request(write) == b"\x90\x02"
        assert await client.request(struct.pack(">BHH", 5, sizes[COILS], 0xFF00)) == b"\x85\x02"


@pytest.mark.parametrize("function", [0x00, 0x07, 0x08, 0x11, 0x14, 0x16, 0x2B, 0x41, 0x7F])
async def test_an_unsupported_function_answers_01(make_twin, raw_clients, function) -> None:
    async with make_twin() as twin:
        client = await raw_clients(twin.modbus.port)
        reply = await client.request(bytes([function, 0, 0, 0, 1]))
        assert reply == bytes([function | 0x80, 0x01])


async def test_bad_values_answer_03_and_change_nothing(make_twin, raw_clients) -> None:
    async with make_twin(modbus={"role": "engineer"}) as twin:
        client = await raw_clients(twin.modbus.port)
        setpoint = offset(twin, HR, "setpoint")
        before = twin.plant.setpoint[0]
        for value in (float("nan"), float("inf"), -1.0, 5.5):  # height is 5 m
            reply = await client.request(write_registers_pdu(setpoint, float_words(value)))
            assert reply == b"\x90\x03", value
        mode = offset(twin, HR, "mode", Encoding.UINT16)
        assert await client.request(struct.pack(">BHH", 6, mode, 7)) == b"\x86\x03"
        mirror = offset(twin, HR, "setpoint", Encoding.INT16)
        assert await client.request(struct.pack(">BHh", 6, mirror, -32768)) == b"\x86\x03"
        await twin.engine.wait_scans(1)
        assert twin.plant.setpoint[0] == before
        assert not twin.engine.writes_pending


async def test_writing_one_half_of_a_float32_answers_03(make_twin, raw_clients) -> None:
    async with make_twin() as twin:
        client = await raw_clients(twin.modbus.port)
        setpoint = offset(twin, HR, "setpoint")
        inlet = offset(twin, HR, "inlet_flow")
        assert await client.request(struct.pack(">BHH", 6, setpoint, 0x4040)) == b"\x86\x03"
        assert await client.request(struct.pack(">BHH", 6, setpoint + 1, 0)) == b"\x86\x03"
        second_half_on = write_registers_pdu(setpoint + 1, b"\x00\x00" + float_words(1.0))
        assert await client.request(second_half_on) == b"\x90\x03"
        first_half_off = write_registers_pdu(setpoint, float_words(3.0) + b"\x40\x00")
        assert await client.request(first_half_off) == b"\x90\x03"
        assert inlet == setpoint + 2
        assert not twin.engine.writes_pending


async def test_refusals_by_role_and_plant_state(make_twin, raw_clients) -> None:
    async with make_twin() as twin:  # role operator (the default)
        client = await raw_clients(twin.modbus.port)
        gain = write_registers_pdu(offset(twin, HR, "gain"), float_words(-2.0))
        assert await client.request(gain) == b"\x90\x02"  # engineer only: not this client's
        valve = write_registers_pdu(offset(twin, HR, "valve_command"), float_words(0.3))
        assert await client.request(valve) == b"\x90\x03"  # only in MANUAL or EXTERNAL
        reset = struct.pack(">BHH", 5, offset(twin, COILS, "reset"), 0xFF00)
        assert await client.request(reset) == b"\x85\x02"
        assert twin.plant.params(0).gain == -1.0


async def test_read_only_refuses_every_write_with_01_and_still_reads(
        make_twin, raw_clients) -> None:
    async with make_twin(modbus={"read_only": True}) as twin:
        client = await raw_clients(twin.modbus.port)
        setpoint = offset(twin, HR, "setpoint")
        assert await client.request(write_registers_pdu(setpoint, float_words(3.0))) == b"\x90\x01"
        assert await client.request(struct.pack(">BHH", 6, setpoint, 0)) == b"\x86\x01"
        assert await client.request(struct.pack(">BHH", 5, 1, 0xFF00)) == b"\x85\x01"
        coils = struct.pack(">BHHB", 15, 1, 1, 1) + b"\x01"
        assert await client.request(coils) == b"\x8f\x01"
        read_write = struct.pack(">BHHHHB", 0x17, 0, 2, setpoint, 2, 4) + float_words(3.0)
        assert await client.request(read_write) == b"\x97\x01"
        reply = await client.request(read_pdu(3, setpoint, 2))
        assert reply == b"\x03\x04" + float_words(2.5)


async def test_an_unknown_unit_id_answers_0b_without_a_log_line_per_request(
        make_twin, raw_clients) -> None:
    async with make_twin() as twin:
        client = await raw_clients(twin.modbus.port)
        with capture_logs() as logs:
            for unit in (0, 2, 247, 254):
                assert await client.request(read_pdu(3, 0, 2), unit=unit) == b"\x83\x0b"
        assert not [e for e in logs if e["log_level"] in ("warning", "error")]
        assert await client.request(read_pdu(3, 0, 2), unit=1) == b"\x03\x04" + float_words(2.5)
        samples = twin.registry.get_sample_value(
            "twin_modbus_requests_total",
            {"function": "read_holding_registers", "result": "unknown_unit"})
        assert samples == 4


async def test_an_unknown_unit_id_can_get_no_answer(make_twin, raw_clients) -> None:
    async with make_twin(modbus={"unknown_unit": "ignore"}) as twin:
        client = await raw_clients(twin.modbus.port)
        await client.send(client.frame(read_pdu(3, 0, 2), unit=9, tid=77))
        await client.send(client.frame(read_pdu(3, 0, 2), unit=1, tid=78))
        tid, unit, reply = await client.receive()
        assert (tid, unit, reply) == (78, 1, b"\x03\x04" + float_words(2.5))


async def test_an_internal_failure_answers_04_and_logs_an_error_id_once(
        make_twin, raw_clients, monkeypatch) -> None:
    async with make_twin() as twin:
        client = await raw_clients(twin.modbus.port)

        def broken(*args: object) -> None:
            raise RuntimeError("boom")

        monkeypatch.setattr(twin.modbus.handler, "_images", None)  # every read path fails
        monkeypatch.setattr(twin.engine, "current", broken)
        with capture_logs() as logs:
            assert await client.request(read_pdu(3, 0, 2)) == b"\x83\x04"
        errors = [e for e in logs if e["event"] == "internal_error"]
        assert len(errors) == 1 and len(errors[0]["error_id"]) == 12
        assert errors[0]["protocol"] == "modbus"
        monkeypatch.undo()
        assert await client.request(read_pdu(3, 0, 2)) == b"\x03\x04" + float_words(2.5)
