"""Monitored items on tag variables, sampled once per scan with numpy.

asyncua samples nothing: it reports a value when something writes it, compares
a deadband with the last *received* value (so a slow drift is never reported),
has no percent deadband, and deep-copies every value per item. For our tag
variables we do it here instead, per subscription, in blocks of items that
share a tag and their parameters:

- a block is sampled when its sampling interval is due (at most once per scan:
  the plant's values change once per scan);
- an item reports when its value changed by more than its deadband since the
  value it last *reported* (Part 4, 7.22.2); percent deadbands use the tank's
  EURange;
- each item has a queue of ``queue_size`` samples (a ring buffer); when full the
  oldest (or, with DiscardOldest false, the newest) is replaced and, for queues
  longer than one, the Overflow info bit is set (Part 4, 7.21.4);
- at publish time the queued values are encoded straight into the binary
  MonitoredItemNotification records (Part 6, 5.2.2.17), vectorised.

The cost of a scan grows with the number of monitored values, at numpy speed,
and the Python-level cost with the number of blocks, not with the address space.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from asyncua import ua

from twin.opcua.address_space import Point
from twin.opcua.values import NUMPY_TYPES
from twin.tags import DataType, Tag

# DataValue encoding mask bits (Part 6, 5.2.2.17).
HAS_VALUE, HAS_STATUS, HAS_SOURCE_TIME, HAS_SERVER_TIME = 0x01, 0x02, 0x04, 0x08
OVERFLOW = 0x0480  # StatusCode info bits: InfoType DataValue | Overflow (Part 4, 7.39.1)
_VARIANT_IDS = {DataType.DOUBLE: 11, DataType.BOOLEAN: 1, DataType.ENUM: 7, DataType.UINT64: 9}

Column = npt.NDArray[np.generic]
Columns = Callable[[Tag], Column]  # a tag's values: all tanks, or one for a simulation tag


def _record(value_type: str, status: bool) -> np.dtype[np.void]:
    """One MonitoredItemNotification as bytes: ClientHandle, then a DataValue."""
    fields = [("handle", "<u4"), ("mask", "u1"), ("variant", "u1"), ("value", value_type)]
    if status:
        fields.append(("status", "<u4"))
    fields += [("source", "<i8"), ("server", "<i8")]
    return np.dtype(fields)  # packed: no alignment padding


@dataclass(frozen=True, slots=True)
class BlockKey:
    """What the items of one block share."""

    tag: Tag
    interval: float  # s
    queue_size: int
    discard_oldest: bool
    trigger: ua.DataChangeTrigger


@dataclass(frozen=True, slots=True)
class NewItem:
    mid: int
    handle: int
    point: Point
    threshold: float  # absolute deadband in the tag's unit; 0: any change
    reporting: bool


class Block:
    """Items sharing a BlockKey: parallel arrays, one slot per item (dead slots reused)."""

    def __init__(self, key: BlockKey) -> None:
        self.key = key
        self.dtype = np.dtype(NUMPY_TYPES[key.tag.dtype])
        self.records = (_record(self.dtype.str, False), _record(self.dtype.str, True))
        q = key.queue_size
        self.slot: dict[int, int] = {}  # mid -> slot
        self.free: list[int] = []
        self.tanks = np.zeros(0, np.intp)
        self.handles = np.zeros(0, "<u4")
        self.threshold = np.zeros(0, "f8")
        self.reporting = np.zeros(0, bool)
        self.last = np.zeros(0, self.dtype)
        self.values = np.zeros((q, 0), self.dtype)
        self.source = np.zeros((q, 0), "<i8")
        self.head = np.zeros(0, np.intp)
        self.count = np.zeros(0, np.intp)
        self.overflow = np.zeros(0, bool)
        self.banded = False  # some item has a deadband
        self.next_due = 0.0

    def __len__(self) -> int:
        return len(self.slot)

    def _grow(self, extra: int) -> None:
        def more(a: np.ndarray, axis: int = 0) -> np.ndarray:
            shape = list(a.shape)
            shape[axis] = extra
            return np.concatenate([a, np.zeros(shape, a.dtype)], axis=axis)

        self.free.extend(range(len(self.tanks), len(self.tanks) + extra))
        for name in ("tanks", "handles", "threshold", "reporting", "last", "head", "count",
                     "overflow"):
            setattr(self, name, more(getattr(self, name)))
        self.values, self.source = more(self.values, 1), more(self.source, 1)

    def add(self, items: list[NewItem], column: Column, source: int) -> None:
        """New items; each reporting one queues its current value (the first sample)."""
        if len(items) > len(self.free):
            self._grow(len(items) - len(self.free))
        slots = np.array([self.free.pop() for _ in items], np.intp)
        for item, slot in zip(items, slots.tolist(), strict=True):
            self.slot[item.mid] = slot
        self.tanks[slots] = [item.point.tank or 0 for item in items]
        self.handles[slots] = [item.handle for item in items]
        self.threshold[slots] = [item.threshold for item in items]
        self.reporting[slots] = [item.reporting for item in items]
        self.banded = bool((self.threshold > 0).any())
        self.head[slots] = self.count[slots] = 0
        self.overflow[slots] = False
        self._first_sample(slots[self.reporting[slots]], column, source)

    def _first_sample(self, slots: np.ndarray, column: Column, source: int) -> None:
        values = column[self.tanks[slots]].astype(self.dtype, copy=False)
        self.last[slots] = values
        self._push(slots, values, source)

    def remove(self, mid: int) -> None:
        slot = self.slot.pop(mid)
        self.reporting[slot] = False
        self.count[slot] = 0
        self.free.append(slot)

    def set_reporting(self, mid: int, on: bool, column: Column, source: int) -> None:
        slot = self.slot[mid]
        was = bool(self.reporting[slot])
        self.reporting[slot] = on
        if on and not was:
            self._first_sample(np.array([slot], np.intp), column, source)
        if not on:
            self.count[slot] = 0

    def sample(self, column: Column, source: int) -> int:
        """Sample every reporting item; queue those that pass the filter. Returns their number."""
        if self.key.trigger == ua.DataChangeTrigger.Status:
            return 0  # our values always have a Good status: only the first sample reports
        new = column[self.tanks].astype(self.dtype, copy=False)
        if self.key.trigger == ua.DataChangeTrigger.StatusValueTimestamp:
            passed = self.reporting
        else:
            passed = (new != self.last) & self.reporting
            if self.banded:
                delta = np.abs(new.astype("f8") - self.last.astype("f8"))
                passed &= (self.threshold <= 0) | (delta > self.threshold)
        slots = np.flatnonzero(passed)
        if slots.size:
            self.last[slots] = new[slots]
            self._push(slots, new[slots], source)
        return int(slots.size)

    def _push(self, slots: np.ndarray, values: np.ndarray, source: int) -> None:
        q = self.key.queue_size
        count = self.count[slots]
        full = count >= q
        if self.key.discard_oldest:
            pos = (self.head[slots] + np.where(full, 0, count)) % q
            self.head[slots[full]] = (self.head[slots[full]] + 1) % q
        else:  # keep the oldest: the newest queued value is replaced
            pos = (self.head[slots] + np.minimum(count, q - 1)) % q
        self.values[pos, slots] = values
        self.source[pos, slots] = source
        self.count[slots] = np.minimum(count + 1, q)
        if q > 1:  # a queue of one replaces its value silently (Part 4, 7.21.4)
            self.overflow[slots[full]] = True

    def pop(self, server: int) -> tuple[list[bytes], int]:
        """Encode every queued value, oldest first per item, and empty the queues."""
        slots = np.flatnonzero(self.count)
        if not slots.size:
            return [], 0
        q, parts, total = self.key.queue_size, [], 0
        if q == 1:  # the common case: one value each, never an overflow bit
            self.count[slots] = 0
            return [self._encode(slots, np.zeros(len(slots), np.intp), server, False)], len(slots)
        counts = self.count[slots]
        for k in range(int(counts.max())):
            items = slots[counts > k]
            pos = (self.head[items] + k) % q
            marked = self.overflow[items] if k == 0 else np.zeros(len(items), bool)
            for status in (False, True):
                chosen = items[marked == status]
                if chosen.size:
                    parts.append(self._encode(chosen, pos[marked == status], server, status))
            total += len(items)
        self.count[slots] = 0
        self.head[slots] = 0
        self.overflow[slots] = False
        return parts, total

    def _encode(self, items: np.ndarray, pos: np.ndarray, server: int, status: bool) -> bytes:
        rec = np.empty(len(items), self.records[status])
        rec["handle"] = self.handles[items]
        rec["mask"] = HAS_VALUE | HAS_SOURCE_TIME | HAS_SERVER_TIME | (HAS_STATUS if status else 0)
        rec["variant"] = _VARIANT_IDS[self.key.tag.dtype]
        rec["value"] = self.values[pos, items]
        if status:
            rec["status"] = OVERFLOW
        rec["source"] = self.source[pos, items]
        rec["server"] = server
        return rec.tobytes()


class ItemSet:
    """The tag-variable monitored items of one subscription."""

    def __init__(self) -> None:
        self.blocks: dict[BlockKey, Block] = {}
        self.where: dict[int, BlockKey] = {}  # mid -> its block
        self.dirty = False  # something is queued

    def __len__(self) -> int:
        return len(self.where)

    def __contains__(self, mid: object) -> bool:
        return mid in self.where

    def add(self, key: BlockKey, items: list[NewItem], columns: Columns, source: int) -> None:
        block = self.blocks.get(key)
        if block is None:
            block = self.blocks[key] = Block(key)
        block.add(items, columns(key.tag), source)
        for item in items:
            self.where[item.mid] = key
        self.dirty = self.dirty or any(item.reporting for item in items)

    def remove(self, mids: Iterable[int]) -> None:
        for mid in mids:
            key = self.where.pop(mid)
            block = self.blocks[key]
            block.remove(mid)
            if not len(block):
                del self.blocks[key]

    def set_reporting(self, mid: int, on: bool, columns: Columns, source: int) -> None:
        key = self.where[mid]
        self.blocks[key].set_reporting(mid, on, columns(key.tag), source)
        self.dirty = self.dirty or on

    def sample(self, columns: Columns, source: int, now: float, period: float) -> int:
        """Sample the blocks that are due; ``period`` is the scan's wall-clock period."""
        queued = 0
        for block in self.blocks.values():
            interval = block.key.interval
            if interval > period and now < block.next_due - period / 2:
                continue
            due = block.next_due + interval  # keep the phase unless it fell behind
            block.next_due = due if due > now else now + interval
            queued += block.sample(columns(block.key.tag), source)
        self.dirty = self.dirty or queued > 0
        return queued

    def pop(self, server: int) -> tuple[list[bytes], int]:
        parts: list[bytes] = []
        total = 0
        for block in self.blocks.values():
            block_parts, count = block.pop(server)
            parts += block_parts
            total += count
        self.dirty = False
        return parts, total
