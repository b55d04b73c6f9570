"""Level alarms HH/H/L/LL of every tank, evaluated once per scan on the measured level.

An :class:`~twin.engine.EngineExtension` (prefix ``alarm``): the engine applies
writes to the ``alarm.*`` tags through :meth:`LevelAlarms.apply` at the scan
boundary and puts the arrays :meth:`LevelAlarms.evaluate` returns into every
snapshot, so the states are plain tags for every front end (OPC UA variables,
Modbus, Prometheus) and the OPC UA alarm conditions are fed from the snapshots.

Each limit has its own hysteresis: a high alarm becomes active at ``level >= limit``
and clears at ``level < limit - deadband``; a low alarm becomes active at
``level <= limit`` and clears at ``level > limit + deadband``. The exclusive state
is the most severe active alarm (HH, LL, H, L, else NORMAL).

Acknowledgement (ISA-18.2 / OPC UA Part 9, 4.3): a transition into an active
state other than a de-escalation (HH -> H, LL -> L) makes the alarm
unacknowledged; acknowledging it leaves it to be confirmed; confirming completes
it. Everything is vectorised over the tanks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import structlog

from twin.errors import CommandError, OutOfRangeError
from twin.tags import ALARM_STATES
from twin.tank_config import ALARM_SETTINGS, alarm_order_problems

if TYPE_CHECKING:
    from twin.commands import Command
    from twin.config import PlantConfig
    from twin.snapshot import Snapshot

log = structlog.get_logger(__name__)

NORMAL, LL, L, H, HH = range(len(ALARM_STATES))
SETTING_KEYS = {name: "alarm." + name.removeprefix("alarm_") for name in ALARM_SETTINGS}
MAX_LOGGED_TRANSITIONS = 20  # per scan; beyond this one summary line

Bools = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]
Codes = npt.NDArray[np.int8]


class LevelAlarms:
    """The level alarms of one plant (one object per twin; nothing global)."""

    prefix = "alarm"

    def __init__(self, config: PlantConfig) -> None:
        self._names = tuple(tank.name for tank in config.tanks)
        n = len(self._names)
        self._settings: dict[str, Floats] = {
            SETTING_KEYS[name]: np.array(
                [tank.settings.alarm_setting(name) for tank in config.tanks], dtype=np.float64
            )
            for name in ALARM_SETTINGS
        }
        self._active: dict[str, Bools] = {
            key: np.zeros(n, dtype=bool) for key in ("hh", "h", "l", "ll")
        }
        self._state: Codes = np.zeros(n, dtype=np.int8)
        self._acked: Bools = np.ones(n, dtype=bool)
        self._confirmed: Bools = np.ones(n, dtype=bool)
        self._pulse: Bools = np.zeros(n, dtype=bool)  # command tags read as false
        self._published: dict[str, npt.NDArray[np.generic]] = {}
        self._dirty = True

    # -- EngineExtension ----------------------------------------------------------
    def apply(self, command: Command) -> None:
        """A limit write, an acknowledgement or a confirmation, at the scan boundary."""
        key, tank = command.tag.source, command.tank
        if tank is None:
            raise CommandError(command.target, "level alarms belong to a tank")
        if key in self._settings:
            self._set_limit(command, key, tank, float(command.value))
        elif key == "alarm.acknowledge":
            if command.value and not self._acked[tank]:
                self._acked[tank], self._confirmed[tank] = True, False
        elif key == "alarm.confirm":
            if command.value and self._acked[tank] and not self._confirmed[tank]:
                self._confirmed[tank] = True
        else:
            raise CommandError(command.target, f"no write path for {key}")
        self._dirty = True

    def evaluate(
        self, state: dict[str, np.ndarray], params: dict[str, np.ndarray], sim_time: float
    ) -> dict[str, np.ndarray]:
        level = state["level"]
        deadband = self._settings["alarm.deadband"]
        active = {
            "hh": _high(self._active["hh"], level, self._settings["alarm.high_high"], deadband),
            "h": _high(self._active["h"], level, self._settings["alarm.high"], deadband),
            "l": _low(self._active["l"], level, self._settings["alarm.low"], deadband),
            "ll": _low(self._active["ll"], level, self._settings["alarm.low_low"], deadband),
        }
        for key, column in active.items():  # unchanged columns keep their identity
            if not np.array_equal(column, self._active[key]):
                self._active[key] = column
        new_state = exclusive_state(**self._active)
        if not np.array_equal(new_state, self._state):
            self._transition(self._state, new_state, level)
            self._state = new_state
        return self._columns()

    # -- state file (Engine.saved_state / restore) ------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"settings": {k: v.tolist() for k, v in self._settings.items()},
                "active": {k: v.tolist() for k, v in self._active.items()},
                "state": self._state.tolist(), "acked": self._acked.tolist(),
                "confirmed": self._confirmed.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        n = len(self._names)
        for key, values in state["settings"].items():
            if key in self._settings and len(values) == n:
                self._settings[key] = np.array(values, dtype=np.float64)
        self._active = {k: np.array(v, dtype=bool) for k, v in state["active"].items()}
        self._state = np.array(state["state"], dtype=np.int8)
        self._acked = np.array(state["acked"], dtype=bool)
        self._confirmed = np.array(state["confirmed"], dtype=bool)
        self._dirty = True

    # -- internals ----------------------------------------------------------------
    def _set_limit(self, command: Command, key: str, tank: int, value: float) -> None:
        values = {name: float(self._settings[SETTING_KEYS[name]][tank]) for name in ALARM_SETTINGS}
        values[command.tag.name] = value
        for name, reason in alarm_order_problems(values):
            if name == command.tag.name:  # validated when queued; re-checked as a safeguard
                raise OutOfRangeError(command.target, reason)
        self._settings[key][tank] = value

    def _transition(self, old: Codes, new: Codes, level: Floats) -> None:
        raised = (new != NORMAL) & (new != old) & ~((old == HH) & (new == H))
        raised &= ~((old == LL) & (new == L))
        if raised.any():
            self._acked[raised] = False
            self._confirmed[raised] = True
            self._dirty = True
        changed = np.flatnonzero(new != old)
        for tank in changed[:MAX_LOGGED_TRANSITIONS].tolist():
            log.info("level_alarm_transition", tank=self._names[tank],
                     state=ALARM_STATES[new[tank]], previous=ALARM_STATES[old[tank]],
                     level_m=round(float(level[tank]), 4))
        if len(changed) > MAX_LOGGED_TRANSITIONS:
            log.info("level_alarm_transitions", count=len(changed),
                     logged=MAX_LOGGED_TRANSITIONS)

    def _columns(self) -> dict[str, np.ndarray]:
        if self._dirty:  # copies: the engine freezes what it receives
            self._published = {key: column.copy() for key, column in self._settings.items()}
            self._published["alarm.acked"] = self._acked.copy()
            self._published["alarm.confirmed"] = self._confirmed.copy()
            self._dirty = False
        columns = dict(self._published)
        for key, column in self._active.items():
            columns[f"alarm.{key}_active"] = column
        columns["alarm.state"] = self._state
        columns["alarm.acknowledge"] = columns["alarm.confirm"] = self._pulse
        return columns


def _high(active: Bools, level: Floats, limit: Floats, deadband: Floats) -> Bools:
    result: Bools = np.where(active, level >= limit - deadband, level >= limit)
    return result


def _low(active: Bools, level: Floats, limit: Floats, deadband: Floats) -> Bools:
    result: Bools = np.where(active, level <= limit + deadband, level <= limit)
    return result


def exclusive_state(hh: Bools, h: Bools, l: Bools, ll: Bools) -> Codes:  # noqa: E741
    """The most severe active alarm per tank: HH, LL, H, L, else NORMAL."""
    state: Codes = np.select([hh, ll, h, l], [HH, LL, H, L], NORMAL).astype(np.int8)
    return state


@dataclass(frozen=True, slots=True)
class AlarmColumns:
    """The alarm columns of one snapshot, as a consumer (OPC UA, Modbus) reads them."""

    state: Codes
    acked: Bools
    confirmed: Bools

    @classmethod
    def of(cls, snapshot: Snapshot) -> AlarmColumns:
        s = snapshot.state
        return cls(s["alarm.state"], s["alarm.acked"], s["alarm.confirmed"])  # type: ignore[arg-type]

    def changed_since(self, previous: AlarmColumns | None) -> npt.NDArray[np.intp]:
        """Indices of the tanks whose state, acknowledgement or confirmation changed."""
        if previous is None:
            return np.arange(len(self.state))
        mask = np.zeros(len(self.state), dtype=bool)
        for now, before in ((self.state, previous.state), (self.acked, previous.acked),
                            (self.confirmed, previous.confirmed)):
            if now is not before:  # unchanged columns are the very same array
                mask |= now != before
        return np.flatnonzero(mask)
