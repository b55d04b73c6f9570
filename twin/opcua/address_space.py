"""Builds the address space: our NodeSet's types, then one instance per tank under
Objects/Plant and the Simulation object, all from :mod:`twin.opcua.model`.

Nodes are written straight into asyncua's address space before the server
starts (see :class:`_Batch`). Every tag variable reads through one value callback,
so a Read always returns the engine's current value; nothing is copied into the
address space on the scan path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from asyncua import ua
from asyncua.server.address_space import AddressSpace, AttributeValue, NodeData
from asyncua.server.server import Server

from twin.config import PlantConfig
from twin.opcua.model import (
    NAMESPACE_URI,
    PLANT_FOLDER,
    SIMULATION,
    Component,
    Method,
    VariableKind,
    simulation_model,
    tag_node_id,
    tank_model,
    variable_kind,
)
from twin.opcua.nodeset import UNITS_NAMESPACE, access_level
from twin.opcua.ua_values import AttributeIds, ObjectIds, node_id
from twin.opcua.values import variant_type
from twin.tags import Tag, TagTable
from twin.tank_config import TankSettings


def _nodeset_file(name: str = "tank-twin.NodeSet2.xml") -> Path:
    """The NodeSet2 model: installed with the package (twin/nodesets/, by CMake), or in
    the source tree's nodesets/ when running from a checkout or an editable install."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "nodesets" / name
    return installed if installed.exists() else package.parent / "nodesets" / name


NODESET = _nodeset_file()
ReadCallback = Callable[[ua.NodeId, AttributeIds], ua.DataValue]

_TYPE_IDS = {
    VariableKind.ANALOG_RANGE: ObjectIds.AnalogUnitRangeType,
    VariableKind.ANALOG: ObjectIds.AnalogUnitType,
    VariableKind.MULTISTATE: ObjectIds.MultiStateDiscreteType,
    VariableKind.PLAIN: ObjectIds.BaseDataVariableType,
}
_DATA_TYPES = {
    ua.VariantType.Double: ObjectIds.Double,
    ua.VariantType.Boolean: ObjectIds.Boolean,
    ua.VariantType.UInt32: ObjectIds.UInt32,
    ua.VariantType.UInt64: ObjectIds.UInt64,
}


@dataclass(frozen=True, slots=True)
class Point:
    """A tag variable: which value it shows."""

    tag: Tag
    tank: int | None  # None for a simulation tag
    vtype: ua.VariantType
    eu_range: tuple[float, float] | None  # (low, high) where the variable has an EURange


@dataclass(frozen=True, slots=True)
class MethodTarget:
    method: Method
    tank: int | None
    owner: ua.NodeId  # the object it is a component of: the ObjectId a Call must name


@dataclass(slots=True)
class ObjectNodes:
    """One tank (or the Simulation object): its node and those of its members."""

    name: str
    index: int | None
    node: ua.NodeId
    groups: dict[str, ua.NodeId] = field(default_factory=dict)
    variables: dict[str, ua.NodeId] = field(default_factory=dict)  # tag name -> node
    methods: dict[str, ua.NodeId] = field(default_factory=dict)  # method name -> node


@dataclass(slots=True)
class NodeMap:
    """What the rest of the server (and alarms, history) looks nodes up in."""

    namespace: int
    plant: ua.NodeId
    simulation: ObjectNodes
    tanks: list[ObjectNodes] = field(default_factory=list)
    points: dict[ua.NodeId, Point] = field(default_factory=dict)
    methods: dict[ua.NodeId, MethodTarget] = field(default_factory=dict)

    def node_id(self, tag: str, tank: int | None) -> ua.NodeId:
        owner = self.simulation if tank is None else self.tanks[tank]
        return owner.variables[tag]


async def load_nodeset(server: Server, path: Path = NODESET) -> int:
    """Import our NodeSet (the types); returns our namespace index."""
    await server.import_xml(str(path))
    return int(await server.get_namespace_index(NAMESPACE_URI))


