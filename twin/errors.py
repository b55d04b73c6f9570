"""The one error hierarchy of tank-twin.

Errors are raised inside the service with a precise reason and translated to a
protocol's own answer (an OPC UA status code, a Modbus exception code, an exit
status) only at that protocol's boundary, where they are logged once.
"""

from __future__ import annotations


class TwinError(Exception):
    """Base of every error tank-twin raises on purpose."""


class ConfigError(TwinError):
    """A plant file (or the command line) is invalid.

    The message names the file, the field with its path (``tanks[3].area``) and the reason.
    """

    def __init__(self, source: str, field: str, reason: str) -> None:
        self.source = source
        self.field = field
        self.reason = reason
        where = f"{source}: {field}" if field else source
        super().__init__(f"{where}: {reason}")


class CommandError(TwinError):
    """A write or method call was refused; nothing was changed."""

    def __init__(self, target: str, reason: str) -> None:
        self.target = target
        self.reason = reason
        super().__init__(f"{target}: {reason}")


class UnknownTagError(CommandError):
    """The tag, the tank or the method does not exist."""


class NotWritableError(CommandError):
    """The tag is read-only for everybody."""


class AccessDeniedError(CommandError):
    """The caller's role may not write this tag or call this method."""


class TypeMismatchError(CommandError):
    """The value cannot be converted to the tag's data type."""


class OutOfRangeError(CommandError):
    """The value is non-finite or outside the tag's range."""


class InvalidStateError(CommandError):
    """The value is valid but not in the plant's present state (e.g. a valve
    command while the controller is in AUTO)."""
