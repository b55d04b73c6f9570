"""Calls of our methods: a tank's command methods (Reset) and the Simulation's
Pause, Resume, Step(scans), SetTimeScale(time_scale) and ResetAll.

Each checks the caller's role first (asyncua has no per-method permission),
then goes through the engine: the command tags and the simulation tags by the
single write path, Step by ``Engine.request_steps``. Refusals become status
codes with the table in :mod:`twin.opcua.writes`.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

from asyncua import ua

from twin.commands import Source
from twin.engine import Engine, EngineObserver
from twin.error_report import ErrorReporter
from twin.errors import AccessDeniedError, CommandError, TypeMismatchError
from twin.opcua.address_space import MethodTarget, NodeMap
from twin.opcua.ua_values import StatusCodes, status
from twin.opcua.values import written_value
from twin.opcua.writes import refuse, status_of


class _ArgumentError(Exception):
    def __init__(self, code: int, per_argument: list[int] | None = None) -> None:
        super().__init__(status(code).name)
        self.code = code
        self.per_argument = per_argument or []


class MethodHandler:
    def __init__(self, engine: Engine, nodes: NodeMap, errors: ErrorReporter,
                 observer: EngineObserver, count: Callable[[str], None]) -> None:
        self._engine = engine
        self._nodes = nodes
        self._errors = errors
        self._observer = observer
        self._count = count

    def call(self, request: ua.CallMethodRequest, source: Source) -> ua.CallMethodResult | None:
        """The result of a call to one of our methods; None for any other method."""
        target = self._nodes.methods.get(request.MethodId)
        if target is None:
            return None
        result = self._call(target, request, source)
        self._count(result.StatusCode.name)
        return result

    def _call(self, target: MethodTarget, request: ua.CallMethodRequest,
              source: Source) -> ua.CallMethodResult:
        method = target.method
        where = method.name if target.tank is None else f"tank {target.tank}: {method.name}"
        args = list(request.InputArguments or [])
        try:
            if request.ObjectId != target.owner:
                raise _ArgumentError(StatusCodes.BadMethodInvalid)
            if source.role < method.role:
                raise AccessDeniedError(where, f"role {source.role.name} may not call it "
                                               f"(needs {method.role.name})")
            values = self._arguments(target, args, where)
            self._invoke(target, values, source)
        except _ArgumentError as exc:
            refuse(self._observer, source, where, exc.code, "bad arguments")
            return _result(exc.code, len(args), exc.per_argument)
        except AccessDeniedError as exc:  # refused here, before the engine
            return _result(refuse(self._observer, source, where, status_of(exc), exc.reason),
                           len(args))
        except CommandError as exc:  # refused (and logged, counted) by the engine
            return _result(status_of(exc), len(args))
        except Exception as exc:  # a bug: logged once with an id
            self._errors.internal(exc, protocol="opcua", target=where, source=source.describe())
            return _result(StatusCodes.BadInternalError, len(args))
        return _result(StatusCodes.Good, len(args))

    def _arguments(self, target: MethodTarget, args: list[Any], where: str) -> list[Any]:
        inputs = target.method.inputs
        if len(args) < len(inputs):
            raise _ArgumentError(StatusCodes.BadArgumentsMissing)
        if len(args) > len(inputs):
            raise _ArgumentError(StatusCodes.BadTooManyArguments)
        values = []
        for arg, spec in zip(args, inputs, strict=True):
            try:
                value = written_value(arg, where)
            except TypeMismatchError:
                raise _ArgumentError(StatusCodes.BadInvalidArgument,
                                     [StatusCodes.BadTypeMismatch]) from None
            wants_integer = spec.type_name == "UInt32"
            if wants_integer and (isinstance(value, bool)
                                  or not isinstance(value, numbers.Integral)):
                raise _ArgumentError(StatusCodes.BadInvalidArgument,
                                     [StatusCodes.BadTypeMismatch])
            values.append(value)
        return values

    def _invoke(self, target: MethodTarget, values: list[Any], source: Source) -> None:
        method, engine = target.method, self._engine
        if method.tag is not None:  # a command tag's method: Reset, ...
            engine.submit(method.tag.name, target.tank, True, source)
        elif method.name in ("Pause", "Resume"):
            engine.submit("running", None, method.name == "Resume", source)
        elif method.name == "Step":
            engine.request_steps(int(values[0]), source)
        elif method.name == "SetTimeScale":
            engine.submit("time_scale", None, values[0], source)
        else:
            raise CommandError(method.name, "no implementation")


def _result(code: int, n_args: int, per_argument: list[int] | None = None) -> ua.CallMethodResult:
    result = ua.CallMethodResult()
    result.StatusCode = status(code)
    codes = per_argument or []
    result.InputArgumentResults = [status(c) for c in codes] + [
        ua.StatusCode() for _ in range(n_args - len(codes))]
    return result
