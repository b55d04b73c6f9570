"""Register images: one snapshot's tank values, encoded per table for a chunk of tanks.

An image is built with numpy when a chunk is first read after a scan (so the
work per scan grows with the tanks clients watch, not with the address space)
and then serves every read of that chunk until the next snapshot: a read is a
slice of bytes. It encodes exactly what the per-value path in the device
encodes from ``Engine.current`` when no write is pending (a test compares both).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from twin.modbus.encoding import INT16_MAX, INT16_NO_VALUE, Encoding
from twin.modbus.register_map import Block, RegisterMap, Table
from twin.snapshot import Snapshot
from twin.tags import Tag

CHUNK = 256  # tanks per image
Matrix = npt.NDArray[np.generic]  # (tanks, block size): '>u2' words, or bools for bit tables


class ImageCache:
    def __init__(self, register_map: RegisterMap) -> None:
        self._map = register_map
        self._snapshot: Snapshot | None = None
        self._images: dict[tuple[Table, int], Matrix] = {}
        self._exponents: dict[tuple[int, int], npt.NDArray[np.int8]] = {}
        self._groups = {table: _groups(block) for table, block in register_map.tank_blocks.items()}

    def row(self, snapshot: Snapshot, table: Table, tank: int | None) -> Matrix:
        """Tank ``tank``'s encoded block of ``table`` in ``snapshot``."""
        assert tank is not None, "the simulation's block is encoded value by value"
        if snapshot is not self._snapshot:
            self._snapshot, self._images = snapshot, {}
        chunk, row = divmod(tank, CHUNK)
        image = self._images.get((table, chunk))
        if image is None:
            image = self._images[(table, chunk)] = self._build(snapshot, table, chunk)
        encoded: Matrix = image[row]
        return encoded

    def _build(self, snapshot: Snapshot, table: Table, chunk: int) -> Matrix:
        low = chunk * CHUNK
        high = min(len(self._map.tanks), low + CHUNK)
        block = self._map.tank_blocks[table]
        if table.bits:
            columns = [snapshot.column(slot.tag)[low:high] for slot in block.slots]
            bits: Matrix = np.stack(columns, axis=1).astype(bool)
            return bits
        image = np.empty((high - low, block.size), dtype=">u2")
        for encoding, offset, tags in self._groups[table]:
            values = np.stack([snapshot.column(tag)[low:high] for tag in tags], axis=1)
            words = self._encode(encoding, values.astype(np.float64), chunk, offset, tags)
            image[:, offset:offset + words.shape[1]] = words
        return image

    def _encode(
        self, encoding: Encoding, values: npt.NDArray[np.float64], chunk: int, offset: int,
        tags: Sequence[Tag],
    ) -> Matrix:
        rows = values.shape[0]
        if encoding is Encoding.INT16:
            return _int16(values, self._chunk_exponents(chunk, offset, tags))
        if encoding is Encoding.UINT16:
            return np.clip(values, 0, 0xFFFF).astype(">u2")
        if encoding is Encoding.FLOAT32:
            with np.errstate(over="ignore"):  # beyond float32: +-inf, as struct does
                words = values.astype(">f4").view(">u2").reshape(rows, -1, 2)
        else:
            words = np.clip(values, 0, 2**64 - 1).astype(">u8").view(">u2").reshape(rows, -1, 4)
        if self._map.cdab:
            words = words[:, :, ::-1]
        return words.reshape(rows, -1)

    def _chunk_exponents(
        self, chunk: int, offset: int, tags: Sequence[Tag]
    ) -> npt.NDArray[np.int8]:
        key = (chunk, offset)
        found = self._exponents.get(key)
        if found is None:
            low = chunk * CHUNK
            tanks = range(low, min(len(self._map.tanks), low + CHUNK))
            found = self._exponents[key] = np.array(
                [[self._map.scaling(tag, tank).exponent for tag in tags] for tank in tanks],
                dtype=np.int8,
            )
        return found


def _int16(values: npt.NDArray[np.float64], exponents: npt.NDArray[np.int8]) -> Matrix:
    """Scaling.to_raw for a whole matrix: raw = round(value * 10**-e), saturating."""
    with np.errstate(invalid="ignore", over="ignore"):
        down = values * np.power(10.0, -np.minimum(exponents, 0))  # exact powers of ten
        up = values / np.power(10.0, np.maximum(exponents, 0))
        raw = np.round(np.where(exponents <= 0, down, up))
        raw = np.clip(raw, -INT16_MAX, INT16_MAX)
    raw = np.where(np.isnan(values), INT16_NO_VALUE, raw)
    return raw.astype(">i2").view(">u2")


def _groups(block: Block) -> list[tuple[Encoding, int, list[Tag]]]:
    """Runs of slots with one encoding: (encoding, first offset, tags)."""
    groups = []
    for encoding, run in itertools.groupby(block.slots, key=lambda slot: slot.encoding):
        slots = list(run)
        groups.append((encoding, slots[0].offset, [slot.tag for slot in slots]))
    return groups
