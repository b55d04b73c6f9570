"""The NodeSet is generated from the tag table and current; NodeIds are stable and exported."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from asyncua import ua
from asyncua.server.server import Server
from protocol.opcua.opcua_rig import demo

from twin.app import Twin
from twin.opcua import nodeset
from twin.opcua.address_space import NODESET
from twin.opcua.model import NAMESPACE_URI
from twin.tag_export import export_tags
from twin.tags import TagTable

REPOSITORY_NODESET = Path(__file__).resolve().parents[3] / "nodesets" / "tank-twin.NodeSet2.xml"


def test_the_checked_in_nodeset_and_nodeid_csv_are_current() -> None:
    hint = "regenerate: python -m twin.opcua.nodeset [--csv] > nodesets/..."
    assert REPOSITORY_NODESET.read_text("utf-8") == nodeset.render_xml(), hint
    assert REPOSITORY_NODESET.with_name("tank-twin.NodeIds.csv").read_text("utf-8") == \
        nodeset.render_csv(), hint


def test_the_server_loads_the_current_nodeset_whether_installed_or_from_a_checkout() -> None:
    assert NODESET.read_bytes() == REPOSITORY_NODESET.read_bytes()
    assert NODESET.with_name("tank-twin.NodeIds.csv").read_bytes() == \
        REPOSITORY_NODESET.with_name("tank-twin.NodeIds.csv").read_bytes()


def test_the_nodeset_has_a_variable_for_every_tank_tag() -> None:
    rows = list(csv.DictReader(io.StringIO(nodeset.render_csv())))
    variables = {r["Identifier"].rsplit(".", 1)[1] for r in rows if r["NodeClass"] == "Variable"}
    assert {tag.name for tag in TagTable().tank} <= variables


async def test_asyncua_imports_the_nodeset() -> None:
    server = Server()
    await server.init()
    nodes = await server.import_xml(str(NODESET))
    ns = await server.get_namespace_index(NAMESPACE_URI)
    assert len(nodes) == len(list(csv.DictReader(io.StringIO(nodeset.render_csv()))))
    tank_type = server.get_node(ua.NodeId("TankType", ns))
    assert await tank_type.read_node_class() == ua.NodeClass.ObjectType
    await server.iserver.stop()


async def our_node_ids(twin: Twin) -> set[str]:
    assert twin.opcua is not None and twin.opcua.nodes is not None
    ns = twin.opcua.nodes.namespace
    aspace = twin.opcua.server.iserver.aspace
    return {str(n.Identifier) for n in aspace.keys() if n.NamespaceIndex == ns}  # noqa: SIM118


async def test_node_ids_are_stable_across_a_restart_and_exported(tmp_path: Path) -> None:
    config = demo(tmp_path, tanks=[{"name": "T101"}, {"name": "P-7", "height": 3.0}])
    async with Twin(config) as first:
        ids = await our_node_ids(first)
    async with Twin(config) as second:
        assert await our_node_ids(second) == ids
    exported = list(csv.DictReader(io.StringIO(export_tags(config, "csv"))))
    prefix = f"nsu={NAMESPACE_URI};s="
    assert all(row["node_id"].startswith(prefix) for row in exported)
    assert {row["node_id"].removeprefix(prefix) for row in exported} <= ids
    assert {"P-7.level", "T101.Controller", "Simulation.Step", "P-7.level.EURange"} <= ids
