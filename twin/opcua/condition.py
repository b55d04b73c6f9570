"""One tank's level alarm as an OPC UA ExclusiveLevelAlarmType condition (Part 9, 5.8).

:class:`LevelCondition` holds what the address space and the events show of a
condition and builds the event notifications. The state itself (active limit,
acknowledged, confirmed) is the service's (:mod:`twin.alarms`): a condition
only mirrors a snapshot and remembers the EventIds it issued, so Acknowledge and
Confirm can validate the EventId a client sends.

Part 9 semantics followed here: every state change is a new event with a new
EventId; a new or escalated alarm is unacknowledged and (not yet needing a
confirmation) confirmed; Acknowledge leaves it unconfirmed; Retain is true while
the alarm is active, unacknowledged or unconfirmed (5.5.2). LimitState is NULL
while the alarm is inactive (5.8.19.3).
"""

from __future__ import annotations

import copy
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asyncua import ua
from asyncua.common.events import Event

from twin.alarms import HH, LL, NORMAL, H, L
from twin.opcua.ua_values import ObjectIds, StatusCodes, node_id, status

CONDITION_NAME = "LevelAlarm"
RECENT_EVENT_IDS = 32  # EventIds of one condition accepted by Acknowledge/Confirm

# Per state: (LimitState name, its state NodeId, Severity 1..1000, words in the Message).
_LIMITS = {
    HH: ("HighHigh", ObjectIds.ExclusiveLimitStateMachineType_HighHigh, 800, "high high"),
    H: ("High", ObjectIds.ExclusiveLimitStateMachineType_High, 500, "high"),
    L: ("Low", ObjectIds.ExclusiveLimitStateMachineType_Low, 500, "low"),
    LL: ("LowLow", ObjectIds.ExclusiveLimitStateMachineType_LowLow, 800, "low low"),
}
NORMAL_SEVERITY = 100

V = ua.VariantType


@dataclass(frozen=True, slots=True)
class AlarmState:
    """What a snapshot says about one tank's alarm."""

    state: int  # twin.alarms code: NORMAL, LL, L, H, HH
    acked: bool
    confirmed: bool
    level: float  # [m]
    limits: tuple[float, float, float, float]  # LL, L, H, HH [m]
    time: datetime  # source timestamp of the snapshot (UTC)

    @property
    def active(self) -> bool:
        return self.state != NORMAL

    @property
    def retain(self) -> bool:
        return self.active or not self.acked or not self.confirmed


@dataclass(slots=True)
class Annotation:
    """The comment and user of the last Acknowledge/Confirm, shown on the next event."""

    comment: ua.LocalizedText
    user: str


class LevelCondition:
    """The condition of one tank: its NodeIds, its latest event and recent EventIds."""

    def __init__(self, tank: str, node: ua.NodeId, source: ua.NodeId,
                 input_node: ua.NodeId | None) -> None:
        self.tank = tank
        self.node = node  # the condition object (ConditionId)
        self.source = source  # the tank object (SourceNode)
        self.input_node = input_node  # the level variable (InputNode)
        self.state: AlarmState | None = None
        self.event: Event | None = None  # the latest notification, resent by a refresh
        self.annotation: Annotation | None = None
        self._event_ids: deque[bytes] = deque(maxlen=RECENT_EVENT_IDS)
        self._active_since: datetime | None = None

    def knows(self, event_id: bytes) -> bool:
        return event_id in self._event_ids

    def update(self, state: AlarmState) -> Event:
        """Take a new state; returns the event notification describing it."""
        if self.state is None or self.state.active != state.active:
            self._active_since = state.time
        self.state = state
        self.event = self._build(state)
        self._event_ids.append(field(self.event, "EventId"))
        return self.event

    def _build(self, s: AlarmState) -> Event:
        ev = Event(self.source)
        ev.add_property("EventId", uuid.uuid4().bytes, V.ByteString)
        ev.add_property("EventType", node_id(ObjectIds.ExclusiveLevelAlarmType), V.NodeId)
        ev.add_property("SourceNode", self.source, V.NodeId)
        ev.add_property("SourceName", self.tank, V.String)
        ev.add_property("Time", s.time, V.DateTime)
        ev.add_property("ReceiveTime", datetime.now(UTC), V.DateTime)
        ev.add_property("Message", ua.LocalizedText(self._message(s)), V.LocalizedText)
        severity = _LIMITS[s.state][2] if s.active else NORMAL_SEVERITY
        ev.add_property("Severity", severity, V.UInt16)
        last = field(self.event, "Severity") if self.event is not None else severity
        ev.add_property("LastSeverity", last, V.UInt16)
        ev.add_property("NodeId", self.node, V.NodeId)  # ConditionId
        _condition_fields(ev, s, self.input_node)
        _state_fields(ev, s, self._active_since)
        note = self.annotation
        ev.add_property("Comment", note.comment if note else ua.LocalizedText(), V.LocalizedText)
        ev.add_property("ClientUserId", note.user if note else "", V.String)
        return ev

    def _message(self, s: AlarmState) -> str:
        if not s.active:
            return f"{self.tank}: level back to normal ({s.level:.3f} m)"
        words = _LIMITS[s.state][3]
        limit = s.limits[(LL, L, H, HH).index(s.state)]
        return f"{self.tank}: level {words} ({s.level:.3f} m, limit {limit:g} m)"


