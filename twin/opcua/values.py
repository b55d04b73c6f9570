"""Values between the tag table and OPC UA: variant types, DataValues, times.

OPC UA DateTime counts 100 ns ticks since 1601-01-01 UTC (Part 6, 5.2.2.5).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
from asyncua import ua

from twin.errors import TypeMismatchError
from twin.opcua.ua_values import stamp
from twin.tags import DataType, Tag

VARIANT_TYPES = {
    DataType.DOUBLE: ua.VariantType.Double,
    DataType.BOOLEAN: ua.VariantType.Boolean,
    DataType.ENUM: ua.VariantType.UInt32,  # MultiStateDiscreteType values are unsigned
    DataType.UINT64: ua.VariantType.UInt64,
}
NUMPY_TYPES = {DataType.DOUBLE: "<f8", DataType.BOOLEAN: "u1", DataType.ENUM: "<u4",
               DataType.UINT64: "<u8"}
EPOCH_TICKS = 116_444_736_000_000_000  # 1970-01-01 in 100 ns ticks since 1601-01-01
TICKS_PER_SECOND = 10_000_000

_INTEGER_VARIANTS = frozenset({
    ua.VariantType.SByte, ua.VariantType.Byte, ua.VariantType.Int16, ua.VariantType.UInt16,
    ua.VariantType.Int32, ua.VariantType.UInt32, ua.VariantType.Int64, ua.VariantType.UInt64,
})


def variant_type(tag: Tag) -> ua.VariantType:
    return VARIANT_TYPES[tag.dtype]


def ticks(unix_seconds: float) -> int:
    return EPOCH_TICKS + round(unix_seconds * TICKS_PER_SECOND)


def utc(unix_seconds: float) -> datetime:
    return datetime.fromtimestamp(unix_seconds, UTC)


def data_value(value: Any, vtype: ua.VariantType, source_time: float,
               server_time: float) -> ua.DataValue:
    return ua.DataValue(ua.Variant(value, vtype), SourceTimestamp=stamp(utc(source_time)),
                        ServerTimestamp=stamp(utc(server_time)))


def python_value(tag: Tag, value: Any) -> Any:
    """A tag's value as the Python type its variant carries (enum codes as int)."""
    if isinstance(value, np.generic):
        value = value.item()
    if tag.dtype is DataType.DOUBLE:
        return float(value)
    if tag.dtype is DataType.BOOLEAN:
        return bool(value)
    return int(value)


def written_value(variant: ua.Variant | None, target: str) -> Any:
    """What a client wrote, as a Python value for the command path.

    Scalars only. A Float keeps the decimal value its client meant (2.7f is 2.7,
    not 2.700000047683716); integers stay integers (the validator converts them
    for Double tags); anything else is a type mismatch.
    """
    if variant is None or variant.is_array or variant.Value is None:
        raise TypeMismatchError(target, "expected a scalar value")
    vtype, value = variant.VariantType, variant.Value
    if vtype is ua.VariantType.Double or vtype is ua.VariantType.Boolean:
        return value
    if vtype is ua.VariantType.Float:
        return float(str(np.float32(value))) if math.isfinite(value) else float(value)
    if vtype in _INTEGER_VARIANTS:
        return int(value)
    if vtype is ua.VariantType.String:
        return str(value)  # enumeration names ("MANUAL"); refused for other tags
    raise TypeMismatchError(target, f"cannot convert a {vtype.name}")
