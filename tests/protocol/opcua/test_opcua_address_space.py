"""The address space over real TCP: browse, typed properties, reads with source timestamps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from asyncua import Client, ua
from protocol.opcua.opcua_rig import client, demo, node, ns_of

from twin.app import Twin
from twin.opcua.nodeset import UNITS_NAMESPACE
from twin.tags import SIMULATION_TAGS, TANK_TAGS

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Twin, Client, int]]:
    tmp = tmp_path_factory.mktemp("opcua-space")
    config = demo(tmp, tanks=[{"name": "T101"}, {"name": "T102", "height": 8.0}],
                  simulation={"start_paused": True})
    async with Twin(config) as twin, client(twin.opcua.endpoint) as c:
        yield twin, c, await ns_of(c)


async def browse_tree(start: Any) -> dict[str, Any]:
    """Browse name -> node of every variable and method below ``start`` (objects walked)."""
    found: dict[str, Any] = {}
    for child in await start.get_children(refs=ua.ObjectIds.HasChild):
        cls = await child.read_node_class()
        name = (await child.read_browse_name()).Name
        if cls == ua.NodeClass.Object:
            found.update(await browse_tree(child))
        elif cls in (ua.NodeClass.Variable, ua.NodeClass.Method):
            found[name] = child
    return found


async def test_plant_folder_holds_one_object_per_tank_and_the_simulation(rig: Any) -> None:
    _, c, ns = rig
    plant = await c.nodes.objects.get_child(f"{ns}:Plant")
    organized = await plant.get_children(refs=ua.ObjectIds.Organizes)
    assert [(await t.read_browse_name()).Name for t in organized] == ["T101", "T102"]
    tank = await plant.get_child(f"{ns}:T101")
    assert (await tank.read_type_definition()) == ua.NodeId("TankType", ns)
    sim = await c.nodes.objects.get_child(f"{ns}:Simulation")
    assert (await sim.read_type_definition()) == ua.NodeId("SimulationType", ns)


async def test_every_tag_is_reachable_with_its_name_and_node_id(rig: Any) -> None:
    _, c, ns = rig
    tank = await browse_tree(node(c, ns, "T102"))
    for tag in TANK_TAGS:
        assert tag.name in tank, tag.name
        assert tank[tag.name].nodeid == ua.NodeId(f"T102.{tag.name}", ns)
    assert "Reset" in tank  # a command tag is a method too
    sim = await browse_tree(node(c, ns, "Simulation"))
    assert {t.name for t in SIMULATION_TAGS} <= set(sim)
    assert {"Pause", "Resume", "Step", "SetTimeScale"} <= set(sim)


async def test_groups_follow_the_model(rig: Any) -> None:
    _, c, ns = rig
    controller = await node(c, ns, "T101").get_child(f"{ns}:Controller")
    assert (await controller.read_type_definition()) == ua.NodeId("ControllerType", ns)
    gain = await controller.get_child(f"{ns}:gain")
    assert gain.nodeid == ua.NodeId("T101.gain", ns)
    status = await node(c, ns, "T101").get_child([f"{ns}:Status", f"{ns}:overflowing"])
    assert await status.read_value() is False


async def test_analog_values_carry_engineering_units_and_the_tank_s_range(rig: Any) -> None:
    _, c, ns = rig
    level = node(c, ns, "T102.level")
    assert (await level.read_type_definition()) == ua.NodeId(ua.ObjectIds.AnalogUnitRangeType)
    assert (await level.read_data_type()) == ua.NodeId(ua.ObjectIds.Double)
    eu_range = await (await level.get_child("EURange")).read_value()
    assert (eu_range.Low, eu_range.High) == (0.0, 8.0)  # T102 is 8 m tall
    t101_range = await node(c, ns, "T101.level.EURange").read_value()
    assert t101_range.High == 5.0
    units = await (await level.get_child("EngineeringUnits")).read_value()
    assert units.NamespaceUri == UNITS_NAMESPACE
    assert units.UnitId == 5067858  # "MTR" (metre), UN/ECE Rec. 20
    assert units.DisplayName.Text == "m"
    flow = await node(c, ns, "T101.inlet_flow.EngineeringUnits").read_value()
    assert flow.DisplayName.Text == "m³/s" and flow.UnitId == 5067091  # "MQS"


async def test_open_range_values_have_units_but_no_range(rig: Any) -> None:
    _, c, ns = rig
    gain = node(c, ns, "T101.gain")
    assert (await gain.read_type_definition()) == ua.NodeId(ua.ObjectIds.AnalogUnitType)
    names = {(await p.read_browse_name()).Name for p in await gain.get_properties()}
    assert names == {"EngineeringUnits"}


async def test_mode_is_a_multistate_discrete_with_its_enum_strings(rig: Any) -> None:
    _, c, ns = rig
    mode = node(c, ns, "T101.mode")
    assert (await mode.read_type_definition()) == ua.NodeId(ua.ObjectIds.MultiStateDiscreteType)
    strings = await (await mode.get_child("EnumStrings")).read_value()
    assert [s.Text for s in strings] == ["AUTO", "MANUAL", "EXTERNAL"]
    value = await mode.read_data_value()
    assert value.Value.VariantType == ua.VariantType.UInt32 and value.Value.Value == 0


async def test_step_declares_its_argument(rig: Any) -> None:
    _, c, ns = rig
    args = await node(c, ns, "Simulation.Step.InputArguments").read_value()
    assert [(a.Name, a.DataType) for a in args] == [("scans", ua.NodeId(ua.ObjectIds.UInt32))]


async def test_reads_return_the_snapshot_with_its_source_timestamp(rig: Any) -> None:
    twin, c, ns = rig
    snap = twin.engine.snapshot
    for tag in ("level", "valve_position", "setpoint"):
        value = await node(c, ns, f"T101.{tag}").read_data_value()
        assert value.Value.Value == pytest.approx(snap.value(twin.tags.tank_tag(tag), 0))
        assert value.SourceTimestamp == datetime.fromtimestamp(snap.wall_time, UTC)
        assert value.StatusCode.is_good()
    sim_time = await node(c, ns, "Simulation.sim_time").read_value()
    assert sim_time == snap.sim_time
    steps = await node(c, ns, "Simulation.step_count").read_data_value()
    assert steps.Value.VariantType == ua.VariantType.UInt64


async def test_access_levels_say_who_may_write(rig: Any) -> None:
    _, c, ns = rig
    read, write = ua.AccessLevel.CurrentRead, ua.AccessLevel.CurrentWrite
    assert await node(c, ns, "T101.level").get_access_level() == {read}
    assert await node(c, ns, "T101.setpoint").get_access_level() == {read, write}


async def test_server_identity(rig: Any) -> None:
    twin, c, _ = rig
    endpoints = await c.get_endpoints()
    assert {e.Server.ApplicationUri for e in endpoints} == {"urn:tank-twin:server"}
    assert all(e.EndpointUrl == twin.opcua.endpoint for e in endpoints)
    status = await c.get_node(ua.ObjectIds.Server_ServerStatus).read_value()
    assert status.BuildInfo.ProductName == "tank-twin"
