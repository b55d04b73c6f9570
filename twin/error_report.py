"""What a client is told about an internal failure.

In production a client gets an error id and nothing else; the log has the
details under the same id. With ``--dev`` the client also gets the exception.
"""

from __future__ import annotations

import uuid

import structlog

log = structlog.get_logger(__name__)


class ErrorReporter:
    def __init__(self, dev: bool) -> None:
        self.dev = dev

    def internal(self, exc: BaseException, **context: object) -> str:
        """Log ``exc`` once with a fresh error id; return the text for the client."""
        error_id = uuid.uuid4().hex[:12]
        log.error("internal_error", error_id=error_id, exc_info=exc, **context)
        if self.dev:
            return f"internal error {error_id}: {type(exc).__name__}: {exc}"
        return f"internal error {error_id}"