A = AttributeIds
_READ = ua.AccessLevel.CurrentRead.mask


class _Batch:
    """Writes our instance nodes straight into asyncua's address space.

    asyncua's AddNodes path builds some 25 attribute values per node and looks
    each reference's target up again; that costs ~250 us a node, half a minute
    for a thousand tanks. Here each node gets only the attributes of its class,
    values that repeat (data types, access levels, descriptions) are built once
    and shared (asyncua replaces values on write, never changes them), and
    references are made from names already known. Only before the server starts.
    """

    def __init__(self, aspace: AddressSpace, ns: int, nodes: NodeMap) -> None:
        self.aspace = aspace
        self.ns = ns
        self.map = nodes
        self._values: dict[tuple[Any, ...], ua.DataValue] = {}
        self._named: dict[ua.NodeId, tuple[ua.NodeClass, ua.QualifiedName, ua.LocalizedText]] = {}

    def nid(self, ident: str) -> ua.NodeId:
        return node_id(ident, self.ns)

    def value(self, value: Any, vtype: ua.VariantType, key: Any = None) -> ua.DataValue:
        """A DataValue; with a ``key``, one shared by every node that has it."""
        if key is None:
            return ua.DataValue(ua.Variant(value, vtype))
        found = self._values.get((vtype, key))
        if found is None:
            found = self._values[(vtype, key)] = ua.DataValue(ua.Variant(value, vtype))
        return found

    def text(self, text: str) -> ua.DataValue:
        return self.value(ua.LocalizedText(text), ua.VariantType.LocalizedText, text)

    def _names_of(self, node: ua.NodeId) -> tuple[ua.NodeClass, ua.QualifiedName, ua.LocalizedText]:
        named = self._named.get(node)
        if named is None:
            data = self.aspace[node]
            named = self._named[node] = (
                data.attributes[A.NodeClass].value.Value.Value,  # type: ignore[union-attr]
                data.attributes[A.BrowseName].value.Value.Value,  # type: ignore[union-attr]
                data.attributes[A.DisplayName].value.Value.Value)  # type: ignore[union-attr]
        return named

    def add(self, cls: ua.NodeClass, node: ua.NodeId, name: str, parent: ua.NodeId, ref: int,
            type_def: ua.NodeId | None, attrs: dict[AttributeIds, ua.DataValue],
            ns: int | None = None) -> None:
        browse = ua.QualifiedName(name, self.ns if ns is None else ns)
        display = ua.LocalizedText(name)
        data = NodeData(node)
        data.attributes = {
            A.NodeId: AttributeValue(self.value(node, ua.VariantType.NodeId)),
            A.NodeClass: AttributeValue(self.value(cls, ua.VariantType.Int32, cls)),
            A.BrowseName: AttributeValue(self.value(browse, ua.VariantType.QualifiedName)),
            A.DisplayName: AttributeValue(self.value(display, ua.VariantType.LocalizedText)),
            A.WriteMask: AttributeValue(self.value(0, ua.VariantType.UInt32, 0)),
            A.UserWriteMask: AttributeValue(self.value(0, ua.VariantType.UInt32, 0)),
        }
        data.attributes.update((attr, AttributeValue(dv)) for attr, dv in attrs.items())
        reference = node_id(ref)
        parent_cls, parent_browse, parent_display = self._names_of(parent)
        data.references.append(ua.ReferenceDescription(
            ReferenceTypeId=reference, IsForward=False, NodeId=parent, NodeClass=parent_cls,
            BrowseName=parent_browse, DisplayName=parent_display))
        if type_def is not None:
            type_cls, type_browse, type_display = self._names_of(type_def)
            data.references.append(ua.ReferenceDescription(
                ReferenceTypeId=node_id(ObjectIds.HasTypeDefinition), IsForward=True,
                NodeId=type_def, NodeClass=type_cls, BrowseName=type_browse,
                DisplayName=type_display))
        self.aspace[parent].references.append(ua.ReferenceDescription(
            ReferenceTypeId=reference, IsForward=True, NodeId=node, NodeClass=cls,
            BrowseName=browse, DisplayName=display, TypeDefinition=type_def or ua.NodeId()))
        if node in self.aspace:
            raise RuntimeError(f"node {node.to_string()} exists already")
        self.aspace[node] = data
        self._named[node] = (cls, browse, display)

    def obj(self, node: ua.NodeId, name: str, parent: ua.NodeId, ref: int,
            type_def: ua.NodeId, description: str) -> None:
        attrs = {A.Description: self.text(description),
                 A.EventNotifier: self.value(0, ua.VariantType.Byte, 0)}
        self.add(ua.NodeClass.Object, node, name, parent, ref, type_def, attrs)

    def prop(self, owner: ua.NodeId, name: str, value: Any, vtype: ua.VariantType,
             dtype: int, array: bool = False, key: Any = None) -> None:
        attrs = {
            A.Value: self.value(ua.Variant(value, vtype, is_array=array).Value, vtype, key),
            A.DataType: self.value(node_id(dtype), ua.VariantType.NodeId, ("type", dtype)),
            A.ValueRank: self.value(1 if array else -1, ua.VariantType.Int32, array),
            A.AccessLevel: self.value(_READ, ua.VariantType.Byte, _READ),
            A.UserAccessLevel: self.value(_READ, ua.VariantType.Byte, _READ),
        }
        if array:
            attrs[A.ArrayDimensions] = self.value([len(value)], ua.VariantType.UInt32)
        ident = f"{cast(str, owner.Identifier)}.{name}"
        self.add(ua.NodeClass.Variable, node_id(ident, self.ns), name, owner,
                 ObjectIds.HasProperty, node_id(ObjectIds.PropertyType), attrs, ns=0)

    def variable(self, owner: ObjectNodes, parent: ua.NodeId, tag: Tag,
                 settings: TankSettings | None, sampling_ms: float) -> None:
        node = self.nid(tag_node_id(owner.name if owner.index is not None else None, tag.name))
        vtype = variant_type(tag)
        level = access_level(tag)
        attrs = {
            A.Description: self.text(tag.description),
            A.Value: self.value(None, ua.VariantType.Null, "null"),  # read through a callback
            A.DataType: self.value(node_id(_DATA_TYPES[vtype]), ua.VariantType.NodeId, vtype),
            A.ValueRank: self.value(-1, ua.VariantType.Int32, False),
            A.AccessLevel: self.value(level, ua.VariantType.Byte, level),
            A.UserAccessLevel: self.value(level, ua.VariantType.Byte, level),
            A.MinimumSamplingInterval: self.value(sampling_ms, ua.VariantType.Double, sampling_ms),
            A.Historizing: self.value(False, ua.VariantType.Boolean, False),  # history sets it
        }
        kind = variable_kind(tag)
        self.add(ua.NodeClass.Variable, node, tag.name, parent, ObjectIds.HasComponent,
                 node_id(_TYPE_IDS[kind]), attrs)
        eu_range = self._properties(node, tag, kind, settings)
        owner.variables[tag.name] = node
        self.map.points[node] = Point(tag, owner.index, vtype, eu_range)

    def _properties(self, node: ua.NodeId, tag: Tag, kind: VariableKind,
                    settings: TankSettings | None) -> tuple[float, float] | None:
        if tag.unit is not None and kind in (VariableKind.ANALOG_RANGE, VariableKind.ANALOG):
            units = ua.EUInformation(NamespaceUri=UNITS_NAMESPACE, UnitId=tag.unit.unit_id,
                                     DisplayName=ua.LocalizedText(tag.unit.symbol, "en"),
                                     Description=ua.LocalizedText(tag.unit.code or tag.unit.symbol,
                                                                  "en"))
            self.prop(node, "EngineeringUnits", units, ua.VariantType.ExtensionObject,
                      ObjectIds.EUInformation, key=("eu", tag.unit))
        if kind is VariableKind.MULTISTATE:
            texts = [ua.LocalizedText(state, "en") for state in tag.states]
            self.prop(node, "EnumStrings", texts, ua.VariantType.LocalizedText,
                      ObjectIds.LocalizedText, array=True, key=("states", tag.states))
        if kind is not VariableKind.ANALOG_RANGE:
            return None
        low, high = tag.bounds(settings)
        assert low is not None and high is not None
        self.prop(node, "EURange", ua.Range(Low=low, High=high), ua.VariantType.ExtensionObject,
                  ObjectIds.Range, key=("range", low, high))
        return low, high

    def method(self, owner: ObjectNodes, parent: ua.NodeId, method: Method) -> None:
        node = self.nid(f"{owner.name}.{method.name}")
        attrs = {A.Description: self.text(method.description),
                 A.Executable: self.value(True, ua.VariantType.Boolean, True),
                 A.UserExecutable: self.value(True, ua.VariantType.Boolean, True)}
        self.add(ua.NodeClass.Method, node, method.name, parent, ObjectIds.HasComponent,
                 None, attrs)
        if method.inputs:
            args = [ua.Argument(Name=a.name, DataType=node_id(getattr(ObjectIds, a.type_name)),
                                ValueRank=ua.ValueRank.Scalar,
                                Description=ua.LocalizedText(a.description, "en"))
                    for a in method.inputs]
            self.prop(node, "InputArguments", args, ua.VariantType.ExtensionObject,
                      ObjectIds.Argument, array=True, key=("arguments", method.name))
        owner.methods[method.name] = node
        self.map.methods[node] = MethodTarget(method, owner.index, parent)

    def component(self, owner: ObjectNodes, parent: ua.NodeId, component: Component,
                  settings: TankSettings | None, sampling_ms: float) -> None:
        """The members of ``component`` below ``parent``; groups as objects of their type."""
        for tag in component.tags:
            self.variable(owner, parent, tag, settings, sampling_ms)
        for method in component.methods:
            self.method(owner, parent, method)
        for group in component.groups:
            node = self.nid(f"{owner.name}.{group.name}")
            self.obj(node, group.name, parent, ObjectIds.HasComponent,
                     self.nid(group.type_name), group.description)
            owner.groups[group.name] = node
            self.component(owner, node, group, settings, sampling_ms)


