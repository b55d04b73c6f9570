"""The PLC heartbeat watchdog in EXTERNAL mode: comm loss on simulation time, each
fail-safe action, recovery. Paused engine on a fake clock, advanced by lock-step."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from service.test_faults import ENGINEER, OPERATOR, advance, make_engine, value

from twin import _core
from twin.errors import AccessDeniedError, OutOfRangeError

EXTERNAL = {"mode": "external", "plc_timeout": 1.0, "initial_valve": 0.3}


async def beat(engine: Any, scans: int, tank: int = 0) -> None:
    """A healthy PLC: a new heartbeat value every scan."""
    for _ in range(scans):
        engine.submit("plc_heartbeat", tank, (value(engine, "plc_heartbeat", tank) + 1) % 32768,
                      OPERATOR)
        await advance(engine, 1)


async def test_a_changing_heartbeat_keeps_the_link_and_a_stopped_one_loses_it_on_time() -> None:
    engine = make_engine(EXTERNAL, scan_period=0.1)
    async with engine:
        await beat(engine, 30)
        assert not value(engine, "plc_comm_loss")
        # The last beat arrived at the boundary before the last scan: one scan ago.
        assert value(engine, "plc_heartbeat_age") == pytest.approx(0.1)
        await advance(engine, 9)  # 1.0 s without a change: not yet more than the timeout
        assert value(engine, "plc_heartbeat_age") == pytest.approx(1.0)
        assert not value(engine, "plc_comm_loss")
        await advance(engine, 1)
        assert value(engine, "plc_comm_loss")


async def test_simulation_time_stands_still_while_paused() -> None:
    engine = make_engine(EXTERNAL, scan_period=0.5)
    async with engine:
        await advance(engine, 1)
        engine.submit("setpoint", 0, 3.0, OPERATOR)  # a paused twin still publishes
        async with asyncio.timeout(5):
            while engine.snapshot.state["setpoint"][0] != 3.0:
                await asyncio.sleep(0.001)
        await asyncio.sleep(0.05)
        assert value(engine, "plc_heartbeat_age") == pytest.approx(0.5)
        assert not value(engine, "plc_comm_loss")
        await advance(engine, 2)
        assert value(engine, "plc_comm_loss")  # 1.5 s > 1.0 s


@pytest.mark.parametrize(("action", "valve", "mode"), [
    ("hold", 0.3, _core.EXTERNAL),
    ("close", 0.0, _core.EXTERNAL),
    ("open", 1.0, _core.EXTERNAL),
    ("auto", None, _core.AUTO),
])
async def test_each_fail_safe_action(action: str, valve: float | None, mode: int) -> None:
    engine = make_engine({**EXTERNAL, "plc_fail_safe": action})
    async with engine:
        await beat(engine, 5)
        engine.submit("valve_command", 0, 0.3, OPERATOR)
        await advance(engine, 11)
        assert value(engine, "plc_comm_loss")
        await advance(engine, 1)  # the action reaches the core at the end of the loss scan
        assert value(engine, "mode") == mode
        if valve is not None:
            assert value(engine, "valve_command") == valve
            # A stray write cannot move a CLOSE/OPEN fail-safe valve while the loss lasts.
            engine.submit("valve_command", 0, 0.6, OPERATOR)
            await advance(engine, 1)
            assert value(engine, "valve_command") == (0.6 if action == "hold" else valve)
        else:  # the PID took over bumplessly from the valve where the PLC left it
            assert value(engine, "valve_command") == pytest.approx(0.3, abs=0.01)
            await advance(engine, 600)
            assert value(engine, "level") == pytest.approx(2.5, abs=0.05)
            assert value(engine, "plc_comm_loss")  # latched until the heartbeat resumes


@pytest.mark.parametrize("action", ["hold", "auto"])
async def test_recovery_when_the_heartbeat_resumes(action: str) -> None:
    engine = make_engine({**EXTERNAL, "plc_fail_safe": action})
    async with engine:
        await advance(engine, 20)
        assert value(engine, "plc_comm_loss")
        await beat(engine, 1)
        assert not value(engine, "plc_comm_loss")
        # The mode does not return to EXTERNAL on its own after an AUTO fallback.
        assert value(engine, "mode") == (_core.AUTO if action == "auto" else _core.EXTERNAL)
        if action == "auto":
            engine.submit("mode", 0, "external", OPERATOR)
            await beat(engine, 30)
            assert value(engine, "mode") == _core.EXTERNAL and not value(engine, "plc_comm_loss")


async def test_manual_clears_a_loss_and_external_starts_a_fresh_timeout() -> None:
    engine = make_engine(EXTERNAL)
    async with engine:
        await advance(engine, 20)
        assert value(engine, "plc_comm_loss")
        engine.submit("mode", 0, "manual", OPERATOR)
        await advance(engine, 1)
        assert not value(engine, "plc_comm_loss") and value(engine, "plc_heartbeat_age") == 0
        await advance(engine, 50)
        engine.submit("mode", 0, "external", OPERATOR)
        await advance(engine, 5)
        assert not value(engine, "plc_comm_loss")
        assert value(engine, "plc_heartbeat_age") == pytest.approx(0.5)  # from the mode write


async def test_other_modes_are_not_watched() -> None:
    engine = make_engine({"plc_timeout": 0.5}, {"mode": "manual", "plc_timeout": 0.5})
    async with engine:
        await advance(engine, 30)
        assert not value(engine, "plc_comm_loss", 0) and not value(engine, "plc_comm_loss", 1)


async def test_settings_are_tags_with_roles_and_ranges() -> None:
    engine = make_engine(EXTERNAL)
    async with engine:
        assert value(engine, "plc_timeout") == 1.0 and value(engine, "plc_fail_safe") == 0
        with pytest.raises(AccessDeniedError):
            engine.submit("plc_timeout", 0, 2.0, OPERATOR)
        with pytest.raises(OutOfRangeError):
            engine.submit("plc_timeout", 0, 0.0, ENGINEER)
        with pytest.raises(OutOfRangeError):
            engine.submit("plc_heartbeat", 0, 40000, OPERATOR)
        engine.submit("plc_timeout", 0, 3.0, ENGINEER)
        engine.submit("plc_fail_safe", 0, "close", ENGINEER)
        await advance(engine, 25)
        assert value(engine, "plc_timeout") == 3.0 and value(engine, "plc_fail_safe") == 1
        assert not value(engine, "plc_comm_loss")
        await advance(engine, 6)
        assert value(engine, "plc_comm_loss")
        await advance(engine, 1)
        assert value(engine, "valve_command") == 0.0


async def test_the_watchdog_state_survives_a_saved_state() -> None:
    engine = make_engine({**EXTERNAL, "plc_fail_safe": "close"})
    async with engine:
        await advance(engine, 20)
        engine.submit("plc_timeout", 0, 2.0, ENGINEER)
        await advance(engine, 1)
        plant_state, info = engine.saved_state()
    again = make_engine({**EXTERNAL, "plc_fail_safe": "close"})
    again.restore(plant_state, info)
    assert value(again, "plc_comm_loss") and value(again, "plc_timeout") == 2.0
    assert value(again, "plc_heartbeat_age") == value(engine, "plc_heartbeat_age")
