"""``--record FILE``: every tag of every tank, sampled on simulation time, as CSV.

One row per sample: the simulation tags (``sim_time`` first), then each tank's tags
in tag-table order as ``<tank>.<tag>`` columns (command pulses left out). A sample
is taken at the first scan at or after each multiple of ``period`` seconds of
simulation time. Numbers are written as the shortest text that reads back as the
same double (``repr``), booleans as 0/1 and enumerations as their codes, and no
wall-clock value is recorded: the same plant, scenario and seed give a
byte-identical file. Each row is written and flushed whole, so a killed process
leaves complete rows.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from twin.tags import DataType, Kind, TagTable

if TYPE_CHECKING:
    from twin.snapshot import Snapshot

EPSILON = 1e-9


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    return str(value)


class Recorder:
    def __init__(self, path: str | Path, tags: TagTable, tank_names: tuple[str, ...],
                 period: float, append: bool = False) -> None:
        if not (math.isfinite(period) and period > 0):
            raise ValueError(f"record period must be > 0 s, got {period}")
        self.path = Path(path)
        self.period = period
        self.rows = 0
        self.next_due = 0.0  # s of simulation time
        self._sim_tags = [t for t in tags.simulation if t.kind is not Kind.COMMAND]
        self._sim_tags.sort(key=lambda t: t.name != "sim_time")
        self._tank_tags = [t for t in tags.tank if t.kind is not Kind.COMMAND]
        self._names = tank_names
        self._append = append
        self._file: IO[str] | None = None

    def header(self) -> str:
        columns = [t.name for t in self._sim_tags]
        columns += [f"{tank}.{t.name}" for tank in self._names for t in self._tank_tags]
        return ",".join(columns) + "\n"

    def open(self) -> None:
        exists = self._append and self.path.exists() and self.path.stat().st_size > 0
        self._file = self.path.open("a" if exists else "w", encoding="utf-8", newline="")
        if not exists:
            self._file.write(self.header())
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __call__(self, snapshot: Snapshot) -> None:
        """A snapshot subscriber: writes a row when a sample is due."""
        if self._file is None or snapshot.sim_time + EPSILON < self.next_due:
            return
        self._file.write(self.row(snapshot))
        self._file.flush()
        self.rows += 1
        self.next_due = (math.floor(snapshot.sim_time / self.period + EPSILON) + 1) * self.period

    def row(self, snapshot: Snapshot) -> str:
        cells = [_text(snapshot.value(t)) for t in self._sim_tags]
        columns = []
        for tag in self._tank_tags:
            values = snapshot.column(tag).tolist()
            if tag.dtype is DataType.BOOLEAN:
                values = [bool(v) for v in values]
            elif tag.dtype is DataType.DOUBLE:
                values = [float(v) for v in values]
            else:
                values = [int(v) for v in values]
            columns.append(values)
        for tank in range(len(self._names)):
            cells.extend(_text(column[tank]) for column in columns)
        return ",".join(cells) + "\n"

    def state(self) -> dict[str, Any]:
        return {"next_due": self.next_due}

    def restore(self, state: dict[str, Any]) -> None:
        self.next_due = float(state["next_due"])
