"""Proof of issue 7: a test "PLC" closes its own level loop through Modbus TCP.

The PLC program below knows only register addresses (what a PLC engineer takes from
``tank-twin registers``). Each cycle it reads the level as Siemens S7 raw counts
(``level_raw_counts``, INT16) and scales them itself, reads the setpoint an operator
sets on the twin, runs a PI controller, writes the valve command (float32) and its
heartbeat (INT16), then advances the twin by exactly one scan with the lock-step
handshake (``step_request``/``step_ack`` on the simulation's unit). The tank is in
EXTERNAL mode, so the twin's own PID is idle: the level is the PLC's doing.

- Healthy valve: the level stays in a band through a setpoint step and an inlet
  disturbance; when the PLC then stops (no heartbeat), the twin declares comm loss
  and its fail-safe AUTO hands the tank to the internal PID, which holds the level.
- Stuck valve: the same program, the same events; the valve does not follow, the
  level climbs out of the band and the twin raises the level alarm H, which the PLC
  reads back together with the fault's status bit.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from plants import test_plant
from pymodbus.client import AsyncModbusTcpClient

from twin.app import Twin
from twin.commands import Source
from twin.modbus.encoding import Encoding
from twin.modbus.register_map import Table
from twin.tags import Role

HR, IR, DI = Table.HOLDING_REGISTERS, Table.INPUT_REGISTERS, Table.DISCRETE_INPUTS
SIM_UNIT, TANK_UNIT = 255, 1
SCAN = 1.0  # [s] simulation time per lock-step scan = the PLC's cycle time
NOMINAL_COUNTS = 27648  # S7: 20 mA
AUTO, EXTERNAL = 0, 2  # mode codes
OPERATOR = Source("scenario", "test", "operator", Role.OPERATOR)
ENGINEER = Source("scenario", "test", "engineer", Role.ENGINEER)


@dataclass(frozen=True)
class IoMap:
    """The addresses the PLC uses (from the twin's register map export)."""

    level_counts: int  # IR, INT16
    setpoint: int  # HR, float32
    valve_command: int  # HR, float32
    heartbeat: int  # HR, INT16
    mode: int  # HR, uint16 code
    comm_loss: int  # DI
    alarm_high: int  # DI
    valve_stuck: int  # DI
    step_request: int  # HR of the simulation's unit, uint64
    step_ack: int  # IR of the simulation's unit, uint64

    @classmethod
    def of(cls, twin: Twin) -> IoMap:
        regmap = twin.modbus.map

        def at(table: Table, name: str, encoding: Encoding | None = None, sim: bool = False) -> int:
            blocks = regmap.sim_blocks if sim else regmap.tank_blocks
            for slot in blocks[table].slots:
                if slot.tag.name == name and (encoding is None or slot.encoding is encoding):
                    return slot.offset
            raise KeyError(name)

        return cls(
            level_counts=at(IR, "level_raw_counts", Encoding.INT16),
            setpoint=at(HR, "setpoint", Encoding.FLOAT32),
            valve_command=at(HR, "valve_command", Encoding.FLOAT32),
            heartbeat=at(HR, "plc_heartbeat", Encoding.INT16),
            mode=at(HR, "mode", Encoding.UINT16),
            comm_loss=at(DI, "plc_comm_loss"),
            alarm_high=at(DI, "level_alarm_high"),
            valve_stuck=at(DI, "fault_valve_stuck"),
            step_request=at(HR, "step_request", sim=True),
            step_ack=at(IR, "step_ack", sim=True),
        )


class Plc:
    """A PLC program: PI level control over Modbus, with heartbeat and lock-step."""

    def __init__(self, client: AsyncModbusTcpClient, io: IoMap, height: float) -> None:
        self.client, self.io, self.height = client, io, height
        self.gain, self.integral_time, self.bias = -1.0, 10.0, 0.5  # reverse acting PI
        self.integral = 0.0
        self.heartbeat = 0
        self.level = 0.0
        self.setpoint = 0.0

    async def read_level(self) -> float:
        """The analog input card's counts, scaled by the PLC (0..27648 -> 0..H)."""
        reply = await self.client.read_input_registers(self.io.level_counts, count=1,
                                                       device_id=TANK_UNIT)
        assert not reply.isError(), reply
        counts = struct.unpack(">h", struct.pack(">H", reply.registers[0]))[0]
        assert counts != 32767, "wire break / overflow"
        return counts / NOMINAL_COUNTS * self.height

    async def read_setpoint(self) -> float:
        reply = await self.client.read_holding_registers(self.io.setpoint, count=2,
                                                         device_id=TANK_UNIT)
        assert not reply.isError(), reply
        return float(struct.unpack(">f", struct.pack(">HH", *reply.registers))[0])

    async def bit(self, address: int) -> bool:
        reply = await self.client.read_discrete_inputs(address, count=1, device_id=TANK_UNIT)
        assert not reply.isError(), reply
        return bool(reply.bits[0])

    async def mode(self) -> int:
        reply = await self.client.read_holding_registers(self.io.mode, count=1,
                                                         device_id=TANK_UNIT)
        return int(reply.registers[0])

    def control(self) -> float:
        """PI with conditional integration (no windup while the valve is saturated)."""
        error = self.setpoint - self.level
        unclamped = self.bias + self.gain * (error + self.integral / self.integral_time)
        pushing = self.gain * error
        saturated = (unclamped > 1.0 and pushing > 0) or (unclamped < 0.0 and pushing < 0)
        if not saturated:
            self.integral += error * SCAN
        output = self.bias + self.gain * (error + self.integral / self.integral_time)
        return min(max(output, 0.0), 1.0)

    async def cycle(self, alive: bool = True) -> None:
        """One PLC cycle; ``alive=False``: the PLC program has stopped, the twin steps on."""
        if alive:
            self.level = await self.read_level()
            self.setpoint = await self.read_setpoint()
            command = self.control()
            if await self.mode() == EXTERNAL:  # else the twin does not take the PLC's valve
                words = struct.unpack(">HH", struct.pack(">f", command))
                reply = await self.client.write_registers(self.io.valve_command, list(words),
                                                          device_id=TANK_UNIT)
                assert not reply.isError(), reply
            self.heartbeat = (self.heartbeat + 1) % 32768
            reply = await self.client.write_registers(self.io.heartbeat, [self.heartbeat],
                                                      device_id=TANK_UNIT)
            assert not reply.isError(), reply
        await self.step()

    async def step(self) -> None:
        """Lock-step: step_request = step_ack + 1, then wait for the acknowledge."""
        ack = await self._read_u64(self.io.step_ack)
        words = list(struct.unpack(">HHHH", struct.pack(">Q", ack + 1)))
        reply = await self.client.write_registers(self.io.step_request, words,
                                                  device_id=SIM_UNIT)
        assert not reply.isError(), reply
        for _ in range(10_000):
            if await self._read_u64(self.io.step_ack) == ack + 1:
                return
        raise AssertionError("step_ack never came")

    async def _read_u64(self, address: int) -> int:
        reply = await self.client.read_input_registers(address, count=4, device_id=SIM_UNIT)
        assert not reply.isError(), reply
        return int(struct.unpack(">Q", struct.pack(">HHHH", *reply.registers))[0])


@asynccontextmanager
async def plc_rig() -> AsyncIterator[tuple[Twin, Plc]]:
    config = test_plant({
        "simulation": {"start_paused": True, "scan_period": SCAN, "dt": 0.1},
        "tanks": [{"name": "T101", "mode": "external", "plc_timeout": 3.0,
                   "plc_fail_safe": "auto"}],
        "opcua": {"enabled": False}, "metrics": {"enabled": False},
        "history": {"enabled": False},
    })
    async with Twin(config) as twin:
        assert twin.modbus.port is not None
        client = AsyncModbusTcpClient("127.0.0.1", port=twin.modbus.port, timeout=5, retries=0)
        assert await client.connect()
        try:
            yield twin, Plc(client, IoMap.of(twin), config.tanks[0].settings.height)
        finally:
            client.close()


def true_level(twin: Twin) -> float:
    return float(twin.engine.snapshot.state["level"][0])


async def run_events(twin: Twin, plc: Plc, until: float, stuck_at: float | None = None,
                     stop_when_alarm: bool = False) -> list[tuple[float, float, float]]:
    """The test sequence: setpoint 2.5 -> 3.0 at 100 s, inlet 1.0 -> 1.5 m3/s at 300 s.
    Returns (time, level, setpoint) after every cycle."""
    trace = []
    while twin.engine.snapshot.sim_time < until:
        t = twin.engine.snapshot.sim_time
        if t == 100.0:
            twin.engine.submit("setpoint", 0, 3.0, OPERATOR)  # on the HMI
        if t == 300.0:
            twin.engine.submit("inlet_flow", 0, 1.5, OPERATOR)  # upstream disturbance
        if stuck_at is not None and t == stuck_at:
            twin.engine.submit("valve_stuck", 0, True, ENGINEER)  # fault injection
        await plc.cycle()
        trace.append((twin.engine.snapshot.sim_time, true_level(twin), plc.setpoint))
        if stop_when_alarm and await plc.bit(plc.io.alarm_high):
            break
    return trace


async def test_plc_holds_the_level_through_a_setpoint_step_and_a_disturbance() -> None:
    async with plc_rig() as (twin, plc):
        trace = await run_events(twin, plc, until=600.0)
        assert len(trace) == 600 and twin.engine.snapshot.sim_time == 600.0  # exact lock-step
        levels = {t: level for t, level, _ in trace}
        assert all(2.4 <= level <= 3.2 for level in levels.values())  # the band
        for end_of_phase, setpoint in ((100.0, 2.5), (300.0, 3.0), (600.0, 3.0)):
            assert levels[end_of_phase] == pytest.approx(setpoint, abs=0.05), end_of_phase
        assert not await plc.bit(plc.io.comm_loss)
        assert await plc.mode() == EXTERNAL  # all along

        # The PLC stops: no heartbeat for more than 3 s -> comm loss, fail-safe AUTO.
        for _ in range(4):
            await plc.cycle(alive=False)
        assert await plc.bit(plc.io.comm_loss)
        await plc.cycle(alive=False)
        assert await plc.mode() == AUTO  # the twin's PID took over, bumplessly
        for _ in range(200):
            await plc.cycle(alive=False)
            assert true_level(twin) == pytest.approx(3.0, abs=0.1)
        assert await plc.bit(plc.io.comm_loss)  # until the heartbeat resumes
        await plc.cycle()  # the PLC is back: heartbeat only, the mode stays AUTO
        assert not await plc.bit(plc.io.comm_loss) and await plc.mode() == AUTO


async def test_with_the_valve_stuck_the_level_leaves_the_band_and_the_alarm_shows() -> None:
    async with plc_rig() as (twin, plc):
        trace = await run_events(twin, plc, until=2000.0, stuck_at=50.0, stop_when_alarm=True)
        assert await plc.bit(plc.io.valve_stuck)
        assert await plc.bit(plc.io.alarm_high)  # the PLC sees the twin's level alarm H
        assert trace[-1][0] < 2000.0 and trace[-1][1] >= 4.0
        assert max(level for _, level, _ in trace) > 3.2  # out of the band
        state = twin.engine.snapshot.state
        assert state["valve_position"][0] == 0.5  # stuck where it was at 50 s
        assert state["valve_command"][0] == 1.0  # the PLC opens it fully, in vain
