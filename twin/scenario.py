"""Plays a scenario into a running engine, deterministically in simulation time.

The player is a snapshot subscriber: after each scan (simulation time ``T``) it
submits every action due at ``T`` through ``Engine.submit`` with
``Source("scenario", ...)``, so each write is validated, logged and counted like
a client's, and the engine applies it at the next scan boundary, i.e. for the scan
that starts at ``T``. An event at ``at`` therefore acts from the first scan boundary
at or after ``at``. Ramps write their interpolated value at every boundary. A write
refused at run time (e.g. a valve command in AUTO) is logged and counted, and the
scenario goes on; writes refused only because of their order within one boundary
(an alarm limit passing another) are retried after the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog

from twin.commands import Source
from twin.errors import CommandError, OutOfRangeError
from twin.scenario_config import Action, Scenario, Value
from twin.tags import Role

if TYPE_CHECKING:
    from twin.engine import Engine
    from twin.snapshot import Snapshot

log = structlog.get_logger(__name__)

EPSILON = 1e-6  # s: a boundary this close to an event's time counts as reaching it


class ScenarioPlayer:
    def __init__(self, scenario: Scenario, engine: Engine) -> None:
        self.scenario = scenario
        self.engine = engine
        self.source = Source("scenario", scenario.name, "scenario", Role.ENGINEER)
        self.start: float | None = None  # simulation time of the scenario's t = 0
        self.next = 0  # index of the first action not yet started
        self.active: dict[int, float] = {}  # running ramps: action index -> start value
        self.previous: dict[int, Value] = {}  # set actions with a restore: value before
        self.refused = 0
        self._restored = {a.ref for a in scenario.actions if a.kind == "restore"}

    # -- lifecycle ----------------------------------------------------------------
    def begin(self) -> None:
        """Start (or continue, after ``restore``) at the engine's present time and
        submit what is due now; then subscribe for every scan."""
        if self.start is None:
            self.start = self.engine.snapshot.sim_time
            log.info("scenario_started", scenario=self.scenario.name,
                     events=self.scenario.events, at_s=self.start)
        self._boundary(self.engine.snapshot.sim_time)
        self.engine.subscribe(self)

    def __call__(self, snapshot: Snapshot) -> None:
        self._boundary(snapshot.sim_time)

    @property
    def finished(self) -> bool:
        return self.next >= len(self.scenario.actions) and not self.active

    # -- state (state file) -------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"scenario": self.scenario.name, "start": self.start, "next": self.next,
                "active": [[k, v] for k, v in self.active.items()],
                "previous": [[k, v] for k, v in self.previous.items()], "refused": self.refused}

    def restore(self, state: dict[str, Any]) -> None:
        self.start = state["start"]
        self.next = int(state["next"])
        self.active = {int(k): float(v) for k, v in state["active"]}
        self.previous = {int(k): v for k, v in state["previous"]}
        self.refused = int(state.get("refused", 0))

    # -- the timeline -------------------------------------------------------------
    def _boundary(self, sim_time: float) -> None:
        assert self.start is not None
        now = sim_time - self.start
        actions = self.scenario.actions
        writes: list[tuple[Action, Value]] = []
        while self.next < len(actions) and actions[self.next].at <= now + EPSILON:
            index, action = self.next, actions[self.next]
            self.next += 1
            if action.kind == "ramp":
                tag = self.engine.validator.resolve(action.tag, action.tank)
                self.active[index] = float(self.engine.current(tag, action.tank))
                continue
            if index in self._restored:
                tag = self.engine.validator.resolve(action.tag, action.tank)
                self.previous[index] = self.engine.current(tag, action.tank)
            if action.kind == "restore":
                value = action.value if action.value is not None else self.previous.pop(
                    action.ref, None)
                if value is None:
                    continue
                writes.append((action, value))
            else:
                assert action.value is not None
                writes.append((action, action.value))
        for index, start in list(self.active.items()):
            action = actions[index]
            assert isinstance(action.value, float)
            span = action.end - action.at
            fraction = min(1.0, max(0.0, (now - action.at) / span))
            if fraction >= 1.0 - EPSILON / span:
                fraction = 1.0
                del self.active[index]
            if fraction > 0.0:
                writes.append((action, start + (action.value - start) * fraction))
        self._submit(writes)

    def _submit(self, writes: list[tuple[Action, Value]]) -> None:
        pending = writes
        while pending:
            deferred: list[tuple[Action, Value]] = []
            for action, value in pending:
                if len(pending) > 1 and not self._fits(action, value):
                    deferred.append((action, value))  # maybe only its order: after the others
                    continue
                self._write(action, value)
            if len(deferred) == len(pending):  # no progress: write them, refused and logged
                for action, value in deferred:
                    self._write(action, value)
                return
            pending = deferred

    def _fits(self, action: Action, value: Value) -> bool:
        """Whether the engine would accept the write now (checked without logging)."""
        try:
            self.engine.validator.validate(action.tag, action.tank, value, self.source,
                                           self.engine.current)
        except OutOfRangeError:
            return False
        except CommandError:
            return True  # refused whatever the order: let the engine say so
        return True

    def _write(self, action: Action, value: Value) -> None:
        try:
            self.engine.submit(action.tag, action.tank, value, self.source)
        except CommandError as exc:
            self._refused(action, value, exc)

    def _refused(self, action: Action, value: Value, exc: CommandError) -> None:
        self.refused += 1
        log.warning("scenario_write_refused", scenario=self.scenario.name, event=action.event,
                    target=exc.target, value=value, reason=exc.reason)

