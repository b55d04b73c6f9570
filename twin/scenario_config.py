"""Scenario files (TOML): timed writes to tags, validated against the plant and tag table.

A scenario is a list of ``[[events]]``; each event writes one tag of one tank (or
of every tank, ``tank = "*"``; or a simulation tag, ``tank`` omitted) at a time
``at`` in seconds of simulation time from the scenario's start:

- ``value = V``: set the tag at ``at`` (a step; a mode, a limit, a fault switch...);
  with ``duration = D`` it is restored at ``at + D`` to ``then`` (default: the value
  it had just before the event);
- ``ramp_to = V, duration = D``: a linear ramp from the value at ``at`` to V,
  written at every scan boundary, reaching V at ``at + D``;
- ``brownian = {sigma, min, max}`` (tag omitted or ``inlet_flow``): a Brownian inlet
  period from ``at`` (for ``duration`` s if given, then CONSTANT again).

Any writable tag of the tag table works (``tank-twin tags``), so tags added later
(fault switches) need no change here. Every problem is a ConfigError naming the
file, the event and the field: ``scenario.toml: events[3].value: must be <= 5 m, got 7``.
See docs/scenarios.md.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.commands import CommandValidator
from twin.config import PlantConfig
from twin.errors import CommandError, ConfigError, NotWritableError, UnknownTagError
from twin.tags import DataType, TagTable

ALL_TANKS = "*"
NOT_SCRIPTED = ("running", "step_request")  # the player's own clock
_EVENT_KEYS = ("at", "tank", "tag", "value", "duration", "then", "ramp_to", "brownian", "note")
_BROWNIAN_KEYS = {"sigma": "disturbance_sigma", "min": "disturbance_min", "max": "disturbance_max"}

Value = float | int | bool
DEFAULT_SAVE_INTERVAL = 10.0  # s of wall-clock time between state saves


@dataclass(frozen=True, slots=True)
class Action:
    """One primitive write of the expanded timeline."""

    at: float  # s from the scenario's start
    tank: int | None
    tag: str
    kind: str  # "set", "ramp" (to ``value`` until ``end``) or "restore" (``ref``'s previous)
    value: Value | None
    event: str  # e.g. "events[3]" (for logs)
    end: float = 0.0
    ref: int = -1  # restore: the index of the set action whose previous value comes back


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    source: str
    actions: tuple[Action, ...]  # sorted by time, file order within a time
    events: int

    @property
    def end(self) -> float:
        return max((max(a.at, a.end) for a in self.actions), default=0.0)


def load_scenario(path: str | Path, config: PlantConfig) -> Scenario:
    src = str(path)
    try:
        data = tomllib.loads(Path(path).read_bytes().decode("utf-8"))
    except OSError as exc:
        raise ConfigError(src, "", f"cannot read the file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(src, "", "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(src, "", f"invalid TOML: {exc}") from None
    return parse_scenario(data, config, src)


def parse_scenario(data: dict[str, Any], config: PlantConfig, src: str) -> Scenario:
    for key in data:
        if key not in ("scenario", "events"):
            raise ConfigError(src, key, "unknown key (known keys: scenario, events)")
    header = data.get("scenario", {})
    if not isinstance(header, dict):
        raise ConfigError(src, "scenario", "expected a table")
    for key in header:
        if key not in ("name", "description"):
            raise ConfigError(src, f"scenario.{key}", "unknown key (known: name, description)")
    name = header.get("name", Path(src).stem)
    if not isinstance(name, str):
        raise ConfigError(src, "scenario.name", "expected a string")
    events = data.get("events", [])
    if not isinstance(events, list):
        raise ConfigError(src, "events", "expected an array of tables ([[events]])")
    parser = _EventParser(config, src)
    actions: list[Action] = []
    for i, event in enumerate(events):
        parser.parse(event, f"events[{i}]", actions)
    order = sorted(range(len(actions)), key=lambda k: (actions[k].at, k))
    position = {old: new for new, old in enumerate(order)}
    ordered = tuple(
        _renumber(actions[k], position) for k in order
    )
    return Scenario(name, src, ordered, len(events))


def _renumber(action: Action, position: dict[int, int]) -> Action:
    if action.ref < 0:
        return action
    return Action(action.at, action.tank, action.tag, action.kind, action.value, action.event,
                  action.end, position[action.ref])


class _EventParser:
    def __init__(self, config: PlantConfig, src: str) -> None:
        self.config = config
        self.src = src
        self.tags = TagTable()
        self.validator = CommandValidator(self.tags, config)

    def error(self, where: str, reason: str) -> ConfigError:
        return ConfigError(self.src, where, reason)

    def parse(self, event: Any, path: str, out: list[Action]) -> None:
        if not isinstance(event, dict):
            raise self.error(path, "expected a table")
        for key in event:
            if key not in _EVENT_KEYS:
                known = ", ".join(_EVENT_KEYS)
                raise self.error(f"{path}.{key}", f"unknown key (known keys: {known})")
        at = self.time(event, "at", path, required=True)
        assert at is not None
        kinds = [k for k in ("value", "ramp_to", "brownian") if k in event]
        if len(kinds) != 1:
            raise self.error(path, "needs exactly one of value, ramp_to, brownian"
                             + (f" (has {', '.join(kinds)})" if kinds else ""))
        kind = kinds[0]
        duration = self.time(event, "duration", path, required=kind == "ramp_to", positive=True)
        if "then" in event and (kind != "value" or duration is None):
            raise self.error(f"{path}.then", "only with value and duration")
        tanks = self.tanks(event, path)
        tag_name = event.get("tag")
        if kind == "brownian":
            if tag_name not in (None, "inlet_flow"):
                raise self.error(f"{path}.tag", "a brownian period drives inlet_flow")
            if tanks == [None]:
                raise self.error(f"{path}.tank", "a brownian period needs a tank")
            self.brownian(event["brownian"], at, duration, tanks, path, out)
            return
        if not isinstance(tag_name, str):
            raise self.error(f"{path}.tag", "missing (the name of a writable tag)")
        if tag_name in NOT_SCRIPTED and tanks == [None]:
            raise self.error(f"{path}.tag", f"{tag_name} is simulation control, not scripted")
        for tank in tanks:
            if kind == "value":
                value = self.value(tag_name, tank, event["value"], f"{path}.value", path)
                index = len(out)
                out.append(Action(at, tank, tag_name, "set", value, path))
                if duration is not None:
                    then = None
                    if "then" in event:
                        then = self.value(tag_name, tank, event["then"], f"{path}.then", path)
                    out.append(Action(at + duration, tank, tag_name, "restore", then, path,
                                      ref=index))
            else:
                tag = self.tag(tag_name, tank, path)
                if tag.dtype is not DataType.DOUBLE:
                    raise self.error(f"{path}.ramp_to", f"{tag_name} is not a number: ramp a "
                                     "Double tag, or set this one with value")
                target = self.value(tag_name, tank, event["ramp_to"], f"{path}.ramp_to", path)
                assert duration is not None
                out.append(Action(at, tank, tag_name, "ramp", target, path, end=at + duration))

    def time(self, event: dict[str, Any], key: str, path: str, required: bool = False,
             positive: bool = False) -> float | None:
        if key not in event:
            if required:
                raise self.error(f"{path}.{key}", "missing (seconds of simulation time)")
            return None
        value = event[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(f"{path}.{key}", f"expected seconds (a number), got {value!r}")
        number = float(value)
        if not math.isfinite(number) or number < 0 or (positive and number == 0):
            sym = "> 0" if positive else ">= 0"
            raise self.error(f"{path}.{key}", f"must be a finite number {sym} s, got {value!r}")
        return number

    def tanks(self, event: dict[str, Any], path: str) -> list[int | None]:
        if "tank" not in event:
            return [None]
        name = event["tank"]
        if name == ALL_TANKS:
            return list(range(len(self.config.tanks)))
        if not isinstance(name, str):
            raise self.error(f"{path}.tank", f"expected a tank name, got {name!r}")
        try:
            return [self.config.tank_index(name)]
        except KeyError:
            names = [t.name for t in self.config.tanks[:5]]
            more = ", ..." if len(self.config.tanks) > 5 else ""
            raise self.error(f"{path}.tank", f"no tank {name!r} in the plant "
                             f"({', '.join(names)}{more}; \"*\" for all)") from None

    def tag(self, name: str, tank: int | None, path: str) -> Any:
        try:
            return self.validator.resolve(name, tank)
        except UnknownTagError:
            scope = "simulation tag (no tank given)" if tank is None else "tank tag"
            raise self.error(f"{path}.tag", f"no {scope} {name!r} (see tank-twin tags)") from None

    def value(self, name: str, tank: int | None, value: Any, where: str, path: str) -> Value:
        self.tag(name, tank, path)
        try:
            return self.validator.check_value(name, tank, value)[1]
        except (UnknownTagError, NotWritableError) as exc:
            raise self.error(f"{path}.tag", f"{name}: {exc.reason}") from None
        except CommandError as exc:
            raise self.error(where, exc.reason) from None

    def brownian(self, table: Any, at: float, duration: float | None, tanks: list[int | None],
                 path: str, out: list[Action]) -> None:
        where = f"{path}.brownian"
        if not isinstance(table, dict):
            raise self.error(where, "expected a table {sigma = ..., min = ..., max = ...}")
        for key in table:
            if key not in _BROWNIAN_KEYS:
                raise self.error(f"{where}.{key}", "unknown key (known keys: sigma, min, max)")
        for tank in tanks:
            values: dict[str, Value] = {}
            for key, tag in _BROWNIAN_KEYS.items():
                if key in table:
                    values[tag] = self.value(tag, tank, table[key], f"{where}.{key}", path)
            low, high = values.get("disturbance_min"), values.get("disturbance_max")
            if low is not None and high is not None and float(low) > float(high):
                raise self.error(f"{where}.min", f"must be <= max ({high}), got {low}")
            for tag, value in values.items():
                out.append(Action(at, tank, tag, "set", value, path))
            out.append(Action(at, tank, "disturbance", "set", 1, path))  # BROWNIAN
            if duration is not None:
                out.append(Action(at + duration, tank, "disturbance", "set", 0, path))


@dataclass(frozen=True, slots=True)
class Session:
    """The options of ``run`` and ``simulate`` beyond the plant (twin/simulate.py)."""

    scenario: Scenario | None = None
    record: str | None = None
    record_period: float | None = None  # s of simulation time; None: every scan
    state: str | None = None
    save_interval: float = DEFAULT_SAVE_INTERVAL
    resume: bool = False


def with_seed(config: PlantConfig, seed: int) -> PlantConfig:
    """``config`` read again with ``[simulation] seed = seed`` (each tank's seed derives
    from it)."""
    from twin.config import EMBEDDED, parse_plant
    from twin.opcua.config import EMBEDDED_DEMO

    if config.source == EMBEDDED:
        data: dict[str, Any] = {"opcua": dict(EMBEDDED_DEMO)}
    else:
        data = tomllib.loads(Path(config.source).read_text("utf-8"))
    data["simulation"] = {**data.get("simulation", {}), "seed": seed}
    return parse_plant(data, config.source)
