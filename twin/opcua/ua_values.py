"""Typed constructors for the asyncua values the alarms and history build.

asyncua's annotations ask for its NewType-like wrappers (``Int32``, ``UInt32``,
``DateTime``) where plain ints and datetimes are what it actually takes; these
helpers say so once, so the modules using them stay readable and mypy-clean.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from asyncua import ua
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIds
from asyncua.ua.status_codes import StatusCodes
from asyncua.ua.uaerrors import UaError

__all__ = ["AttributeIds", "ObjectIds", "StatusCodes", "UaError", "node_id", "stamp", "status"]


def node_id(identifier: int | str, namespace: int = 0) -> ua.NodeId:
    """A NodeId of a numeric (e.g. an ObjectIds constant) or string identifier."""
    return ua.NodeId(cast(ua.Int32, identifier), cast(ua.Int16, namespace))


def status(code: int) -> ua.StatusCode:
    return ua.StatusCode(cast(ua.UInt32, code))


def stamp(moment: datetime | None) -> ua.DateTime | None:
    """A DataValue timestamp (asyncua's DateTime is a datetime)."""
    return cast(ua.DateTime | None, moment)