def _condition_fields(ev: Event, s: AlarmState, input_node: ua.NodeId | None) -> None:
    ev.add_property("ConditionClassId", node_id(ObjectIds.ProcessConditionClassType),
                    V.NodeId)
    ev.add_property("ConditionClassName", ua.LocalizedText("Process"), V.LocalizedText)
    ev.add_property("ConditionName", CONDITION_NAME, V.String)
    ev.add_property("BranchId", ua.NodeId(), V.NodeId)  # no branches
    ev.add_property("Retain", s.retain, V.Boolean)
    ev.add_property("EnabledState", ua.LocalizedText("Enabled"), V.LocalizedText)
    ev.add_property("EnabledState/Id", True, V.Boolean)
    ev.add_property("Quality", status(StatusCodes.Good), V.StatusCode)
    ev.add_property("InputNode", input_node or ua.NodeId(), V.NodeId)
    ev.add_property("SuppressedOrShelved", False, V.Boolean)
    for name, value in zip(("LowLowLimit", "LowLimit", "HighLimit", "HighHighLimit"),
                           s.limits, strict=True):
        ev.add_property(name, value, V.Double)


def _state_fields(ev: Event, s: AlarmState, since: datetime | None) -> None:
    ev.add_property("AckedState", ua.LocalizedText(
        "Acknowledged" if s.acked else "Unacknowledged"), V.LocalizedText)
    ev.add_property("AckedState/Id", s.acked, V.Boolean)
    ev.add_property("ConfirmedState", ua.LocalizedText(
        "Confirmed" if s.confirmed else "Unconfirmed"), V.LocalizedText)
    ev.add_property("ConfirmedState/Id", s.confirmed, V.Boolean)
    limit = _LIMITS.get(s.state)
    ev.add_property("ActiveState", ua.LocalizedText(
        f"{limit[0]} active" if limit else "Inactive"), V.LocalizedText)
    ev.add_property("ActiveState/Id", s.active, V.Boolean)
    ev.add_property("ActiveState/TransitionTime", since, V.DateTime)
    ev.add_property("LimitState/CurrentState",
                    ua.LocalizedText(limit[0]) if limit else None, V.LocalizedText)
    ev.add_property("LimitState/CurrentState/Id",
                    node_id(limit[1]) if limit else None, V.NodeId)


def refresh_event(kind: int, tank_or_server: ua.NodeId) -> Event:
    """A RefreshStartEvent or RefreshEndEvent (Part 9, 5.11) with a fresh EventId."""
    ev = Event(tank_or_server)
    ev.add_property("EventId", uuid.uuid4().bytes, V.ByteString)
    ev.add_property("EventType", node_id(kind), V.NodeId)
    ev.add_property("SourceNode", node_id(ObjectIds.Server), V.NodeId)
    ev.add_property("SourceName", "Server", V.String)
    now = datetime.now(UTC)
    ev.add_property("Time", now, V.DateTime)
    ev.add_property("ReceiveTime", now, V.DateTime)
    ev.add_property("Message", ua.LocalizedText(""), V.LocalizedText)
    ev.add_property("Severity", 1, V.UInt16)
    return ev


def field(event: Event, name: str) -> Any:
    """An event field by its browse path (``"ActiveState/Id"``); fields are dynamic."""
    return getattr(event, name)


def emitted_by(event: Event, notifier: ua.NodeId) -> Event:
    """A shallow copy of ``event`` as raised by ``notifier`` (asyncua routes on it)."""
    twin_event = copy.copy(event)
    twin_event.emitting_node = notifier
    return twin_event
