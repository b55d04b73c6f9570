"""Level alarms as OPC UA alarm conditions: events, Acknowledge, Confirm, ConditionRefresh.

asyncua has no alarm state machine; the state is the service's
(:mod:`twin.alarms`), evaluated once per scan. This front end turns the changes
it finds between snapshots into ExclusiveLevelAlarmType events, and turns
Acknowledge and Confirm calls into the command tags ``level_alarm_acknowledge``
and ``level_alarm_confirm``: through the engine's single write path, so every
call is checked against the caller's role, logged once with its source and
result, and counted in ``twin_commands_total``.

Usage (by the OPC UA server, once its address space exists)::

    alarms = OpcUaAlarms(server, engine, tank_nodes, plant_node, caller,
                         level_nodes=level_nodes, observer=metrics)
    async with alarms:   # start(): nodes, references, method bindings, subscription
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog
from asyncua import ua
from asyncua.server.server import Server

from twin.alarms import AlarmColumns
from twin.commands import Source
from twin.errors import CommandError
from twin.opcua import alarm_nodes, event_routing
from twin.opcua.condition import AlarmState, Annotation, LevelCondition
from twin.opcua.ua_values import ObjectIds, StatusCodes, node_id, status
from twin.opcua.writes import refuse, status_of

if TYPE_CHECKING:
    from twin.engine import Engine, EngineObserver
    from twin.snapshot import Snapshot

log = structlog.get_logger(__name__)

Caller = Callable[[], Source]  # the Source (protocol, session, user, role) of the current call
_LIMIT_KEYS = ("alarm.low_low", "alarm.low", "alarm.high", "alarm.high_high")
O = ObjectIds  # noqa: E741


class OpcUaAlarms:
    """The level alarm conditions of one twin's OPC UA server."""

    def __init__(
        self,
        server: Server,
        engine: Engine,
        tank_nodes: Sequence[ua.NodeId],
        plant_node: ua.NodeId,
        caller: Caller,
        *,
        level_nodes: Sequence[ua.NodeId] | None = None,
        observer: EngineObserver | None = None,
    ) -> None:
        names = tuple(tank.name for tank in engine.config.tanks)
        if len(tank_nodes) != len(names):
            raise ValueError(f"{len(tank_nodes)} tank nodes for {len(names)} tanks")
        self._server = server
        self._engine = engine
        self._plant = plant_node
        self._caller = caller
        self._observer = observer
        inputs: Sequence[ua.NodeId | None] = level_nodes or [None] * len(names)
        self._conditions = [
            LevelCondition(name, alarm_nodes.condition_id(node), node, level)
            for name, node, level in zip(names, tank_nodes, inputs, strict=True)
        ]
        self._by_node = {cond.node: (index, cond) for index, cond in enumerate(self._conditions)}
        self._retained: dict[int, LevelCondition] = {}
        self._last: AlarmColumns | None = None
        self._queue: asyncio.Queue[tuple[Snapshot, np.ndarray]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None

    # -- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        snapshot = self._engine.snapshot
        self._last = AlarmColumns.of(snapshot)
        for index, cond in enumerate(self._conditions):
            self._track(index, cond, cond.update(_state_of(snapshot, index)))
        await alarm_nodes.add_condition_nodes(self._server, self._conditions)
        await alarm_nodes.link_notifiers(self._server, self._plant,
                                         [cond.source for cond in self._conditions])
        self._bind_methods(bind=True)
        self._task = asyncio.create_task(self._publish_changes(), name="opcua-alarms")
        self._unsubscribe = self._engine.subscribe(self._on_snapshot)
        log.info("opcua_alarms_started", conditions=len(self._conditions),
                 retained=len(self._retained))

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._bind_methods(bind=False)

    async def __aenter__(self) -> OpcUaAlarms:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def condition_node(self, tank: int) -> ua.NodeId:
        """The ConditionId of a tank's level alarm."""
        return self._conditions[tank].node

    # -- transitions --------------------------------------------------------------------
    def _on_snapshot(self, snapshot: Snapshot) -> None:
        """Engine fan-out (synchronous, once per scan): find the tanks that changed."""
        columns = AlarmColumns.of(snapshot)
        changed = columns.changed_since(self._last)
        self._last = columns
        if len(changed):
            self._queue.put_nowait((snapshot, changed))

    async def _publish_changes(self) -> None:
        while True:
            snapshot, changed = await self._queue.get()
            for index in changed.tolist():
                try:
                    await self._publish(index, _state_of(snapshot, index))
                except Exception:  # one bad event must not end the alarms
                    log.exception("alarm_event_failed", tank=self._conditions[index].tank)

    async def _publish(self, index: int, state: AlarmState) -> None:
        cond = self._conditions[index]
        event = cond.update(state)
        self._track(index, cond, event)
        await alarm_nodes.show_event(self._server, cond, event)
        await event_routing.deliver(self._server, event, self._notifiers(cond))

    def _track(self, index: int, cond: LevelCondition, event: Any) -> None:
        if event.Retain:
            self._retained[index] = cond
        else:
            self._retained.pop(index, None)

    def _notifiers(self, cond: LevelCondition) -> tuple[ua.NodeId, ...]:
        return cond.source, self._plant, node_id(O.Server)

    # -- methods ---------------------------------------------------------------------------
    def _bind_methods(self, *, bind: bool) -> None:
        session = self._server.iserver.isession
        handlers: dict[int, Any] = {
            O.AcknowledgeableConditionType_Acknowledge: self._acknowledge,
            O.AcknowledgeableConditionType_Confirm: self._confirm,
            O.ConditionType_ConditionRefresh: self._condition_refresh,
            O.ConditionType_ConditionRefresh2: self._condition_refresh2,
        }
        for method, handler in handlers.items():
            callback: Any = handler if bind else None  # None: BadNothingToDo again
            session.add_method_callback(node_id(method), callback)

    async def _acknowledge(self, parent: ua.NodeId, *args: ua.Variant) -> Any:
        """AcknowledgeableConditionType.Acknowledge(EventId, Comment), Part 9, 5.7.3."""
        return await self._ack_or_confirm(parent, args, "level_alarm_acknowledge")

    async def _confirm(self, parent: ua.NodeId, *args: ua.Variant) -> Any:
        """AcknowledgeableConditionType.Confirm(EventId, Comment), Part 9, 5.7.4."""
        return await self._ack_or_confirm(parent, args, "level_alarm_confirm")

    async def _ack_or_confirm(self, parent: ua.NodeId, args: tuple[ua.Variant, ...],
                              tag: str) -> Any:
        found = self._by_node.get(parent)
        if found is None:  # e.g. called on the type's node instead of a condition
            return status(StatusCodes.BadNodeIdInvalid)
        if len(args) != 2:
            return status(StatusCodes.BadArgumentsMissing if len(args) < 2
                                 else StatusCodes.BadTooManyArguments)
        index, cond = found
        source = self._caller()
        target = f"tank {index}: {tag}"
        try:
            self._engine.validator.validate(tag, index, True, source, self._engine.current)
        except CommandError as exc:
            return self._refuse(source, target, status_of(exc), exc.reason)
        refusal = self._check_event(cond, args, acknowledge=tag.endswith("acknowledge"))
        if refusal is not None:
            return self._refuse(source, target, *refusal)
        return self._submit(index, cond, tag, source, args[1].Value)

    def _check_event(self, cond: LevelCondition, args: tuple[ua.Variant, ...],
                     *, acknowledge: bool) -> tuple[int, str] | None:
        event_id, comment = args[0].Value, args[1].Value
        if not isinstance(event_id, bytes) or not cond.knows(event_id):
            return StatusCodes.BadEventIdUnknown, "EventId unknown"
        if comment is not None and not isinstance(comment, ua.LocalizedText):
            return StatusCodes.BadInvalidArgument, "Comment must be a LocalizedText"
        assert cond.state is not None
        if acknowledge and cond.state.acked:
            return StatusCodes.BadConditionBranchAlreadyAcked, "already acknowledged"
        if not acknowledge and cond.state.confirmed:
            return StatusCodes.BadConditionBranchAlreadyConfirmed, "already confirmed"
        return None

    def _submit(self, index: int, cond: LevelCondition, tag: str, source: Source,
                comment: ua.LocalizedText | None) -> Any:
        try:  # logged and counted by the engine when refused here or applied later
            self._engine.submit(tag, index, True, source)
        except CommandError as exc:
            return status(status_of(exc))
        cond.annotation = Annotation(comment or ua.LocalizedText(), source.user)
        return []

    def _refuse(self, source: Source, target: str, code: int, reason: str) -> ua.StatusCode:
        """A call refused before reaching the engine: logged and counted here, once."""
        return status(refuse(self._observer, source, target, code, reason))

    async def _condition_refresh(self, parent: ua.NodeId, *args: ua.Variant) -> Any:
        """ConditionType.ConditionRefresh(SubscriptionId), Part 9, 5.5.7."""
        if len(args) != 1:
            return status(StatusCodes.BadArgumentsMissing)
        return await self._refresh(args[0].Value, None)

    async def _condition_refresh2(self, parent: ua.NodeId, *args: ua.Variant) -> Any:
        """ConditionType.ConditionRefresh2(SubscriptionId, MonitoredItemId), Part 9, 5.5.8."""
        if len(args) != 2:
            return status(StatusCodes.BadArgumentsMissing)
        return await self._refresh(args[0].Value, int(args[1].Value))

    async def _refresh(self, subscription_id: Any, item: int | None) -> Any:
        subscription = event_routing.find_subscription(self._server, subscription_id)
        if subscription is None:
            return status(StatusCodes.BadSubscriptionIdInvalid)
        items = event_routing.event_items(subscription, item)
        if not items:
            return status(StatusCodes.BadMonitoredItemIdInvalid if item is not None
                                 else StatusCodes.BadNothingToDo)
        retained = [(cond.event, self._notifiers(cond)) for cond in self._retained.values()
                    if cond.event is not None]
        await event_routing.refresh(subscription, items, retained)
        log.info("condition_refresh", subscription=subscription_id, items=len(items),
                 retained=len(retained))
        return []


def _state_of(snapshot: Snapshot, tank: int) -> AlarmState:
    s = snapshot.state
    return AlarmState(
        state=int(s["alarm.state"][tank]),
        acked=bool(s["alarm.acked"][tank]),
        confirmed=bool(s["alarm.confirmed"][tank]),
        level=float(s["level"][tank]),
        limits=tuple(float(s[key][tank]) for key in _LIMIT_KEYS),  # type: ignore[arg-type]
        time=datetime.fromtimestamp(snapshot.wall_time, UTC),
    )
