"""mbpoll (Debian's Modbus master, libmodbus) against the twin: floats in both word orders,
setpoint writes, coils, discrete inputs and the unknown unit id's 0B.

mbpoll is installed by ``scripts/setup --test`` (scripts/debian-packages.txt); a missing
mbpoll fails these tests rather than skipping them."""

from __future__ import annotations

import asyncio
import re
import shutil

import pytest
from protocol.modbus.modbus_client import offset

from twin.modbus.register_map import Table

HR, IR = Table.HOLDING_REGISTERS, Table.INPUT_REGISTERS


async def mbpoll(port: int, *args: str, values: tuple[str, ...] = ()) -> tuple[int, str]:
    exe = shutil.which("mbpoll")
    assert exe, "mbpoll is missing: run scripts/setup --test (Debian package mbpoll)"
    command = [exe, "-1", "-q", "-o", "2", "-p", str(port), *args, "127.0.0.1"]
    if values:
        command += ["--", *values]
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


def values(output: str) -> dict[int, float]:
    """{reference: value} from mbpoll's ``[3]: 	2.5`` lines."""
    return {int(ref): float(value)
            for ref, value in re.findall(r"^\[(\d+)\]:\s+(\S+)$", output, re.MULTILINE)}


@pytest.mark.parametrize(("order", "flags"), [("ABCD", ("-B",)), ("CDAB", ())])
async def test_mbpoll_reads_floats_and_writes_setpoints_in_both_word_orders(
        make_twin, order, flags) -> None:
    async with make_twin(modbus={"word_order": order}) as twin:
        port = twin.modbus.port
        await twin.engine.wait_scans(1)
        height = offset(twin, IR, "height") + 1  # mbpoll counts references from 1
        code, out = await mbpoll(port, "-t", "3:float", "-r", str(height), "-c", "1", *flags)
        assert code == 0, out
        assert values(out) == {height: 5.0}
        level = offset(twin, IR, "level") + 1
        code, out = await mbpoll(port, "-t", "3:float", "-r", str(level), "-c", "2", *flags)
        snapshot = twin.engine.snapshot.state
        assert values(out)[level] == pytest.approx(float(snapshot["level"][0]), abs=1e-3)
        assert values(out)[level + 2] == pytest.approx(float(snapshot["level_true"][0]), abs=1e-3)
        setpoint = offset(twin, HR, "setpoint") + 1
        code, out = await mbpoll(port, "-t", "4:float", "-r", str(setpoint), *flags,
                                 values=("3.25", "1.5"))  # setpoint, inlet_flow
        assert code == 0 and "Written 2 references" in out, out
        code, out = await mbpoll(port, "-t", "4:float", "-r", str(setpoint), "-c", "2", *flags)
        assert values(out) == {setpoint: 3.25, setpoint + 2: 1.5}
        await twin.engine.wait_scans(2)
        assert (twin.plant.setpoint[0], twin.plant.inlet_flow[0]) == (3.25, 1.5)


async def test_mbpoll_sees_refusals_and_the_other_tables(make_twin) -> None:
    async with make_twin() as twin:
        port = twin.modbus.port
        setpoint = offset(twin, HR, "setpoint") + 1
        code, out = await mbpoll(port, "-t", "4:float", "-r", str(setpoint), "-B",
                                 values=("9.5",))  # above the 5 m height
        assert code != 0 and "Illegal data value" in out, out
        code, out = await mbpoll(port, "-t", "1", "-r", "1", "-c", "2")
        assert code == 0 and set(values(out)) == {1, 2}, out
        code, out = await mbpoll(port, "-t", "0", "-r", "1", "-c", "3")
        assert code == 0 and values(out) == {1: 0, 2: 0, 3: 0}, out
        code, out = await mbpoll(port, "-a", "9", "-t", "3", "-r", "1")
        assert code != 0 and "Target device failed to respond" in out, out
        size = twin.modbus.map.tank_blocks[HR].size
        code, out = await mbpoll(port, "-t", "4", "-r", str(size), "-c", "2")
        assert code != 0 and "Illegal data address" in out, out
        assert twin.plant.setpoint[0] == 2.5
