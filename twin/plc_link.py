"""PLC in the loop: the heartbeat watchdog of tanks in EXTERNAL mode (docs/faults.md).

In EXTERNAL mode the valve command comes from a PLC (``valve_command`` writes over
Modbus or OPC UA). The PLC must also change ``plc_heartbeat`` at least once every
``plc_timeout`` seconds of *simulation* time (deterministic, stops while the
simulation is paused, advances exactly with lock-step). When it does not:

- ``plc_comm_loss`` becomes true (a metric) and the fail-safe action ``plc_fail_safe``
  is taken: HOLD leaves the valve where it is, CLOSE and OPEN drive the valve command
  to 0 or 1 (and keep it there while the loss lasts, so a stray write cannot move it),
  AUTO switches the tank to AUTO: the internal PID takes over bumplessly.
- Recovery: the next heartbeat change clears ``plc_comm_loss``. The mode does not return
  to EXTERNAL by itself: after an AUTO fallback the PLC (or an operator) writes
  ``mode = EXTERNAL`` again, a deliberate hand-over. Leaving EXTERNAL for MANUAL also
  clears the loss (no PLC link to lose); switching to EXTERNAL starts a fresh timeout.

The action reaches the core at the end of the scan that detected the loss, so the
snapshot of that scan shows ``plc_comm_loss`` and the next one the valve or mode change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import structlog

from twin import _core
from twin.errors import CommandError
from twin.tank_config import PLC_FAIL_SAFES

if TYPE_CHECKING:
    from twin.commands import Command
    from twin.config import PlantConfig

log = structlog.get_logger(__name__)

HOLD, CLOSE, OPEN, AUTO = range(len(PLC_FAIL_SAFES))
MAX_LOGGED = 20  # transitions logged per scan; beyond this one summary line

Bools = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]


class PlcLink:
    """EngineExtension ``plc``: heartbeat, timeout, fail-safe action and comm-loss state."""

    prefix = "plc"

    def __init__(self, config: PlantConfig, plant: _core.Plant) -> None:
        self._plant = plant
        self._names = tuple(tank.name for tank in config.tanks)
        n = len(self._names)
        self._timeout: Floats = np.array(
            [tank.settings.plc_timeout for tank in config.tanks], dtype=np.float64
        )
        self._action = np.array(
            [PLC_FAIL_SAFES.index(tank.settings.plc_fail_safe) for tank in config.tanks],
            dtype=np.int32,
        )
        self._heartbeat: Floats = np.zeros(n, dtype=np.float64)
        self._beat: Bools = np.zeros(n, dtype=bool)  # heartbeat changed since the last scan
        self._last_beat: Floats = np.zeros(n, dtype=np.float64)  # sim time of the last change
        self._external: Bools = np.zeros(n, dtype=bool)  # in EXTERNAL at the last scan
        self._loss: Bools = np.zeros(n, dtype=bool)
        self._published: dict[str, np.ndarray] = {}
        self._dirty = True

    # -- EngineExtension ----------------------------------------------------------
    def apply(self, command: Command) -> None:
        key, tank = command.tag.source, command.tank
        if tank is None:
            raise CommandError(command.target, "the PLC link belongs to a tank")
        value = float(command.value)
        if key == "plc.heartbeat":
            if value != self._heartbeat[tank]:
                self._beat[tank] = True
            self._heartbeat[tank] = value
        elif key == "plc.timeout":
            self._timeout[tank] = value
        elif key == "plc.fail_safe":
            self._action[tank] = int(value)
        else:
            raise CommandError(command.target, f"no write path for {key}")
        self._dirty = True

    def evaluate(
        self, state: dict[str, np.ndarray], params: dict[str, np.ndarray], sim_time: float
    ) -> dict[str, np.ndarray]:
        mode = state["mode"]
        external: Bools = mode == _core.EXTERNAL
        restart = self._beat | (external & ~self._external)
        if restart.any():
            self._last_beat = np.where(restart, sim_time, self._last_beat)
        age: Floats = np.where(external, sim_time - self._last_beat, 0.0)
        recovered = self._loss & (self._beat | (mode == _core.MANUAL))
        lost = external & ~self._loss & (age > self._timeout)
        if recovered.any() or lost.any():
            self._loss = (self._loss & ~recovered) | lost
            self._report(recovered, lost, age)
            self._fail_safe(lost)
        self._enforce(external, state["valve_command"])
        self._beat = np.zeros_like(self._beat)
        self._external = external
        return self._columns(age)

    # -- state file (Engine.saved_state / restore) ------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"timeout": self._timeout.tolist(), "action": self._action.tolist(),
                "heartbeat": self._heartbeat.tolist(), "last_beat": self._last_beat.tolist(),
                "external": self._external.tolist(), "loss": self._loss.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        n = len(self._names)
        columns = {"timeout": np.float64, "action": np.int32, "heartbeat": np.float64,
                   "last_beat": np.float64, "external": np.bool_, "loss": np.bool_}
        loaded: dict[str, np.ndarray] = {
            key: np.array(state[key], dtype=dtype) for key, dtype in columns.items()
        }
        if any(len(column) != n for column in loaded.values()):
            raise ValueError(f"plc: saved for {len(loaded['timeout'])} tanks, plant has {n}")
        self._timeout, self._action = loaded["timeout"], loaded["action"]
        self._heartbeat, self._last_beat = loaded["heartbeat"], loaded["last_beat"]
        self._external, self._loss = loaded["external"], loaded["loss"]
        self._beat = np.zeros(n, dtype=bool)
        self._dirty = True

    # -- internals ----------------------------------------------------------------
    def _fail_safe(self, lost: Bools) -> None:
        for tank in np.flatnonzero(lost & (self._action == AUTO)).tolist():
            self._plant.set_mode(tank, _core.AUTO)  # bumpless in the core

    def _enforce(self, external: Bools, command: Floats) -> None:
        """CLOSE/OPEN: the valve command stays at 0/1 while the loss lasts."""
        if not self._loss.any():
            return
        target = np.where(self._action == OPEN, 1.0, 0.0)
        held = self._loss & external & ((self._action == CLOSE) | (self._action == OPEN))
        for tank in np.flatnonzero(held & (command != target)).tolist():
            self._plant.set_valve_command(tank, float(target[tank]))

    def _report(self, recovered: Bools, lost: Bools, age: Floats) -> None:
        for tank in np.flatnonzero(lost)[:MAX_LOGGED].tolist():
            log.warning("plc_comm_loss", tank=self._names[tank],
                        heartbeat_age_s=round(float(age[tank]), 3),
                        action=PLC_FAIL_SAFES[self._action[tank]])
        for tank in np.flatnonzero(recovered)[:MAX_LOGGED].tolist():
            log.info("plc_comm_restored", tank=self._names[tank])
        count = int(lost.sum() + recovered.sum())
        if count > 2 * MAX_LOGGED:
            log.info("plc_link_transitions", count=count)

    def _columns(self, age: Floats) -> dict[str, np.ndarray]:
        if self._dirty:  # copies: the engine freezes what it receives
            self._published = {
                "plc.heartbeat": self._heartbeat.copy(),
                "plc.timeout": self._timeout.copy(),
                "plc.fail_safe": self._action.copy(),
            }
            self._dirty = False
        return {**self._published, "plc.comm_loss": self._loss, "plc.heartbeat_age": age}
