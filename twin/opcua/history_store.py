"""SQLite storage of sampled history: one writer thread, one reader thread, WAL.

The event loop never touches the disk: :meth:`HistoryStore.append` only queues a
sample (an array of values for many series), the writer thread turns queued
samples into rows and writes them with ``executemany`` in transactions of up to
``batch_size`` rows (or whatever arrived within ``flush_interval``), and deletes
rows past the retention window now and then. Reads run on a reader thread with
its own connection; WAL lets them proceed while the writer writes.

Schema: ``series`` maps a key (a NodeId string such as ``ns=2;s=T101.level``)
to a small integer and the value's variant type; ``samples`` is clustered by
(series, time), so a time range of one series is one index range. Times are
integer microseconds since 1970 (UTC, wall clock); the simulation time is
stored alongside. The same file and the same keys continue after a restart.
"""

from __future__ import annotations

import asyncio
import fcntl
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
import structlog

log = structlog.get_logger(__name__)

T = TypeVar("T")
MIN_TS, MAX_TS = -(2**62), 2**62  # open bounds [us]
MEMORY = ":memory:"
EXPIRE_EVERY_MAX = 60.0  # s between retention passes at most
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS series ("
    " id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, vtype INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS samples ("
    " series INTEGER NOT NULL, ts INTEGER NOT NULL, sim REAL, value REAL NOT NULL,"
    " PRIMARY KEY (series, ts)) WITHOUT ROWID",
)
_INSERT = "INSERT OR REPLACE INTO samples (series, ts, sim, value) VALUES (?, ?, ?, ?)"
_RAW = {
    False: "SELECT ts, value FROM samples WHERE series = ? AND ts >= ? AND ts < ?"
           " ORDER BY ts LIMIT ?",
    True: "SELECT ts, value FROM samples WHERE series = ? AND ts <= ? AND ts > ?"
          " ORDER BY ts DESC LIMIT ?",
}
_AGGREGATE = (
    "SELECT (ts - :start) / :interval AS k, MIN(value), MAX(value), AVG(value), COUNT(*)"
    " FROM samples WHERE series = :series AND ts >= :start AND ts < :end GROUP BY k ORDER BY k"
)


class StoreObserver(Protocol):
    """What the store reports (implemented by the history metrics)."""

    def written(self, rows: int, seconds: float) -> None: ...
    def dropped(self, rows: int) -> None: ...
    def expired(self, rows: int) -> None: ...


@dataclass(frozen=True, slots=True)
class _Sample:
    ts: int  # us since 1970, wall clock
    sim: float | None  # s of simulation time (None: not from the simulation)
    series: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class _Task:
    """A job for the writer thread, answered through ``done``."""

    job: Callable[[sqlite3.Connection], Any]
    done: Future[Any]


_STOP = object()


