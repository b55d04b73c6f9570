"""The one validated write path: every front end turns a write into a Command here.

``validate`` checks, in order: the tag exists and is writable, the caller's role,
the data type (converting what SCADA packages send: an integer or a float to a
Double, 0/1 to a Boolean), finiteness, the range, and rules that depend on the
plant's present state. It raises a :class:`~twin.errors.CommandError` subclass
and changes nothing, or returns a Command ready for the engine's queue.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twin.config import PlantConfig
from twin.errors import (
    AccessDeniedError,
    InvalidStateError,
    NotWritableError,
    OutOfRangeError,
    TypeMismatchError,
    UnknownTagError,
)
from twin.tags import Access, DataType, Role, Scope, Tag, TagTable
from twin.tank_config import ALARM_SETTINGS, alarm_order_problems

Value = float | int | bool
CurrentValue = Callable[[Tag, "int | None"], Value]

_MODE_AUTO = 0


@dataclass(frozen=True, slots=True)
class Source:
    """Who sent a command: protocol, client (address or session) and user."""

    protocol: str
    client: str = ""
    user: str = "anonymous"
    role: Role = Role.OBSERVER

    def describe(self) -> str:
        return f"{self.protocol}:{self.client or '-'}:{self.user}"


@dataclass(frozen=True, slots=True)
class Command:
    tag: Tag
    tank: int | None  # None for simulation tags
    value: Value
    source: Source
    id: str = field(default="")

    @property
    def target(self) -> str:
        return _target(self.tag, self.tank)


def _target(tag: Tag, tank: int | None) -> str:
    return tag.name if tank is None else f"tank {tank}: {tag.name}"


class CommandValidator:
    """Validates writes against the tag table and the plant configuration."""

    def __init__(self, tags: TagTable, config: PlantConfig) -> None:
        self._tags = tags
        self._config = config
        self._ids = itertools.count(1)

    def next_id(self) -> str:
        return f"c{next(self._ids)}"

    def resolve(self, name: str, tank: int | None) -> Tag:
        """The tag named ``name`` in the scope implied by ``tank``."""
        try:
            if tank is None:
                return self._tags.simulation_tag(name)
            tag = self._tags.tank_tag(name)
        except KeyError:
            raise UnknownTagError(name, "no such tag") from None
        if not 0 <= tank < len(self._config.tanks):
            count = len(self._config.tanks)
            raise UnknownTagError(f"tank {tank}", f"no such tank (plant has {count})")
        return tag

    def check_value(self, name: str, tank: int | None, value: Any) -> tuple[Tag, Value]:
        """The checks that need no plant state (tag, tank, writable, type, range): for
        files that will write later (scenarios). Returns the tag and the converted value."""
        tag = self.resolve(name, tank)
        target = _target(tag, tank)
        if not tag.writable:
            raise NotWritableError(target, "read-only")
        converted = _convert(tag, value, target)
        settings = None if tank is None else self._config.tanks[tank].settings
        _check_range(tag, converted, settings, target)
        return tag, converted

    def validate(
        self, name: str, tank: int | None, value: Any, source: Source, current: CurrentValue
    ) -> Command:
        tag = self.resolve(name, tank)
        target = _target(tag, tank)
        if not tag.writable:
            raise NotWritableError(target, "read-only")
        if source.role < _required_role(tag.access):
            raise AccessDeniedError(
                target, f"role {source.role.name} may not write it (needs {tag.access.name})"
            )
        converted = _convert(tag, value, target)
        settings = None if tank is None else self._config.tanks[tank].settings
        _check_range(tag, converted, settings, target)
        self._check_state(tag, tank, converted, current, target)
        return Command(tag, tank, converted, source, self.next_id())

    def _check_state(
        self, tag: Tag, tank: int | None, value: Value, current: CurrentValue, target: str
    ) -> None:
        if tag.name == "step_request" and tag.scope is Scope.SIMULATION:
            _check_step_request(int(value), current(tag, None), target)
        if tag.scope is Scope.SIMULATION or tank is None:
            return
        if tag.name == "valve_command" and current(self._tags.tank_tag("mode"), tank) == _MODE_AUTO:
            raise InvalidStateError(target, "writable only in MANUAL or EXTERNAL mode")
        pairs = {
            "output_min": ("output_max", False),
            "output_max": ("output_min", True),
            "disturbance_min": ("disturbance_max", False),
            "disturbance_max": ("disturbance_min", True),
        }
        if tag.name in pairs:
            other_name, is_upper = pairs[tag.name]
            other = float(current(self._tags.tank_tag(other_name), tank))
            strict = tag.name.startswith("output")
            bad = (value < other if is_upper else value > other) or (strict and value == other)
            if bad:
                sym = (">" if is_upper else "<") if strict else (">=" if is_upper else "<=")
                raise OutOfRangeError(target, f"must be {sym} {other_name} ({other:g})")
        if tag.name in ALARM_SETTINGS:
            self._check_alarm_order(tag, tank, float(value), current, target)

    def _check_alarm_order(
        self, tag: Tag, tank: int, value: float, current: CurrentValue, target: str
    ) -> None:
        """LL < L < H < HH and deadband < H - L, against the other limits' current values."""
        values = {n: float(current(self._tags.tank_tag(n), tank)) for n in ALARM_SETTINGS}
        values[tag.name] = value
        for name, reason in alarm_order_problems(values):
            if name == tag.name:
                raise OutOfRangeError(target, reason)


