"""The ``[history]`` section of a plant file: what is sampled, where it is kept, how long.

Samples are taken on *simulation* time (every ``sample_period`` simulated
seconds), so a run is reproducible and a faster time scale gives proportionally
more samples per wall second. Each sample is stored with both times: the wall
clock source timestamp OPC UA clients query by, and the simulation time.
"""

from __future__ import annotations

from dataclasses import dataclass

from twin.config_schema import setting

DEFAULT_PATH = "~/.local/state/tank-twin/history.sqlite"
MEMORY = ":memory:"  # keep nothing on disk (and nothing across restarts)


@dataclass(frozen=True, slots=True)
class HistoryConfig:
    enabled: bool = setting(True, doc="sample the history tags; serve OPC UA HistoryRead")
    path: str = setting(DEFAULT_PATH, doc="SQLite file (created with its directory; "
                        "relative to the working directory; \":memory:\" keeps nothing)")
    sample_period: float = setting(1.0, gt=0, le=3600, unit="s",
                                   doc="simulated time between two samples")
    retention: float = setting(86_400.0, gt=0, le=10 * 365 * 86_400, unit="s",
                               doc="how long samples are kept (wall time)")
    batch_size: int = setting(10_000, ge=1, le=10_000_000,
                              doc="rows written per transaction at most")
    flush_interval: float = setting(1.0, gt=0, le=60, unit="s",
                                    doc="longest a sample waits before it is written")
    max_pending_rows: int = setting(1_000_000, ge=1, le=100_000_000,
                                    doc="rows queued for the writer before samples are dropped")
    max_values_per_read: int = setting(10_000, ge=1, le=1_000_000,
                                       doc="values per node in one HistoryRead answer "
                                       "(more come with a continuation point)")
