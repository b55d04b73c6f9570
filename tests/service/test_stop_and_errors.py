"""Stopping by signal, and what clients are told about internal failures."""

from __future__ import annotations

import asyncio
import signal

from structlog.testing import capture_logs

from twin.cli import EXIT_FORCED, StopSignals
from twin.error_report import ErrorReporter


async def test_first_signal_stops_gracefully_second_sigint_forces_exit() -> None:
    exits: list[int] = []
    stop = StopSignals(asyncio.Event(), force_exit=exits.append)
    stop.handle(signal.SIGINT)
    assert stop.event.is_set() and exits == []
    stop.handle(signal.SIGINT)
    assert exits == [EXIT_FORCED]


async def test_repeated_sigterm_does_not_force_exit() -> None:
    exits: list[int] = []
    stop = StopSignals(asyncio.Event(), force_exit=exits.append)
    stop.handle(signal.SIGTERM)
    stop.handle(signal.SIGTERM)
    assert stop.event.is_set() and exits == []


def test_production_mode_gives_clients_only_an_error_id() -> None:
    with capture_logs() as logs:
        text = ErrorReporter(dev=False).internal(KeyError("secret/path"), client="c1")
    error_id = text.removeprefix("internal error ")
    assert "secret" not in text and len(error_id) == 12
    assert logs[0]["error_id"] == error_id and logs[0]["client"] == "c1"
    assert isinstance(logs[0]["exc_info"], KeyError)


def test_dev_mode_gives_clients_the_details() -> None:
    with capture_logs():
        text = ErrorReporter(dev=True).internal(KeyError("secret/path"))
    assert "KeyError" in text and "secret/path" in text and text.startswith("internal error ")
