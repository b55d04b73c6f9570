"""The state file: where ``run --resume`` continues from.

Saved periodically (every ``interval`` wall-clock seconds) and on shutdown. One
save captures, between two scans: the core's ``save_state()`` bytes (levels,
integrators, valves, modes, faults, generators, simulation time, runtime
parameters) and the Python side as JSON (scan counters, running, time scale,
lock-step counters, every engine extension's ``state_dict()`` such as alarm
acknowledgements, the scenario's position, the recorder's next sample).

Format: ``MAGIC``, then a big-endian u64 length and the JSON, a u64 length and the
core bytes, then the SHA-256 of everything before it. The file is replaced
atomically (a temporary file in the same directory, fsync, rename, fsync of the
directory), so a SIGKILL at any moment leaves the previous or the new save, whole:
at most the last interval is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from twin.errors import ConfigError
from twin.scenario_config import DEFAULT_SAVE_INTERVAL

if TYPE_CHECKING:
    from twin.engine import Engine
    from twin.recorder import Recorder
    from twin.scenario import ScenarioPlayer
    from twin.snapshot import Snapshot

log = structlog.get_logger(__name__)

MAGIC = b"TANK-TWIN STATE 1\n"
_LENGTH = struct.Struct(">Q")
DEFAULT_INTERVAL = DEFAULT_SAVE_INTERVAL  # s of wall-clock time between saves


@dataclass(frozen=True, slots=True)
class SavedState:
    plant: bytes
    info: dict[str, Any]

    @property
    def sim_time(self) -> float:
        return float(self.info["sim_time"])


def encode(state: SavedState) -> bytes:
    info = json.dumps(state.info, sort_keys=True, separators=(",", ":")).encode("utf-8")
    body = MAGIC + _LENGTH.pack(len(info)) + info + _LENGTH.pack(len(state.plant)) + state.plant
    return body + hashlib.sha256(body).digest()


def decode(data: bytes, source: str = "state file") -> SavedState:
    def bad(reason: str) -> ConfigError:
        return ConfigError(source, "", f"not a usable state file ({reason})")

    if not data.startswith(MAGIC):
        raise bad("unknown format")
    body, digest = data[:-32], data[-32:]
    if len(data) < len(MAGIC) + 48 or hashlib.sha256(body).digest() != digest:
        raise bad("checksum mismatch: truncated or damaged")
    pos = len(MAGIC)
    (n,) = _LENGTH.unpack_from(body, pos)
    info = json.loads(body[pos + 8: pos + 8 + n])
    pos += 8 + n
    (m,) = _LENGTH.unpack_from(body, pos)
    plant = body[pos + 8: pos + 8 + m]
    if len(plant) != m:
        raise bad("truncated")
    return SavedState(plant, info)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` so that a crash leaves either the old or the new file."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)
    with contextlib.suppress(OSError):  # the rename itself, durable (POSIX)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read(path: Path) -> SavedState:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot read the state file ({exc.strerror})") from None
    return decode(data, str(path))


class StateKeeper:
    """Saves the twin's state every ``interval`` s and on ``close``; restores it."""

    def __init__(self, path: str | Path, engine: Engine, config_source: str,
                 interval: float = DEFAULT_INTERVAL) -> None:
        self.path = Path(path)
        self.engine = engine
        self.interval = interval
        self.config_source = config_source
        self.player: ScenarioPlayer | None = None
        self.recorder: Recorder | None = None
        self.saves = 0
        self._want = False
        self._captured: asyncio.Future[SavedState] | None = None
        self._task: asyncio.Task[None] | None = None

    # -- restore ------------------------------------------------------------------
    def resume(self) -> SavedState | None:
        """Load the state file into the engine (and the player, recorder) before it
        runs; None (and a warning) if there is no file yet."""
        if not self.path.exists():
            log.warning("state_file_missing", path=str(self.path), action="starting fresh")
            return None
        saved = read(self.path)
        try:
            self.engine.restore(saved.plant, saved.info["engine"])
        except (ValueError, KeyError) as exc:
            raise ConfigError(str(self.path), "", f"does not fit this plant ({exc})") from None
        scenario = saved.info.get("scenario")
        if self.player is not None and scenario is not None:
            if scenario.get("scenario") == self.player.scenario.name:
                self.player.restore(scenario)
            else:
                log.warning("state_file_other_scenario", saved=scenario.get("scenario"),
                            playing=self.player.scenario.name, action="starting it now")
        if self.recorder is not None and saved.info.get("recorder") is not None:
            self.recorder.restore(saved.info["recorder"])
        log.info("state_resumed", path=str(self.path), sim_time_s=saved.sim_time,
                 saved_at=saved.info.get("saved_at"))
        return saved

    # -- save ---------------------------------------------------------------------
    def capture(self) -> SavedState:
        """The state now (call between scans)."""
        plant, engine = self.engine.saved_state()
        info: dict[str, Any] = {
            "format": 1, "plant_file": self.config_source, "saved_at": time.time(),
            "sim_time": self.engine.plant.time, "engine": engine,
            "scenario": self.player.state() if self.player is not None else None,
            "recorder": self.recorder.state() if self.recorder is not None else None,
        }
        return SavedState(plant, info)

    def __call__(self, snapshot: Snapshot) -> None:
        """Subscriber: takes a capture requested by ``save`` right after a scan."""
        if self._want and self._captured is not None and not self._captured.done():
            self._want = False
            self._captured.set_result(self.capture())

    async def save(self) -> SavedState:
        """Capture at the next scan boundary (at once if none comes soon) and write."""
        if self.engine.idle:  # paused: no scan comes, the plant stands still
            return await self._write(self.capture())
        loop = asyncio.get_running_loop()
        self._captured = loop.create_future()
        self._want = True
        sim = self.engine.config.simulation
        wait = sim.scan_period / max(self.engine.snapshot.time_scale, 1e-9) + 0.5
        try:
            state = await asyncio.wait_for(asyncio.shield(self._captured), wait)
        except TimeoutError:  # paused meanwhile: no scan runs
            self._want = False
            state = self.capture()
        return await self._write(state)

    async def _write(self, state: SavedState) -> SavedState:
        data = encode(state)
        await asyncio.to_thread(write_atomic, self.path, data)
        self.saves += 1
        log.debug("state_saved", path=str(self.path), sim_time_s=state.sim_time,
                  bytes=len(data))
        return state

    async def _periodic(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.save()
            except OSError as exc:
                log.error("state_save_failed", path=str(self.path), reason=str(exc))

    def start(self) -> None:
        self.engine.subscribe(self)
        self._task = asyncio.create_task(self._periodic(), name="twin-state-saver")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def save_stopped(self) -> SavedState:
        """The final save, once the engine has stopped."""
        state = self.capture()
        write_atomic(self.path, encode(state))
        self.saves += 1
        log.info("state_saved", path=str(self.path), sim_time_s=state.sim_time, final=True)
        return state