class HistoryStore:
    def __init__(self, path: str, *, retention: float, batch_size: int = 10_000,
                 flush_interval: float = 1.0, max_pending_rows: int = 1_000_000,
                 observer: StoreObserver | None = None) -> None:
        self.path = path
        self.retention = retention  # s
        self.transactions = 0  # write transactions committed (tests and diagnostics)
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_pending = max_pending_rows
        self._observer = observer
        self._queue: queue.Queue[Any] = queue.Queue()
        self._pending_rows = 0
        self._lock = threading.Lock()
        self._writer: threading.Thread | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._reader_conn: sqlite3.Connection | None = None
        self._keepalive: sqlite3.Connection | None = None  # keeps a memory database alive
        self._claim: IO[bytes] | None = None  # the lock that makes the file this store's own

    # -- lifecycle ----------------------------------------------------------------------
    async def open(self, keys: Sequence[tuple[str, int]]) -> dict[str, int]:
        """Create the schema, register the series (key, variant type); start the threads.

        A file already used by another store (another twin, here or in another
        process) is not shared: this store then keeps its history in memory.
        """
        if self.path != MEMORY:
            self._claim = await asyncio.to_thread(_claim, Path(self.path).expanduser())
            if self._claim is None:
                log.warning("history_file_in_use", path=self.path,
                            detail="another twin uses it; this one keeps history in memory")
                self.path = MEMORY
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="twin-history-read")
        try:
            ids = await self.register(keys)
        except (sqlite3.Error, OSError) as exc:
            self._reader.shutdown(wait=True)
            self._reader = None
            self._release()
            raise OSError(f"history: cannot use {self.path}: {exc}") from exc
        self._writer = threading.Thread(target=self._run, name="twin-history-write", daemon=True)
        self._writer.start()
        log.info("history_store_opened", path=self.path, series=len(ids))
        return ids

    async def close(self) -> None:
        if self._writer is not None:
            self._queue.put(_STOP)
            await asyncio.to_thread(self._writer.join)
            self._writer = None
        if self._reader is not None:
            await asyncio.get_running_loop().run_in_executor(self._reader, self._close_reader)
            self._reader.shutdown(wait=True)
            self._reader = None
        if self._keepalive is not None:
            self._keepalive.close()
            self._keepalive = None
        self._release()

    def _release(self) -> None:
        if self._claim is not None:
            self._claim.close()  # closing the descriptor releases the lock
            self._claim = None

    # -- writing (from the event loop: never blocks) --------------------------------------
    def append(self, ts: int, sim: float | None, series: npt.NDArray[np.int64],
               values: npt.NDArray[np.float64]) -> bool:
        """Queue one sample of many series; False (and counted) if the queue is full."""
        rows = len(series)
        with self._lock:
            if self._pending_rows + rows > self._max_pending:
                if self._observer is not None:
                    self._observer.dropped(rows)
                return False
            self._pending_rows += rows
        self._queue.put(_Sample(ts, sim, series, values))
        return True

    async def flush(self) -> None:
        """Wait until everything appended so far is committed."""
        await self._ask_writer(lambda conn: None)

    async def expire(self, cutoff: int) -> int:
        """Delete the rows older than ``cutoff`` [us]; returns how many."""
        return int(await self._ask_writer(lambda conn: self._expire(conn, cutoff)))

    # -- reading (on the reader thread) ---------------------------------------------------
    async def register(self, keys: Sequence[tuple[str, int]]) -> dict[str, int]:
        """Series ids of (key, variant type), created where new."""
        return await self._read(lambda conn: _register(conn, keys))

    async def raw(self, series: int, start: int | None, end: int | None, limit: int,
                  reverse: bool) -> list[tuple[int, float]]:
        """Up to ``limit`` rows (ts, value): forward in [start, end), reverse in (end, start].

        A missing bound is open.
        """
        if reverse:
            first = MAX_TS if start is None else start
            bound = MIN_TS if end is None else end
        else:
            first = MIN_TS if start is None else start
            bound = MAX_TS if end is None else end
        sql = _RAW[reverse]
        return await self._read(
            lambda conn: conn.execute(sql, (series, first, bound, limit)).fetchall())

    async def aggregate(self, series: int, start: int, end: int,
                        interval: int) -> list[tuple[int, float, float, float, int]]:
        """(k, min, max, mean, count) per interval k = [start + k*interval, ...) with data."""
        args = {"start": start, "interval": interval, "series": series, "end": end}
        return await self._read(lambda conn: conn.execute(_AGGREGATE, args).fetchall())

    async def _read(self, job: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader, self._with_reader, job)

    def _with_reader(self, job: Callable[[sqlite3.Connection], T]) -> T:
        if self._reader_conn is None:
            self._reader_conn = self._connect()
        return job(self._reader_conn)

    def _close_reader(self) -> None:
        if self._reader_conn is not None:
            self._reader_conn.close()
            self._reader_conn = None

    # -- the writer thread ----------------------------------------------------------------
    def _run(self) -> None:
        conn = self._connect()
        try:
            self._write_loop(conn)
        finally:
            conn.close()

    def _write_loop(self, conn: sqlite3.Connection) -> None:
        pending: list[_Sample] = []
        rows, deadline = 0, 0.0
        next_expiry = time.monotonic() + min(EXPIRE_EVERY_MAX, self.retention / 10)
        while True:
            timeout = max(0.0, deadline - time.monotonic()) if pending else None
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            if isinstance(item, _Sample):
                if not pending:
                    deadline = time.monotonic() + self._flush_interval
                pending.append(item)
                rows += len(item.series)
            if pending and (item is None or item is _STOP or isinstance(item, _Task)
                            or rows >= self._batch_size or time.monotonic() >= deadline):
                self._write(conn, pending, rows)
                pending, rows = [], 0
            if isinstance(item, _Task):
                _answer(item, conn)
            if item is _STOP:
                return
            if time.monotonic() >= next_expiry:
                self._expire(conn, int((time.time() - self.retention) * 1e6))
                next_expiry = time.monotonic() + min(EXPIRE_EVERY_MAX, self.retention / 10)

    def _write(self, conn: sqlite3.Connection, batch: list[_Sample], rows: int) -> None:
        started = time.perf_counter()
        try:
            with conn:  # one transaction
                conn.executemany(_INSERT, _rows(batch))
            self.transactions += 1
            if self._observer is not None:
                self._observer.written(rows, time.perf_counter() - started)
        except sqlite3.Error:
            log.exception("history_write_failed", rows=rows)
            if self._observer is not None:
                self._observer.dropped(rows)
        finally:
            with self._lock:
                self._pending_rows -= rows

    def _expire(self, conn: sqlite3.Connection, cutoff: int) -> int:
        with conn:
            ids = [row[0] for row in conn.execute("SELECT id FROM series")]
            before = conn.total_changes
            conn.executemany("DELETE FROM samples WHERE series = ? AND ts < ?",
                             [(sid, cutoff) for sid in ids])
            deleted = conn.total_changes - before
        if deleted:
            log.info("history_expired", rows=deleted, before_us=cutoff)
            if self._observer is not None:
                self._observer.expired(deleted)
        return deleted

    async def _ask_writer(self, job: Callable[[sqlite3.Connection], Any]) -> Any:
        done: Future[Any] = Future()
        self._queue.put(_Task(job, done))
        return await asyncio.wrap_future(done)

    def _connect(self) -> sqlite3.Connection:
        if self.path == MEMORY:
            uri = f"file:twin-history-{id(self)}?mode=memory&cache=shared"
            conn = sqlite3.connect(uri, uri=True, timeout=10.0)
            if self._keepalive is None:
                self._keepalive = sqlite3.connect(uri, uri=True, check_same_thread=False)
        else:
            file = Path(self.path).expanduser()
            file.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(file, timeout=10.0)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; fast commits
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.commit()
        return conn


def _claim(file: Path) -> IO[bytes] | None:
    """An exclusive, non-blocking lock on ``<file>.lock``; None if someone holds it."""
    file.parent.mkdir(parents=True, exist_ok=True)
    handle = open(file.with_name(file.name + ".lock"), "ab")  # noqa: SIM115 - held until close
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def _rows(batch: list[_Sample]) -> Iterator[tuple[int, int, float | None, float]]:
    for sample in batch:
        for sid, value in zip(sample.series.tolist(), sample.values.tolist(), strict=True):
            yield sid, sample.ts, sample.sim, value


def _register(conn: sqlite3.Connection, keys: Sequence[tuple[str, int]]) -> dict[str, int]:
    with conn:
        conn.executemany("INSERT INTO series (key, vtype) VALUES (?, ?)"
                         " ON CONFLICT(key) DO UPDATE SET vtype = excluded.vtype", keys)
    wanted = {key for key, _ in keys}
    return {key: sid for sid, key in conn.execute("SELECT id, key FROM series") if key in wanted}


def _answer(task: _Task, conn: sqlite3.Connection) -> None:
    try:
        task.done.set_result(task.job(conn))
    except Exception as exc:  # handed to the waiting coroutine
        task.done.set_exception(exc)
