"""What ``run`` and ``simulate`` add to a twin: a scenario, a record, a state file.

``tank-twin simulate`` builds a headless twin (no protocol or metrics server), holds
the clock paused and steps it exactly ``ceil((until - now) / scan_period)`` scans as
fast as the core goes (the engine's single-step path: no pacing), with the
scenario player, the recorder and the state keeper subscribed as in ``run``.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from twin.commands import Source
from twin.config import PlantConfig
from twin.engine import MAX_STEP_SCANS
from twin.recorder import Recorder
from twin.scenario import ScenarioPlayer
from twin.scenario_config import Session
from twin.state_file import StateKeeper
from twin.tags import Role

if TYPE_CHECKING:
    from twin.app import Twin

log = structlog.get_logger(__name__)


@dataclass
class Attached:
    player: ScenarioPlayer | None
    recorder: Recorder | None
    keeper: StateKeeper | None

    def close(self) -> None:
        if self.recorder is not None:
            self.recorder.close()


def attach(twin: Twin, session: Session) -> Attached:
    """Build, restore (``--resume``) and subscribe the session's parts; call before the
    twin is entered, so that events due at once apply at the very first scan."""
    engine = twin.engine
    player = ScenarioPlayer(session.scenario, engine) if session.scenario is not None else None
    recorder = None
    if session.record is not None:
        period = session.record_period or twin.config.simulation.scan_period
        recorder = Recorder(session.record, twin.tags, twin.tank_names, period,
                            append=session.resume)
    keeper = None
    if session.state is not None:
        keeper = StateKeeper(session.state, engine, twin.config.source, session.save_interval)
        keeper.player, keeper.recorder = player, recorder
        if session.resume:
            keeper.resume()
    if recorder is not None:
        recorder.open()
        recorder(engine.snapshot)  # the starting values
        engine.subscribe(recorder)
    if player is not None:
        player.begin()
    return Attached(player, recorder, keeper)


async def simulate(config: PlantConfig, session: Session, until: float) -> int:
    """Run ``config`` headless to simulation time ``until``; 0, or 1 if scenario writes
    were refused."""
    from twin.app import Twin
    from twin.clock import FakeClock

    paused = dataclasses.replace(config.simulation, start_paused=True)
    twin = Twin(dataclasses.replace(config, simulation=paused), clock=FakeClock(),
                headless=True)
    parts = attach(twin, session)
    engine = twin.engine
    engine.inline_steps = True  # no server to keep answering: no thread hop per scan
    period = config.simulation.scan_period
    remaining = max(0, math.ceil((until - engine.snapshot.sim_time) / period - 1e-9))
    source = Source("simulate", "cli", "simulate", Role.ENGINEER)
    started = time.perf_counter()
    try:
        async with twin:
            while remaining:
                chunk = min(remaining, MAX_STEP_SCANS)
                engine.request_steps(chunk, source)
                await engine.wait_scans(chunk)
                remaining -= chunk
            if parts.keeper is not None:
                parts.keeper.save_stopped()  # paused: the plant is still
    finally:
        parts.close()
    elapsed = time.perf_counter() - started
    snapshot = engine.snapshot
    refused = parts.player.refused if parts.player is not None else 0
    summary = (f"simulated to {snapshot.sim_time:g} s ({snapshot.scan} scans) in "
               f"{elapsed:.2f} s")
    if parts.player is not None:
        summary += (f"; scenario {parts.player.scenario.name!r}: "
                    f"{parts.player.scenario.events} events, {refused} writes refused")
    if parts.recorder is not None:
        summary += f"; record {Path(parts.recorder.path)}: {parts.recorder.rows} rows"
    print(summary, file=sys.stderr)
    return 1 if refused else 0
