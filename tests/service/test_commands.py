"""The single validated write path: every kind of bad input, and what is converted."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from twin.commands import CommandValidator, Source
from twin.config import default_plant
from twin.errors import (
    AccessDeniedError,
    InvalidStateError,
    NotWritableError,
    OutOfRangeError,
    TypeMismatchError,
    UnknownTagError,
)
from twin.tags import Role, Tag, TagTable

OPERATOR = Source("test", "c1", "olga", Role.OPERATOR)
ENGINEER = Source("test", "c2", "erik", Role.ENGINEER)
OBSERVER = Source("test", "c3", "otto", Role.OBSERVER)

# Values as the engine would report them for the default tank (the layer under test is
# the validator; the engine's real `current` is exercised in test_engine.py).
CURRENT: dict[str, Any] = {"mode": 0, "output_min": 0.0, "output_max": 1.0,
                           "disturbance_min": 0.8, "disturbance_max": 1.2}


def current(tag: Tag, tank: int | None) -> Any:
    return CURRENT[tag.name]


@pytest.fixture
def validator() -> CommandValidator:
    return CommandValidator(TagTable(), default_plant())


@pytest.mark.parametrize(
    ("name", "tank", "value", "source", "error", "text"),
    [
        ("levle", 0, 1.0, ENGINEER, UnknownTagError, "no such tag"),
        ("setpoint", 3, 1.0, ENGINEER, UnknownTagError, "no such tank (plant has 1)"),
        ("setpoint", -1, 1.0, ENGINEER, UnknownTagError, "no such tank"),
        ("level", 0, 1.0, ENGINEER, NotWritableError, "read-only"),
        ("area", 0, 1.0, ENGINEER, NotWritableError, "read-only"),
        ("sim_time", None, 1.0, ENGINEER, NotWritableError, "read-only"),
        ("setpoint", 0, 1.0, OBSERVER, AccessDeniedError, "role OBSERVER"),
        ("gain", 0, -2.0, OPERATOR, AccessDeniedError, "needs ENGINEER"),
        ("reset", 0, True, OPERATOR, AccessDeniedError, "needs ENGINEER"),
        ("time_scale", None, 2.0, OPERATOR, AccessDeniedError, "needs ENGINEER"),
        ("setpoint", 0, "2.0", OPERATOR, TypeMismatchError, "expected a number"),
        ("setpoint", 0, True, OPERATOR, TypeMismatchError, "expected a number"),
        ("setpoint", 0, None, OPERATOR, TypeMismatchError, "expected a number"),
        ("setpoint", 0, math.nan, OPERATOR, OutOfRangeError, "must be finite"),
        ("setpoint", 0, math.inf, OPERATOR, OutOfRangeError, "must be finite"),
        ("setpoint", 0, -0.1, OPERATOR, OutOfRangeError, "must be >= 0 m"),
        ("setpoint", 0, 5.01, OPERATOR, OutOfRangeError, "must be <= 5 m"),
        ("inlet_flow", 0, 1e9, OPERATOR, OutOfRangeError, "must be <="),
        ("mode", 0, 3, OPERATOR, OutOfRangeError, "must be one of 0 AUTO"),
        ("mode", 0, 1.5, OPERATOR, TypeMismatchError, "integer code"),
        ("mode", 0, "cruise", OPERATOR, OutOfRangeError, "must be one of AUTO"),
        ("mode", 0, math.nan, OPERATOR, OutOfRangeError, "must be finite"),
        ("running", None, "yes", ENGINEER, TypeMismatchError, "expected a boolean"),
        ("running", None, 2, ENGINEER, TypeMismatchError, "expected a boolean"),
        ("valve_command", 0, 0.3, OPERATOR, InvalidStateError, "only in MANUAL or EXTERNAL"),
        ("output_min", 0, 1.0, ENGINEER, OutOfRangeError, "must be < output_max"),
        ("output_max", 0, 0.0, ENGINEER, OutOfRangeError, "must be > output_min"),
        ("disturbance_max", 0, 0.5, ENGINEER, OutOfRangeError, "must be >= disturbance_min"),
        ("integral_limit", 0, 0.0, ENGINEER, OutOfRangeError, "must be > 0"),
        ("time_scale", None, 0.01, ENGINEER, OutOfRangeError, "must be >= 0.1"),
        ("time_scale", None, 5000.0, ENGINEER, OutOfRangeError, "must be <= 1000"),
        ("gain", 0, -math.inf, ENGINEER, OutOfRangeError, "must be finite"),
    ],
)
def test_bad_input_is_refused_with_reason(
    validator: CommandValidator, name: str, tank: int | None, value: Any, source: Source,
    error: type[Exception], text: str,
) -> None:
    with pytest.raises(error) as info:
        validator.validate(name, tank, value, source, current)
    assert text in str(info.value)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("setpoint", 3, 3.0),  # an integer written to a Double is converted
        ("setpoint", np.float32(2.75), 2.75),  # a Float is converted
        ("mode", "manual", 1),
        ("mode", 2.0, 2),
        ("reset", 1, True),
        ("gain", -3, -3.0),
    ],
)
def test_values_are_converted(
    validator: CommandValidator, name: str, value: Any, expected: Any
) -> None:
    command = validator.validate(name, 0, value, ENGINEER, current)
    assert command.value == expected and type(command.value) is type(expected)
    assert command.source is ENGINEER and command.id


def test_command_ids_are_unique(validator: CommandValidator) -> None:
    ids = {validator.validate("setpoint", 0, 1.0, OPERATOR, current).id for _ in range(10)}
    assert len(ids) == 10
