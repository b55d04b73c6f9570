"""The engine: owns the simulation clock, steps the core, applies commands, fans out snapshots.

Real-time pacing is on absolute deadlines ``anchor + k * period``: sleeping never
accumulates drift. A scan that ends after the next deadline is an overrun; the
missed deadlines are skipped, never caught up by bursting. Pause, single step
and time scale reuse the same loop. The core runs in one worker thread with the
GIL released, so protocol servers keep answering while the plant steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np
import structlog

from twin import _core
from twin.clock import Clock
from twin.commands import Command, CommandValidator, Source
from twin.config import PlantConfig
from twin.errors import CommandError, InvalidStateError, OutOfRangeError
from twin.snapshot import STATE_FIELDS, Snapshot, frozen
from twin.tags import Kind, Scope, Tag, TagTable

log = structlog.get_logger(__name__)

Subscriber = Callable[[Snapshot], None]
MIN_TIME_SCALE, MAX_TIME_SCALE = 0.1, 1000.0
MAX_STEP_SCANS = 1_000_000


class EngineObserver(Protocol):
    """What the engine reports (implemented by the metrics)."""

    def scan_done(self, duration: float, lateness: float) -> None: ...
    def overrun(self, missed: int) -> None: ...
    def command(self, source: Source, result: str) -> None: ...


class EngineExtension(Protocol):
    """Python-side state computed once per scan (alarms, faults...).

    An extension owns the tags whose source starts with ``prefix + "."``: writes
    to them are applied through ``apply`` at the scan boundary, and the arrays
    ``evaluate`` returns (keyed by full source, e.g. "alarm.high_active") become
    columns of every snapshot. ``evaluate`` also runs when the engine publishes while
    paused and once at construction, so it must give the same result when called again
    at an unchanged ``sim_time``.
    """

    prefix: str

    def apply(self, command: Command) -> None: ...
    def evaluate(
        self, state: dict[str, np.ndarray], params: dict[str, np.ndarray], sim_time: float
    ) -> dict[str, np.ndarray]: ...


# An extension may also keep state across a restart (twin/state_file.py): then it has
#   def state_dict(self) -> dict[str, Any]: ...          (JSON-able)
#   def load_state_dict(self, state: dict[str, Any]) -> None: ...


class _NullObserver:
    def scan_done(self, duration: float, lateness: float) -> None:
        pass

    def overrun(self, missed: int) -> None:
        pass

    def command(self, source: Source, result: str) -> None:
        pass


class Engine:
    def __init__(
        self,
        plant: _core.Plant,
        config: PlantConfig,
        tags: TagTable,
        clock: Clock,
        observer: EngineObserver | None = None,
        extensions: tuple[EngineExtension, ...] = (),
        autostart: bool = True,
    ) -> None:
        self.plant = plant
        self.config = config
        self.tags = tags
        self.clock = clock
        self.validator = CommandValidator(tags, config)
        self._observer = observer or _NullObserver()
        self._extensions = {ext.prefix: ext for ext in extensions}
        self._param_names = sorted(
            {t.source.partition(".")[2] for t in tags.tank if t.source.startswith("param.")}
        )
        self._queue: deque[Command] = deque()
        self._pending: dict[tuple[str, int | None], Command] = {}
        self._subscribers: list[Subscriber] = []
        self._running = not config.simulation.start_paused
        self._time_scale = config.simulation.time_scale
        self._step_budget = 0
        # Step in the event loop's thread instead of the worker: faster when nothing else
        # must answer meanwhile (tank-twin simulate, no servers).
        self.inline_steps = False
        self._lock_request = 0  # lock-step: the last step_request applied
        self._lock_remaining = 0  # scans still owed to it (step_ack = request - remaining)
        self._reanchor = True
        self._overruns = 0
        self._scans = 0
        self._wake = asyncio.Event()
        self._go = asyncio.Event()  # set by start(): the clock runs from then on
        if autostart:
            self._go.set()
        self._scanned = asyncio.Condition()
        self._executor: ThreadPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None
        self._params = self._copy_params()
        self.snapshot = self._make_snapshot(self._copy_state())

    # -- lifecycle -------------------------------------------------------------
    async def __aenter__(self) -> Engine:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="twin-core")
        self._task = asyncio.create_task(self._run(), name="twin-engine")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def start(self) -> None:
        """Let the clock run (an engine built with autostart=False waits for this, so the
        start-up of protocol servers does not count as overruns)."""
        self._go.set()

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    # -- what front ends call ---------------------------------------------------
    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(snapshot)`` after every scan; returns the unsubscribe function."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def current(self, tag: Tag, tank: int | None) -> Any:
        """The value a client should read: a queued write's value, else the snapshot's."""
        pending = self._pending.get((tag.name, tank))
        if pending is not None and tag.kind is not Kind.COMMAND:
            return pending.value
        if tag.scope is Scope.SIMULATION:
            return self._simulation_value(tag)
        return self.snapshot.value(tag, tank)

    @property
    def idle(self) -> bool:
        """Paused with no scan owed: the plant stands still between scans."""
        return not self._running and self._step_budget == 0 and self._lock_remaining == 0

    @property
    def writes_pending(self) -> bool:
        """True while accepted writes wait for the next scan; while False, ``current``
        equals the snapshot for every tank tag (front ends then serve reads from it)."""
        return bool(self._pending)

    def submit(self, name: str, tank: int | None, value: Any, source: Source) -> Command:
        """Validate a write and queue it for the next scan boundary.

        Raises a CommandError (and logs and counts it) when refused; nothing changes.
        """
        try:
            command = self.validator.validate(name, tank, value, source, self.current)
        except CommandError as exc:
            self._report(source, "rejected", target=_describe(name, tank), value=value,
                         reason=exc.reason, error=type(exc).__name__)
            raise
        self._queue.append(command)
        self._pending[(command.tag.name, command.tank)] = command
        self._wake.set()
        return command

    def request_steps(self, scans: int, source: Source) -> None:
        """Advance exactly ``scans`` scans while paused (single step)."""
        if self._running:
            error: CommandError = InvalidStateError("step", "pause the simulation first")
        elif not 1 <= scans <= MAX_STEP_SCANS:
            error = OutOfRangeError("step", f"must be 1..{MAX_STEP_SCANS} scans, got {scans}")
        else:
            self._step_budget += scans
            self._wake.set()
            self._report(source, "accepted", target="step", value=scans)
            return
        self._report(source, "rejected", target="step", value=scans, reason=error.reason)
        raise error

    # -- state file (twin/state_file.py) -------------------------------------------
    def saved_state(self) -> tuple[bytes, dict[str, Any]]:
        """The plant's bytes and the engine's Python-side state (JSON-able), taken
        together; call it between scans (from a subscriber, or while stopped)."""
        extensions = {}
        for prefix, ext in self._extensions.items():
            state_dict = getattr(ext, "state_dict", None)  # optional on an extension
            if state_dict is not None:
                extensions[prefix] = state_dict()
        info = {"scans": self._scans, "overruns": self._overruns, "running": self._running,
                "time_scale": self._time_scale, "step_request": self._lock_request,
                "step_ack": self._lock_request - self._lock_remaining,
                "extensions": extensions}
        return self.plant.save_state(), info

    def restore(self, plant_state: bytes, info: dict[str, Any]) -> None:
        """Continue from ``saved_state()`` output (before the engine runs). ValueError if
        the plant does not match."""
        self.plant.load_state(plant_state)
        self._scans = int(info["scans"])
        self._overruns = int(info.get("overruns", 0))
        self._running = bool(info["running"])
        self._time_scale = float(info["time_scale"])
        self._lock_request = int(info.get("step_request", 0))  # owed lock-step scans
        self._lock_remaining = self._lock_request - int(info.get("step_ack", 0))  # continue
        for prefix, state in info.get("extensions", {}).items():
            ext = self._extensions.get(prefix)
            if ext is not None and hasattr(ext, "load_state_dict"):
                ext.load_state_dict(state)
        self._reanchor = True
        self._params = self._copy_params()
        self.snapshot = self._make_snapshot(self._copy_state())

    async def wait_scans(self, count: int = 1) -> Snapshot:
        """Wait until ``count`` more scans have completed; returns the latest snapshot."""
        target = self._scans + count
        async with self._scanned:
            await self._scanned.wait_for(lambda: self._scans >= target)
        return self.snapshot

    # -- the loop ---------------------------------------------------------------
    async def _run(self) -> None:
        await self._go.wait()
        anchor, k = self.clock.now(), 0
        while True:
            if not self._running and self._step_budget == 0 and self._lock_remaining == 0:
                await self._wake.wait()
                self._wake.clear()
                params_changed, done = self._apply_commands()
                self._publish_idle(params_changed)
                self._settle(done)
                continue
            period = self.config.simulation.scan_period / self._time_scale
            if self._running:
                if self._reanchor:
                    anchor, k, self._reanchor = self.clock.now(), 0, False
                deadline = anchor + k * period
                await self.clock.sleep_until(deadline)
                lateness = max(0.0, self.clock.now() - deadline)
            else:
                if self._lock_remaining == 0:  # a lock-step scan is counted in _scan
                    self._step_budget -= 1
                lateness = 0.0
            await self._scan(lateness)
            if self._running and not self._reanchor:
                k = self._next_slot(anchor, k, period)

    def _next_slot(self, anchor: float, k: int, period: float) -> int:
        k += 1
        late = self.clock.now() - (anchor + k * period)
        if late > 0:
            missed = int(late // period) + 1
            self._overruns += 1
            self._observer.overrun(missed)
            log.warning("scan_overrun", late_s=round(late, 6), skipped=missed)
            k += missed
        return k

    async def _scan(self, lateness: float) -> None:
        started = self.clock.now()
        params_changed, done = self._apply_commands()
        if self.inline_steps:
            state = self._step_and_copy()
        else:
            loop = asyncio.get_running_loop()
            state = await loop.run_in_executor(self._executor, self._step_and_copy)
        if params_changed:
            self._params = self._copy_params()
        self._scans += 1
        if self._lock_remaining:
            self._lock_remaining -= 1
        self.snapshot = self._make_snapshot(state)
        self._settle(done)
        self._fan_out()
        async with self._scanned:
            self._scanned.notify_all()
        self._observer.scan_done(self.clock.now() - started, lateness)

    def _step_and_copy(self) -> dict[str, np.ndarray]:
        self.plant.step(self.config.simulation.steps_per_scan)
        return self._copy_state()

    def _copy_state(self) -> dict[str, np.ndarray]:
        return {name: frozen(getattr(self.plant, name).copy()) for name in STATE_FIELDS}

    def _copy_params(self) -> dict[str, np.ndarray]:
        return {name: frozen(self.plant.param_array(name).copy()) for name in self._param_names}

    def _make_snapshot(self, state: dict[str, np.ndarray]) -> Snapshot:
        for ext in self._extensions.values():
            for key, column in ext.evaluate(state, self._params, self.plant.time).items():
                state[key] = frozen(column)
        return Snapshot(
            scan=self._scans,
            steps=self.plant.steps,
            sim_time=self.plant.time,
            wall_time=time.time(),
            running=self._running,
            time_scale=self._time_scale,
            overruns=self._overruns,
            state=state,
            params=self._params,
            step_request=self._lock_request,
            step_ack=self._lock_request - self._lock_remaining,
        )

    def _publish_idle(self, params_changed: bool) -> None:
        """While paused, a command (a reset, a setpoint) still shows at once."""
        if params_changed:
            self._params = self._copy_params()
        self.snapshot = self._make_snapshot(self._copy_state())
        self._fan_out()

    def _fan_out(self) -> None:
        for callback in list(self._subscribers):
            try:
                callback(self.snapshot)
            except Exception:  # a faulty consumer must not stop the plant
                log.exception("subscriber_failed", subscriber=repr(callback))

    # -- commands ---------------------------------------------------------------
    def _apply_commands(self) -> tuple[bool, list[Command]]:
        """Apply queued commands in order; whether any parameter may have changed, and
        the commands taken off the queue."""
        params_changed = False
        done: list[Command] = []
        while self._queue:
            command = self._queue.popleft()
            done.append(command)
            try:
                params_changed |= self._apply(command)
            except (ValueError, CommandError) as exc:
                self._report(command.source, "failed", target=command.target,
                             value=command.value, reason=str(exc), command_id=command.id)
                continue
            self._report(command.source, "applied", target=command.target,
                         value=command.value, command_id=command.id)
        return params_changed, done

    def _settle(self, done: list[Command]) -> None:
        """Reads show a write's value until the snapshot that carries its effect is out."""
        for command in done:
            key = (command.tag.name, command.tank)
            if self._pending.get(key) is command:
                del self._pending[key]

    def _apply(self, command: Command) -> bool:
        tag, tank, value = command.tag, command.tank, command.value
        if tag.scope is Scope.SIMULATION:
            return self._apply_simulation(tag, value)
        assert tank is not None
        kind, _, field = tag.source.partition(".")
        if kind == "state":
            if field == "mode":
                self.plant.set_mode(tank, int(value))
            else:
                setters = {
                    "setpoint": self.plant.set_setpoint,
                    "inlet_flow": self.plant.set_inlet_flow,
                    "valve_command": self.plant.set_valve_command,
                }
                setters[field](tank, float(value))
            return False
        if kind == "param":
            self.plant.set_param(tank, field, float(value))
            return True
        if kind == "command" and field == "reset":
            if value:
                self.plant.reset(tank)
            return True
        if kind in self._extensions:
            self._extensions[kind].apply(command)
            return False
        raise CommandError(command.target, f"no write path for {tag.source}")

    def _apply_simulation(self, tag: Tag, value: Any) -> bool:
        """Apply a simulation tag's write; whether parameters may have changed."""
        if tag.name == "step_request":
            self._lock_step(int(value))
        elif tag.name == "reset_all":
            if value:
                self.plant.reset(-1)
                return True
        elif tag.name == "time_scale":
            self._time_scale = float(value)
            self._reanchor = True
        elif tag.name == "running":
            if bool(value) and not self._running:
                self._reanchor = True
            self._running = bool(value)
        else:
            raise CommandError(tag.name, "no write path")
        return False

    def _lock_step(self, request: int) -> None:
        """Lock-step: pause, and owe ``request - last request`` scans from this boundary on;
        step_ack reaches ``request`` in the snapshot of the last of them."""
        ahead = request - self._lock_request
        if ahead <= 0:
            return
        self._running = False
        self._lock_request = request
        self._lock_remaining += ahead

    def _simulation_value(self, tag: Tag) -> Any:
        live = {"sim.running": self._running, "sim.time_scale": self._time_scale,
                "sim.step_request": self._lock_request}
        if tag.source in live:
            return live[tag.source]
        return self.snapshot.value(tag)

    def _report(self, source: Source, result: str, **fields: Any) -> None:
        self._observer.command(source, result)
        event = "command_" + result
        level = log.info if result in ("applied", "accepted") else log.warning
        level(event, source=source.describe(), protocol=source.protocol, role=source.role.name,
              **fields)


def _describe(name: str, tank: int | None) -> str:
    return name if tank is None else f"tank {tank}: {name}"
