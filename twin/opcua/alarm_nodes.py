"""The address-space side of the level alarm conditions (Part 9, 5.5-5.8).

Each tank gets a ``LevelAlarm`` object of ExclusiveLevelAlarmType below it, with
the variables a client reads without events (ActiveState/Id, AckedState/Id,
LimitState/CurrentState, Retain, ...). Their values are the fields of the
condition's latest event, written on every transition only. The references that
make events reach the Server object are added too (Part 3, 7.16-7.19):

    Server --HasNotifier--> Plant --HasNotifier--> <tank> --HasCondition--> LevelAlarm

Acknowledge and Confirm are the AcknowledgeableConditionType's own method nodes,
referenced from every condition (a Method may be shared, Part 3, 5.7); clients
call them with the condition as ObjectId, as Part 9, 5.7.3 requires servers to
accept.
"""

from __future__ import annotations

from asyncua import ua
from asyncua.common.events import Event
from asyncua.server.server import Server

from twin.opcua.condition import CONDITION_NAME, LevelCondition, field
from twin.opcua.ua_values import AttributeIds, ObjectIds, node_id

O = ObjectIds  # noqa: E741
# (browse path, DataType, TypeDefinition, reference from the parent)
_PROP = (O.PropertyType, O.HasProperty)
_TWO_STATE = (O.TwoStateVariableType, O.HasComponent)
_CONDITION_VAR = (O.ConditionVariableType, O.HasComponent)
_FIELDS: tuple[tuple[str, int, tuple[int, int]], ...] = (
    ("EventId", O.ByteString, _PROP),
    ("EventType", O.NodeId, _PROP),
    ("SourceNode", O.NodeId, _PROP),
    ("SourceName", O.String, _PROP),
    ("Time", O.UtcTime, _PROP),
    ("ReceiveTime", O.UtcTime, _PROP),
    ("Message", O.LocalizedText, _PROP),
    ("Severity", O.UInt16, _PROP),
    ("ConditionClassId", O.NodeId, _PROP),
    ("ConditionClassName", O.LocalizedText, _PROP),
    ("ConditionName", O.String, _PROP),
    ("BranchId", O.NodeId, _PROP),
    ("Retain", O.Boolean, _PROP),
    ("EnabledState", O.LocalizedText, _TWO_STATE),
    ("EnabledState/Id", O.Boolean, _PROP),
    ("Quality", O.StatusCode, _CONDITION_VAR),
    ("LastSeverity", O.UInt16, _CONDITION_VAR),
    ("Comment", O.LocalizedText, _CONDITION_VAR),
    ("ClientUserId", O.String, _PROP),
    ("AckedState", O.LocalizedText, _TWO_STATE),
    ("AckedState/Id", O.Boolean, _PROP),
    ("ConfirmedState", O.LocalizedText, _TWO_STATE),
    ("ConfirmedState/Id", O.Boolean, _PROP),
    ("ActiveState", O.LocalizedText, _TWO_STATE),
    ("ActiveState/Id", O.Boolean, _PROP),
    ("ActiveState/TransitionTime", O.UtcTime, _PROP),
    ("InputNode", O.NodeId, _PROP),
    ("SuppressedOrShelved", O.Boolean, _PROP),
    ("HighHighLimit", O.Double, _PROP),
    ("HighLimit", O.Double, _PROP),
    ("LowLimit", O.Double, _PROP),
    ("LowLowLimit", O.Double, _PROP),
    ("LimitState/CurrentState", O.LocalizedText, (O.FiniteStateVariableType, O.HasComponent)),
    ("LimitState/CurrentState/Id", O.NodeId, _PROP),
)
METHODS = (O.AcknowledgeableConditionType_Acknowledge, O.AcknowledgeableConditionType_Confirm)


def child_id(condition: ua.NodeId, path: str) -> ua.NodeId:
    """NodeId of a condition's child: ``T101.LevelAlarm.ActiveState.Id``."""
    return node_id(f"{_text(condition)}.{path.replace('/', '.')}",
                     condition.NamespaceIndex)


def condition_id(tank: ua.NodeId) -> ua.NodeId:
    return node_id(f"{_text(tank)}.{CONDITION_NAME}", tank.NamespaceIndex)


def _text(node: ua.NodeId) -> str:
    """A node's identifier as text (ours are strings: ``T101``)."""
    ident = node.Identifier
    return ident.decode() if isinstance(ident, bytes) else str(ident)


