"""Writes and method calls over real TCP: the engine's verdict as OPC UA status codes,
our roles enforced on every one, and a refused write changing nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from asyncua import Client, ua
from protocol.opcua.opcua_rig import call, client, demo, double, node, ns_of, write

from twin.app import Twin
from twin.opcua.user_file import add_user
from twin.tags import Role

pytestmark = pytest.mark.asyncio(loop_scope="module")
USERS = {"otto": Role.OBSERVER, "olga": Role.OPERATOR, "erik": Role.ENGINEER}


@dataclass
class Rig:
    twin: Twin
    ns: int
    anonymous: Client  # an Operator (the demo's anonymous role)
    users: dict[str, Client]

    def id(self, ident: str) -> ua.NodeId:
        return ua.NodeId(ident, self.ns)

    def value(self, tag: str, tank: int | None = 0) -> Any:
        table = self.twin.tags
        found = table.simulation_tag(tag) if tank is None else table.tank_tag(tag)
        return self.twin.engine.current(found, tank)

    async def scans(self, n: int = 2) -> None:
        await asyncio.wait_for(self.twin.engine.wait_scans(n), 10)


async def until(condition: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    tmp = tmp_path_factory.mktemp("opcua-writes")
    for name, role in USERS.items():
        add_user(tmp / "users", name, role, f"{name}-secret")
    config = demo(tmp, tanks=[{"name": "T101"}, {"name": "T102"}])
    async with AsyncExitStack() as stack:
        twin = await stack.enter_async_context(Twin(config))
        url = twin.opcua.endpoint
        anonymous = await stack.enter_async_context(client(url))
        users = {name: await stack.enter_async_context(client(url, user=name,
                                                              password=f"{name}-secret"))
                 for name in USERS}
        yield Rig(twin, await ns_of(anonymous), anonymous, users)


async def test_a_good_write_is_queued_and_acts_at_the_next_scan(rig: Rig) -> None:
    assert await write(rig.anonymous, rig.id("T101.setpoint"), double(3.25)) == "Good"
    assert await node(rig.anonymous, rig.ns, "T101.setpoint").read_value() == 3.25  # queued
    await rig.scans()
    assert rig.twin.plant.setpoint[0] == 3.25 and rig.twin.plant.setpoint[1] == 2.5


@pytest.mark.parametrize(("variant", "expected"), [
    (ua.Variant(2.7, ua.VariantType.Float), 2.7),  # the decimal the client meant
    (ua.Variant(2, ua.VariantType.Int32), 2.0),
    (ua.Variant(3, ua.VariantType.UInt16), 3.0),
    (ua.Variant(4, ua.VariantType.Int64), 4.0),
])
async def test_floats_and_integers_written_to_a_double_are_converted(
        rig: Rig, variant: ua.Variant, expected: float) -> None:
    assert await write(rig.anonymous, rig.id("T102.setpoint"), variant) == "Good"
    await rig.scans()
    assert rig.twin.plant.setpoint[1] == expected


@pytest.mark.parametrize(("ident", "variant", "status"), [
    ("T101.setpoint", double(9.0), "BadOutOfRange"),  # above the 5 m tank
    ("T101.setpoint", double(-0.1), "BadOutOfRange"),
    ("T101.setpoint", double(float("nan")), "BadOutOfRange"),
    ("T101.setpoint", double(float("inf")), "BadOutOfRange"),
    ("T101.setpoint", ua.Variant("high", ua.VariantType.String), "BadTypeMismatch"),
    ("T101.setpoint", ua.Variant(True, ua.VariantType.Boolean), "BadTypeMismatch"),
    ("T101.setpoint", ua.Variant([1.0, 2.0], ua.VariantType.Double), "BadTypeMismatch"),
    ("T101.setpoint", ua.Variant(None, ua.VariantType.Null), "BadTypeMismatch"),
    ("T101.level", double(1.0), "BadNotWritable"),
    ("Simulation.sim_time", double(1.0), "BadNotWritable"),
    ("T101.gain", double(-2.0), "BadUserAccessDenied"),  # tuning: Engineer only
    ("T101.valve_command", double(0.3), "BadInvalidState"),  # the controller is in AUTO
    ("T101.mode", ua.Variant(7, ua.VariantType.UInt32), "BadOutOfRange"),
    ("T101.mode", ua.Variant(1.5, ua.VariantType.Double), "BadTypeMismatch"),
    ("T101.Controller", double(1.0), "BadUserAccessDenied"),  # not a tag: asyncua decides
])
async def test_refused_writes_answer_with_the_status_and_change_nothing(
        rig: Rig, ident: str, variant: ua.Variant, status: str) -> None:
    tag = ident.partition(".")[2]
    settable = tag in ("setpoint", "gain", "valve_command", "mode")
    before = rig.value(tag) if settable else None
    assert await write(rig.anonymous, rig.id(ident), variant) == status
    await rig.scans()
    if settable:
        assert rig.value(tag) == before


async def test_other_attributes_are_not_writable(rig: Rig) -> None:
    name = ua.Variant(ua.LocalizedText("x"), ua.VariantType.LocalizedText)
    status = await write(rig.anonymous, rig.id("T101.setpoint"), name,
                         ua.AttributeIds.DisplayName)
    assert status == "BadUserAccessDenied"


async def test_an_enumeration_takes_its_code_or_its_name(rig: Rig) -> None:
    assert await write(rig.anonymous, rig.id("T102.mode"),
                       ua.Variant(1, ua.VariantType.UInt32)) == "Good"
    await rig.scans()
    assert rig.twin.plant.mode[1] == 1
    assert await write(rig.anonymous, rig.id("T102.valve_command"), double(0.3)) == "Good"
    assert await write(rig.anonymous, rig.id("T102.mode"),
                       ua.Variant("AUTO", ua.VariantType.String)) == "Good"
    await rig.scans()
    assert rig.twin.plant.mode[1] == 0


@pytest.mark.parametrize(("user", "ident", "variant", "status"), [
    ("otto", "T101.setpoint", double(2.0), "BadUserAccessDenied"),  # observers only read
    ("olga", "T101.setpoint", double(2.0), "Good"),
    ("olga", "T101.integral_time", double(12.0), "BadUserAccessDenied"),
    ("erik", "T101.integral_time", double(12.0), "Good"),
    ("olga", "Simulation.time_scale", double(2.0), "BadUserAccessDenied"),
    ("erik", "T101.alarm_high", double(4.2), "Good"),  # alarm limits: Engineer
])
async def test_each_role_writes_what_it_may(rig: Rig, user: str, ident: str,
                                            variant: ua.Variant, status: str) -> None:
    assert await write(rig.users[user], rig.id(ident), variant) == status


async def test_wrong_password_and_unknown_user_are_refused(rig: Rig) -> None:
    for user, password in (("olga", "wrong"), ("nobody", "x")):
        with pytest.raises(ua.UaStatusCodeError) as refused:
            async with client(rig.twin.opcua.endpoint, user=user, password=password):
                pass
        assert refused.value.code == ua.StatusCodes.BadUserAccessDenied


async def test_reset_is_for_engineers(rig: Rig) -> None:
    tank, reset = rig.id("T101"), rig.id("T101.Reset")
    result = await call(rig.users["olga"], tank, reset)
    assert result.StatusCode.name == "BadUserAccessDenied"
    await rig.scans()
    assert (await call(rig.users["erik"], tank, reset)).StatusCode.is_good()
    await rig.scans()
    assert rig.twin.plant.setpoint[0] == 2.5  # back to the configured value
    result = await call(rig.users["erik"], rig.id("T102"), reset)  # not T102's method
    assert result.StatusCode.name == "BadMethodInvalid"


async def test_simulation_methods(rig: Rig) -> None:
    sim, erik = rig.id("Simulation"), rig.users["erik"]

    async def status(method: str, *args: ua.Variant, who: Client = erik) -> str:
        return str((await call(who, sim, rig.id(f"Simulation.{method}"), *args)).StatusCode.name)

    scans = ua.Variant(3, ua.VariantType.UInt32)
    assert await status("Step", scans) == "BadInvalidState"  # running: pause first
    assert await status("Pause", who=rig.anonymous) == "BadUserAccessDenied"
    assert await status("Pause") == "Good"
    assert rig.value("running", None) is False  # queued; applied at the next scan
    await until(lambda: not rig.twin.engine.snapshot.running)
    before = rig.twin.engine.snapshot.scan
    assert await status("Step", scans) == "Good"
    await until(lambda: rig.twin.engine.snapshot.scan == before + 3)
    await asyncio.sleep(0.2)
    assert rig.twin.engine.snapshot.scan == before + 3  # exactly three
    assert await status("Step") == "BadArgumentsMissing"
    assert await status("Step", scans, scans) == "BadTooManyArguments"
    assert await status("Step", ua.Variant("3", ua.VariantType.String)) == "BadInvalidArgument"
    assert await status("Step", ua.Variant(0, ua.VariantType.UInt32)) == "BadOutOfRange"
    assert await status("SetTimeScale", double(4.0)) == "Good"
    assert await status("SetTimeScale", double(0.0)) == "BadOutOfRange"
    assert await status("Resume") == "Good"
    await rig.scans(1)
    assert rig.value("running", None) is True and rig.value("time_scale", None) == 4.0
    assert await status("SetTimeScale", ua.Variant(1, ua.VariantType.Int32)) == "Good"


async def test_writes_and_calls_are_counted_by_status(rig: Rig) -> None:
    sample = rig.twin.registry.get_sample_value
    assert sample("twin_opcua_writes_total", {"result": "Good"}) >= 1
    assert sample("twin_opcua_writes_total", {"result": "BadOutOfRange"}) >= 1
    assert sample("twin_opcua_calls_total", {"result": "BadUserAccessDenied"}) >= 1
    assert sample("twin_commands_total", {"source": "opcua", "result": "rejected"}) >= 1
    assert sample("twin_opcua_sessions") == 4


async def test_an_internal_failure_is_bad_internal_error_with_an_error_id(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    reported: list[str] = []
    internal = rig.twin.errors.internal

    def remember(exc: BaseException, **context: object) -> str:
        reported.append(internal(exc, **context))
        return reported[-1]

    def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(rig.twin.engine, "submit", broken)
    monkeypatch.setattr(rig.twin.errors, "internal", remember)
    assert await write(rig.anonymous, rig.id("T101.setpoint"), double(2.0)) == "BadInternalError"
    result = await call(rig.users["erik"], rig.id("T101"), rig.id("T101.Reset"))
    assert result.StatusCode.name == "BadInternalError"
    assert len(reported) == 2 and all(r.startswith("internal error ") for r in reported)
    assert "a bug" not in reported[0]  # details only with --dev
