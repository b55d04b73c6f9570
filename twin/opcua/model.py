"""The information model, derived from the tag table: one description that both
the NodeSet (types) and the address space (one instance per tank) are built from.

A tank is ``TankType``: its process values directly below it, the rest grouped
in component objects (``Controller``, ``Status``, ...). Every tag becomes a
variable whose browse name is the tag's name; a command tag (a pulse, e.g.
``reset``) also becomes a method (``Reset``). The simulation is one
``SimulationType`` object with the methods Pause, Resume, Step, SetTimeScale and ResetAll.

NodeIds are strings that depend only on names, so they are stable across
restarts and plant changes: ``<tank>.<tag>`` for a tag whatever group it sits
in, ``<tank>.<Group>`` for a group, ``<tank>.<Method>``, and ``<node>.<Property>``
for properties (``T101.level.EURange``). Types use the type's name as prefix.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from twin.opcua.config import RESERVED_NAMES
from twin.tags import Access, DataType, Role, Tag, TagTable

NAMESPACE_URI = "urn:tank-twin:model"
PLANT_FOLDER, SIMULATION = RESERVED_NAMES  # NodeIds of their own: no tank may take them

# Which component object a tank tag lives in ("" = directly under the tank). A
# tag not listed falls back to its source ("alarm.*" -> Alarms), then the tank.
_GROUPS = {
    "Controller": ("mode", "gain", "integral_time", "derivative_time", "bias", "output_min",
                   "output_max", "integral_limit", "derivative_on", "integral"),
    "Status": ("overflowing", "empty"),
    "Valve": ("valve_characteristic", "rangeability", "valve_coefficient",
              "valve_time_constant", "valve_rate_limit"),
    "Disturbances": ("noise_std", "measurement_bias", "disturbance", "disturbance_sigma",
                     "disturbance_min", "disturbance_max", "leak"),
    "Geometry": ("area", "height"),
}
_GROUP_OF = {name: group for group, names in _GROUPS.items() for name in names}
_SOURCE_GROUPS = {"alarm": "Alarms"}


class VariableKind(enum.Enum):
    """The OPC UA variable type a tag is shown as (Part 8 for the analog and discrete types)."""

    ANALOG_RANGE = "AnalogUnitRangeType"  # a Double with a unit and a full range
    ANALOG = "AnalogUnitType"  # a Double with a unit, open range: no EURange
    MULTISTATE = "MultiStateDiscreteType"  # an enumeration: UInt32 code + EnumStrings
    PLAIN = "BaseDataVariableType"  # Boolean, UInt64


@dataclass(frozen=True, slots=True)
class Argument:
    name: str
    type_name: str  # a built-in OPC UA data type: "UInt32", "Double"
    description: str


@dataclass(frozen=True, slots=True)
class Method:
    name: str
    description: str
    role: Role  # the lowest role allowed to call it
    inputs: tuple[Argument, ...] = ()
    tag: Tag | None = None  # the command tag it triggers (a tank's pulse)


@dataclass(frozen=True, slots=True)
class Component:
    """An object node: a tank, one of its groups, or the simulation."""

    name: str  # browse name, and the NodeId suffix of a group
    type_name: str  # its ObjectType's browse name
    description: str
    tags: tuple[Tag, ...]
    methods: tuple[Method, ...] = ()
    groups: tuple[Component, ...] = ()

    def walk(self) -> tuple[Component, ...]:
        """This component and its groups, depth first."""
        return (self, *(c for group in self.groups for c in group.walk()))


def tag_node_id(tank: str | None, tag: str) -> str:
    """The string identifier of a tag's variable: ``T101.level``, ``Simulation.sim_time``."""
    return f"{tank or SIMULATION}.{tag}"


def expanded_node_id(tank: str | None, tag: str) -> str:
    """The NodeId with our namespace URI, as exported: valid whatever the namespace index."""
    return f"nsu={NAMESPACE_URI};s={tag_node_id(tank, tag)}"


def variable_kind(tag: Tag) -> VariableKind:
    if tag.dtype is DataType.ENUM:
        return VariableKind.MULTISTATE
    if tag.dtype is DataType.DOUBLE and tag.unit is not None:
        full = tag.low is not None and tag.high is not None
        return VariableKind.ANALOG_RANGE if full else VariableKind.ANALOG
    return VariableKind.PLAIN


def method_name(tag: Tag) -> str:
    """``reset`` -> ``Reset``, ``level_alarm_acknowledge`` -> ``LevelAlarmAcknowledge``."""
    return "".join(part.capitalize() for part in tag.name.split("_"))


def required_role(access: Access) -> Role:
    return Role.OPERATOR if access is Access.OPERATOR else Role.ENGINEER


def group_of(tag: Tag) -> str:
    if tag.name in _GROUP_OF:
        return _GROUP_OF[tag.name]
    return _SOURCE_GROUPS.get(tag.source.partition(".")[0], "")


def tank_model(tags: TagTable) -> Component:
    """``TankType``: every tank tag, grouped, plus a method per command tag."""
    order: list[str] = [""]
    members: dict[str, list[Tag]] = {"": []}
    for tag in tags.tank:
        group = group_of(tag)
        if group not in members:
            order.append(group)
            members[group] = []
        members[group].append(tag)
    groups = tuple(_component(g, f"{g}Type", f"The tank's {g.lower()}", members[g])
                   for g in order[1:])
    return _component("Tank", "TankType", "A level-controlled tank", members[""], groups)


def _component(name: str, type_name: str, description: str, tags: list[Tag],
               groups: tuple[Component, ...] = ()) -> Component:
    methods = tuple(
        Method(method_name(t), t.description.replace("Write true to", "Call to"),
               required_role(t.access), tag=t)
        for t in tags if t.kind.value == "command"
    )
    return Component(name, type_name, description, tuple(tags), methods, groups)


def simulation_model(tags: TagTable) -> Component:
    """``SimulationType``: the simulation tags and the lock-step methods."""
    control = required_role(tags.simulation_tag("running").access)
    scale = required_role(tags.simulation_tag("time_scale").access)
    methods = (
        Method("Pause", "Pause the simulation (the plant holds its state)", control),
        Method("Resume", "Resume real-time (or scaled) stepping", control),
        Method("Step", "While paused, advance exactly this many scans", control,
               (Argument("scans", "UInt32", "number of scans, 1..1000000"),)),
        Method("SetTimeScale", "Set simulated seconds per wall-clock second", scale,
               (Argument("time_scale", "Double", "0.1 .. 1000"),)),
        *(Method(method_name(t), t.description.replace("Write true to", "Call to"),
                 required_role(t.access), tag=t)  # ResetAll
          for t in tags.simulation if t.kind.value == "command"),
    )
    return Component(SIMULATION, "SimulationType", "The simulation clock and its control",
                     tags.simulation, methods)