async def add_condition_nodes(server: Server, conditions: list[LevelCondition]) -> None:
    """Create every condition object with its variables (valued from the condition's
    latest event), in one AddNodes call."""
    items: list[ua.AddNodesItem] = []
    for cond in conditions:
        assert cond.event is not None, "update() the condition first"
        items.append(_object(cond.node, cond.source, CONDITION_NAME, O.ExclusiveLevelAlarmType))
        items.append(_object(child_id(cond.node, "LimitState"), cond.node, "LimitState",
                             O.ExclusiveLimitStateMachineType))
        for path, datatype, (typedef, reference) in _FIELDS:
            parent, _, name = path.rpartition("/")
            parent_id = child_id(cond.node, parent) if parent else cond.node
            items.append(_variable(child_id(cond.node, path), parent_id, name, datatype,
                                   typedef, reference, _field(cond.event, path)))
    for result in await server.iserver.isession.add_nodes(items):
        result.StatusCode.check()
    refs = [(cond.node, O.HasComponent, node_id(method), ua.NodeClass.Method)
            for cond in conditions for method in METHODS]
    refs += [(cond.source, O.HasCondition, cond.node, ua.NodeClass.Object) for cond in conditions]
    await _add_references(server, refs)


async def link_notifiers(server: Server, plant: ua.NodeId, tanks: list[ua.NodeId]) -> None:
    """Server -> Plant -> tanks as notifiers, so clients may subscribe at any level."""
    links = [(node_id(O.Server), plant)] + [(plant, tank) for tank in tanks]
    await _add_references(server, [(a, O.HasNotifier, b, ua.NodeClass.Object) for a, b in links])
    notifier = ua.DataValue(ua.Variant(ua.EventNotifier.SubscribeToEvents.mask,
                                       ua.VariantType.Byte))
    for node in (plant, *tanks):
        await server.write_attribute_value(node, notifier, AttributeIds.EventNotifier)


async def show_event(server: Server, cond: LevelCondition, event: Event) -> None:
    """Write the event's fields into the condition's variables."""
    for path, _, _ in _FIELDS:
        await server.write_attribute_value(
            child_id(cond.node, path), ua.DataValue(_field(event, path),
                                                    SourceTimestamp=field(event, "Time")))


def _field(event: Event, path: str) -> ua.Variant:
    value = getattr(event, path, None)
    return ua.Variant() if value is None else ua.Variant(value, event.data_types[path])


Reference = tuple[ua.NodeId, int, ua.NodeId, ua.NodeClass]  # source, type, target, class


async def _add_references(server: Server, refs: list[Reference]) -> None:
    items = []
    for source, reference, target, target_class in refs:
        item = ua.AddReferencesItem()
        item.SourceNodeId, item.TargetNodeId = source, target
        item.ReferenceTypeId = node_id(reference)
        item.IsForward, item.TargetNodeClass = True, target_class
        items.append(item)
    for status in await server.iserver.isession.add_references(items):
        status.check()


def _object(node: ua.NodeId, parent: ua.NodeId, name: str, typedef: int) -> ua.AddNodesItem:
    item = _item(node, parent, name, ua.NodeClass.Object, typedef, O.HasComponent)
    attrs = ua.ObjectAttributes()
    attrs.DisplayName = ua.LocalizedText(name)
    attrs.EventNotifier = 0
    item.NodeAttributes = attrs
    return item


def _variable(node: ua.NodeId, parent: ua.NodeId, name: str, datatype: int, typedef: int,
              reference: int, value: ua.Variant) -> ua.AddNodesItem:
    item = _item(node, parent, name, ua.NodeClass.Variable, typedef, reference)
    attrs = ua.VariableAttributes()
    attrs.DisplayName = ua.LocalizedText(name)
    attrs.DataType = node_id(datatype)
    attrs.ValueRank = ua.ValueRank.Scalar
    attrs.AccessLevel = attrs.UserAccessLevel = ua.AccessLevel.CurrentRead.mask
    attrs.Value = value
    item.NodeAttributes = attrs
    return item


def _item(node: ua.NodeId, parent: ua.NodeId, name: str, node_class: ua.NodeClass,
          typedef: int, reference: int) -> ua.AddNodesItem:
    item = ua.AddNodesItem()
    item.RequestedNewNodeId = node
    item.ParentNodeId = parent
    item.BrowseName = ua.QualifiedName(name, 0 if name in _STANDARD else node.NamespaceIndex)
    item.NodeClass = node_class
    item.TypeDefinition = node_id(typedef)
    item.ReferenceTypeId = node_id(reference)
    return item


# Children defined by the standard types keep their namespace-0 browse names, so
# clients find them by the paths of Part 9 (e.g. 0:ActiveState/0:Id).
_STANDARD = {path.rpartition("/")[2] for path, _, _ in _FIELDS} | {"LimitState"}