MAX_LOCK_STEPS = 1_000_000  # scans one lock-step request may ask for (Engine.MAX_STEP_SCANS)


def _check_step_request(value: int, last: Any, target: str) -> None:
    """A lock-step request counts up from the last one (equal: nothing to do)."""
    ahead = value - int(last)
    if ahead < 0:
        raise OutOfRangeError(target, f"must be >= the last request ({int(last)}), got {value}")
    if ahead > MAX_LOCK_STEPS:
        raise OutOfRangeError(
            target, f"at most {MAX_LOCK_STEPS} scans ahead of the last request ({int(last)})")


def _required_role(access: Access) -> Role:
    return Role.OPERATOR if access is Access.OPERATOR else Role.ENGINEER


def _convert(tag: Tag, value: Any, target: str) -> Value:
    if tag.dtype is DataType.DOUBLE:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeMismatchError(target, f"expected a number, got {type(value).__name__}")
        return float(value)
    if tag.dtype is DataType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, numbers.Integral) and value in (0, 1):
            return bool(value)
        raise TypeMismatchError(target, f"expected a boolean, got {value!r}")
    if tag.dtype is DataType.ENUM:
        return _convert_enum(tag, value, target)
    if tag.dtype is DataType.UINT64:
        return _convert_counter(value, target)
    raise NotWritableError(target, "read-only")


def _convert_counter(value: Any, target: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeMismatchError(target, f"expected an unsigned integer, got {type(value).__name__}")
    number = float(value)
    if not isinstance(value, numbers.Integral) and not (
            math.isfinite(number) and number.is_integer()):
        raise TypeMismatchError(target, f"expected an unsigned integer, got {value!r}")
    count = int(value) if isinstance(value, numbers.Integral) else int(number)
    if not 0 <= count < 2**64:
        raise OutOfRangeError(target, f"must be 0..2^64-1, got {count}")
    return count


def _convert_enum(tag: Tag, value: Any, target: str) -> int:
    if isinstance(value, str):
        names = [s.lower() for s in tag.states]
        if value.lower() in names:
            return names.index(value.lower())
        raise OutOfRangeError(target, f"must be one of {', '.join(tag.states)}, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeMismatchError(target, f"expected an integer code, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise OutOfRangeError(target, f"must be finite, got {value!r}")
    if not number.is_integer():
        raise TypeMismatchError(target, f"expected an integer code, got {value!r}")
    code = int(number)
    if not 0 <= code < len(tag.states):
        choices = ", ".join(f"{i} {s}" for i, s in enumerate(tag.states))
        raise OutOfRangeError(target, f"must be one of {choices}, got {code}")
    return code


def _check_range(tag: Tag, value: Value, settings: Any, target: str) -> None:
    if tag.dtype is not DataType.DOUBLE:
        return
    assert isinstance(value, float)
    if not math.isfinite(value):
        raise OutOfRangeError(target, f"must be finite, got {value!r}")
    low, high = tag.bounds(settings)
    unit = f" {tag.unit.symbol}" if tag.unit and tag.unit.symbol != "1" else ""
    if low is not None and (value < low or (tag.low_exclusive and value == low)):
        sym = ">" if tag.low_exclusive else ">="
        raise OutOfRangeError(target, f"must be {sym} {low:g}{unit}, got {value:g}")
    if high is not None and value > high:
        raise OutOfRangeError(target, f"must be <= {high:g}{unit}, got {value:g}")
