"""Writes to tag variables: into the engine's command path, answered with status codes.

This is the protocol boundary: the service's CommandError subclasses become
OPC UA status codes here (the engine has already logged and counted a refusal
once); an unexpected failure is logged once with an error id and answered
Bad_InternalError. A refused write changes nothing, an accepted one acts at the
next scan, and a Read right after it already shows the queued value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from asyncua import ua

from twin.commands import Source
from twin.engine import Engine, EngineObserver
from twin.error_report import ErrorReporter
from twin.errors import (
    AccessDeniedError,
    CommandError,
    InvalidStateError,
    NotWritableError,
    OutOfRangeError,
    TypeMismatchError,
    UnknownTagError,
)
from twin.opcua.address_space import NodeMap, Point
from twin.opcua.ua_values import AttributeIds, StatusCodes, status
from twin.opcua.values import written_value

log = structlog.get_logger(__name__)

# The one translation table from the service's refusals to OPC UA (Part 4, 7.39).
STATUS_OF: dict[type[CommandError], int] = {
    UnknownTagError: StatusCodes.BadNodeIdUnknown,
    NotWritableError: StatusCodes.BadNotWritable,
    AccessDeniedError: StatusCodes.BadUserAccessDenied,
    TypeMismatchError: StatusCodes.BadTypeMismatch,
    OutOfRangeError: StatusCodes.BadOutOfRange,
    InvalidStateError: StatusCodes.BadInvalidState,
}


def status_of(exc: CommandError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return StatusCodes.BadInternalError


class WriteHandler:
    def __init__(self, engine: Engine, nodes: NodeMap, errors: ErrorReporter,
                 observer: EngineObserver, count: Callable[[str], None]) -> None:
        self._engine = engine
        self._nodes = nodes
        self._errors = errors
        self._observer = observer
        self._count = count

    def write(self, values: list[ua.WriteValue], source: Source) -> list[ua.StatusCode | None]:
        """An answer for each value written to a tag variable's Value; None for the rest."""
        answers: list[ua.StatusCode | None] = []
        for value in values:
            point = self._nodes.points.get(value.NodeId)
            if point is None or value.AttributeId != AttributeIds.Value:
                answers.append(None)
                continue
            code = self._write(point, value, source)
            self._count(status(code).name)
            answers.append(status(code))
        return answers

    def _write(self, point: Point, value: ua.WriteValue, source: Source) -> int:
        tag = point.tag
        target = tag.name if point.tank is None else f"tank {point.tank}: {tag.name}"
        if value.IndexRange:  # scalars only
            return refuse(self._observer, source, target, StatusCodes.BadWriteNotSupported,
                          "index ranges are not supported")
        try:
            converted = written_value(value.Value.Value if value.Value else None, target)
        except TypeMismatchError as exc:
            return refuse(self._observer, source, target, status_of(exc), exc.reason)
        try:  # the engine logs and counts what it refuses
            self._engine.submit(tag.name, point.tank, converted, source)
        except CommandError as exc:
            return status_of(exc)
        except Exception as exc:  # a bug, not a refusal: the client gets an error id
            self._errors.internal(exc, protocol="opcua", target=target, source=source.describe())
            return StatusCodes.BadInternalError
        return StatusCodes.Good


def refuse(observer: EngineObserver | None, source: Source, target: str, code: int, reason: str,
           **fields: Any) -> int:
    """A write or call refused before it reached the engine: logged and counted here, once."""
    if observer is not None:
        observer.command(source, "rejected")
    log.warning("command_rejected", source=source.describe(), protocol=source.protocol,
                role=source.role.name, target=target, reason=reason,
                status=status(code).name, **fields)
    return code
