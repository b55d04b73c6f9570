"""Logging setup: structlog for our events, the standard library's (asyncua,
pymodbus) routed through the same processors. Only the entry point calls this."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

NOISY_LIBRARIES = {"asyncua": logging.WARNING, "pymodbus": logging.WARNING}


def wants_json(fmt: str, stream: TextIO) -> bool:
    """JSON unless asked for console, or 'auto' on a terminal."""
    if fmt == "auto":
        return not stream.isatty()
    return fmt == "json"


def configure_logging(fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    out = stream or sys.stderr
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor
    if wants_json(fmt, out):
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=out.isatty())
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name, floor in NOISY_LIBRARIES.items():
        logging.getLogger(name).setLevel(max(floor, root.level))
