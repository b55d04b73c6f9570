"""A strict loader from TOML tables to frozen dataclasses.

Each dataclass field may carry constraints through :func:`setting`. Loading checks
types, unknown keys, ranges and choices, and reports the first problem as a
:class:`~twin.errors.ConfigError` naming the file, the field path and the reason.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from twin.errors import ConfigError

T = TypeVar("T")

_MISSING = dataclasses.MISSING


def setting(
    default: Any = _MISSING,
    *,
    doc: str = "",
    unit: str = "",
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    choices: tuple[str, ...] | None = None,
    pattern: str | None = None,
) -> Any:
    """A dataclass field with documentation and constraints."""
    meta = {
        "doc": doc,
        "unit": unit,
        "gt": gt,
        "ge": ge,
        "lt": lt,
        "le": le,
        "choices": choices,
        "pattern": pattern,
    }
    if default is _MISSING:
        return dataclasses.field(metadata=meta)
    if isinstance(default, (list, dict, set)):
        raise TypeError("mutable defaults are not allowed in settings")
    return dataclasses.field(default=default, metadata=meta)


def describe(field: dataclasses.Field[Any]) -> str:
    """The human description of a field's constraints, e.g. ``> 0, <= 10``."""
    meta = field.metadata
    parts = []
    for key, sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
        if meta.get(key) is not None:
            parts.append(f"{sym} {_fmt(meta[key])}")
    if meta.get("choices"):
        parts.append("one of " + ", ".join(repr(c) for c in meta["choices"]))
    return ", ".join(parts)


def _fmt(bound: float) -> str:
    return f"{bound:g}" if isinstance(bound, float) else str(bound)


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


_SCALARS: dict[Any, tuple[str, Callable[[Any], bool]]] = {
    int: ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    bool: ("true or false", lambda v: isinstance(v, bool)),
    str: ("a string", lambda v: isinstance(v, str)),
}


def check_value(field: dataclasses.Field[Any], tp: Any, value: Any, where: str, src: str) -> Any:
    """Type-check and constraint-check one value; returns it converted (int -> float)."""
    base, optional = _unwrap_optional(tp)
    if value is None and optional:
        return None
    if base is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(src, where, f"expected a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(src, where, f"must be finite, got {value!r}")
    elif base in _SCALARS and not _SCALARS[base][1](value):
        raise ConfigError(src, where, f"expected {_SCALARS[base][0]}, got {value!r}")
    meta = field.metadata
    _check_bounds(meta, value, where, src)
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError(src, where, f"must be {describe(field)}, got {value!r}")
    if meta.get("pattern") and not re.fullmatch(meta["pattern"], value):
        raise ConfigError(src, where, f"must match {meta['pattern']}, got {value!r}")
    return value


def _check_bounds(meta: Mapping[str, Any], value: Any, where: str, src: str) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    tests: tuple[tuple[str, Callable[[float, float], bool], str], ...] = (
        ("gt", lambda v, b: v > b, ">"),
        ("ge", lambda v, b: v >= b, ">="),
        ("lt", lambda v, b: v < b, "<"),
        ("le", lambda v, b: v <= b, "<="),
    )
    for key, ok, sym in tests:
        bound = meta.get(key)
        if bound is not None and not ok(value, bound):
            unit = f" {meta['unit']}" if meta.get("unit") else ""
            raise ConfigError(src, where, f"must be {sym} {_fmt(bound)}{unit}, got {value!r}")


def load_section(cls: type[T], table: Any, path: str, src: str) -> T:
    """Build the dataclass ``cls`` from a TOML table, strictly."""
    if not isinstance(table, dict):
        raise ConfigError(src, path, f"expected a table, got {table!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in table:
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(src, _join(path, key), f"unknown key (known keys: {known})")
    values: dict[str, Any] = {}
    for name, field in fields.items():
        if name not in table:
            continue
        tp = hints[name]
        where = _join(path, name)
        if dataclasses.is_dataclass(tp):
            values[name] = load_section(tp, table[name], where, src)  # type: ignore[arg-type]
        else:
            values[name] = check_value(field, tp, table[name], where, src)
    try:
        return cls(**values)
    except TypeError as exc:  # a required key is missing
        raise ConfigError(src, path or "(top level)", str(exc)) from None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