def build_instances(server: Server, ns: int, config: PlantConfig, tags: TagTable) -> NodeMap:
    """Objects/Plant/<tank> for every tank and Objects/Simulation; returns the map."""
    plant = node_id(PLANT_FOLDER, ns)
    simulation = ObjectNodes(SIMULATION, None, node_id(SIMULATION, ns))
    nodes = NodeMap(ns, plant, simulation)
    batch = _Batch(server.iserver.aspace, ns, nodes)
    objects = node_id(ObjectIds.ObjectsFolder)
    sampling_ms = config.opcua.min_sampling_interval * 1000.0
    batch.obj(plant, PLANT_FOLDER, objects, ObjectIds.Organizes, node_id(ObjectIds.FolderType),
              "The tanks of the plant, one object per tank")
    sim = simulation_model(tags)
    batch.obj(simulation.node, SIMULATION, objects, ObjectIds.Organizes,
              batch.nid(sim.type_name), sim.description)
    batch.component(simulation, simulation.node, sim, None, sampling_ms)
    tank = tank_model(tags)
    for index, entry in enumerate(config.tanks):
        owner = ObjectNodes(entry.name, index, batch.nid(entry.name))
        batch.obj(owner.node, entry.name, plant, ObjectIds.Organizes,
                  batch.nid(tank.type_name), f"Tank {entry.name}")
        batch.component(owner, owner.node, tank, entry.settings, sampling_ms)
        nodes.tanks.append(owner)
    return nodes


def attach_reads(server: Server, nodes: NodeMap, read: ReadCallback) -> None:
    """Every tag variable answers Reads through ``read``."""
    for node in nodes.points:
        server.iserver.set_attribute_value_callback(node, read)
