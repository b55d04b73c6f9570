"""The Modbus register map, generated from the tag table.

Which table a tag lives in follows from its type and access:

- read-only Double tags (measurements): input registers, float32 + INT16 mirror
  (read-only enumerations: a uint16 code);
- writable Double and Enumeration tags (settings, inputs, mode): holding
  registers, float32 + INT16 mirror, or a uint16 code;
- writable booleans and pulses (reset): coils; read-only booleans (status): discrete inputs;
- UInt64 counters (step_count, scan_count, overruns): input registers, four words.

Within a table a tank's block lists the float32 values in tag-table order, then
their INT16 mirrors in the same order, then the uint16 codes, then the uint64
counters. Every tank has the identical block. Layouts (docs/modbus.md): per_unit
puts tank k on unit id ``unit_id + k`` with its blocks at address 0; block puts
``tanks_per_unit`` tanks on each unit id, tank k's block at ``(k % tanks_per_unit)
* stride`` where the stride is the block's size. The simulation's tags form their
own block on ``simulation_unit_id``.
"""

from __future__ import annotations

import bisect
import enum
import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from twin.modbus.encoding import Encoding, Scaling, scaling_for
from twin.tags import DataType, Kind, Tag, TagTable

if TYPE_CHECKING:
    from twin.modbus.config import ModbusConfig
    from twin.tank_config import TankSettings

ADDRESS_SPACE = 65_536  # addresses 0..65535 per table (Modbus Application Protocol 4.3)
SCALING_CACHE = 65_536  # (tag, tank) scalings kept; a huge plant recomputes the rest
MAX_UNIT_ID_TANKS = 247  # highest unit id of a tank (Modbus over serial line 2.2: 1..247)


class Table(enum.Enum):
    """A Modbus data table: its export name and its classic register-number prefix."""

    COILS = ("coil", 0)
    DISCRETE_INPUTS = ("discrete_input", 1)
    INPUT_REGISTERS = ("input_register", 3)
    HOLDING_REGISTERS = ("holding_register", 4)

    def __init__(self, label: str, prefix: int) -> None:
        self.label = label
        self.prefix = prefix

    @property
    def bits(self) -> bool:
        return self in (Table.COILS, Table.DISCRETE_INPUTS)


@dataclass(frozen=True, slots=True)
class Slot:
    """One value in a block: a tag, its encoding and its offset in the block."""

    tag: Tag
    encoding: Encoding
    offset: int

    @property
    def end(self) -> int:
        return self.offset + self.encoding.width


class Block:
    """The slots of one table for one tank (or for the simulation), contiguous from 0."""

    __slots__ = ("_ends", "_starts", "size", "slots", "table")

    def __init__(self, table: Table, slots: tuple[Slot, ...]) -> None:
        self.table = table
        self.slots = slots
        self.size = slots[-1].end if slots else 0
        self._starts = [slot.offset for slot in slots]
        self._ends = [slot.end for slot in slots]

    def covering(self, low: int, high: int) -> tuple[Slot, ...]:
        """The slots overlapping offsets [low, high)."""
        first = bisect.bisect_right(self._ends, low)
        last = bisect.bisect_left(self._starts, high)
        return self.slots[first:last]


@dataclass(frozen=True, slots=True)
class Target:
    """What a unit id serves: ``count`` tanks from ``first`` on, or the simulation."""

    first: int
    count: int
    simulation: bool = False


def table_of(tag: Tag) -> Table:
    if tag.dtype is DataType.BOOLEAN:
        pulse = tag.kind is Kind.COMMAND
        return Table.COILS if tag.writable or pulse else Table.DISCRETE_INPUTS
    return Table.HOLDING_REGISTERS if tag.writable else Table.INPUT_REGISTERS


def build_blocks(tags: Sequence[Tag], int16_mirror: bool) -> dict[Table, Block]:
    """The block of every table for one scope (a tank, or the simulation)."""
    blocks = {}
    for table in Table:
        mine = [t for t in tags if table_of(t) is table]
        if table.bits:
            order = [(t, Encoding.BIT) for t in mine]
        else:
            floats = [t for t in mine if t.dtype is DataType.DOUBLE]
            order = [(t, Encoding.FLOAT32) for t in floats]
            if int16_mirror:
                order += [(t, Encoding.INT16) for t in floats]
            order += [(t, Encoding.UINT16) for t in mine if t.dtype is DataType.ENUM]
            order += [(t, Encoding.UINT64) for t in mine if t.dtype is DataType.UINT64]
        slots, offset = [], 0
        for tag, encoding in order:
            slots.append(Slot(tag, encoding, offset))
            offset += encoding.width
        blocks[table] = Block(table, tuple(slots))
    return blocks


@dataclass(frozen=True, slots=True)
class Layout:
    """Where tanks sit: ``tanks_per_unit`` tanks on each unit id from ``first_unit`` on."""

    name: str  # "per_unit" or "block"
    first_unit: int
    tanks_per_unit: int
    units: int  # unit ids the tanks use


def resolve_layout(config: ModbusConfig, tank_count: int, blocks: dict[Table, Block]) -> Layout:
    name = config.layout
    if name == "auto":
        fits = config.unit_id + tank_count - 1 <= MAX_UNIT_ID_TANKS
        name = "per_unit" if fits else "block"
    if name == "per_unit":
        per_unit = 1
    elif config.tanks_per_unit:
        per_unit = config.tanks_per_unit
    else:
        sizes = [b.size for b in blocks.values() if b.size]
        per_unit = max(1, min([tank_count, *(ADDRESS_SPACE // size for size in sizes)]))
    units = -(-tank_count // per_unit)
    return Layout(name, config.unit_id, per_unit, units)


class RegisterMap:
    """Unit ids, blocks and scalings of one plant under one ``[modbus]`` section."""

    def __init__(
        self, config: ModbusConfig, tags: TagTable, tanks: Sequence[TankSettings]
    ) -> None:
        self.config = config
        self.tanks = tuple(tanks)
        self.tank_blocks = build_blocks(tags.tank, config.int16_mirror)
        self.sim_blocks = build_blocks(tags.simulation, config.int16_mirror)
        self.layout = resolve_layout(config, len(self.tanks), self.tank_blocks)
        self.cdab = config.word_order == "CDAB"
        self._scaling = functools.lru_cache(maxsize=SCALING_CACHE)(self._compute_scaling)
        self._targets = {unit: self._resolve(unit) for unit in range(256)}

    def target(self, unit_id: int) -> Target | None:
        """What ``unit_id`` serves, or None for an unknown unit id."""
        return self._targets.get(unit_id)

    def _resolve(self, unit_id: int) -> Target | None:
        if unit_id == self.config.simulation_unit_id:
            return Target(0, 0, simulation=True)
        layout = self.layout
        index = unit_id - layout.first_unit
        if not 0 <= index < layout.units:
            return None
        first = index * layout.tanks_per_unit
        return Target(first, min(layout.tanks_per_unit, len(self.tanks) - first))

    def units(self) -> Iterator[tuple[int, Target]]:
        """Every unit id served, in ascending order."""
        first = self.layout.first_unit
        ids = [*range(first, first + self.layout.units), self.config.simulation_unit_id]
        for unit_id in sorted(ids):
            target = self.target(unit_id)
            assert target is not None
            yield unit_id, target

    def size(self, target: Target, table: Table) -> int:
        """Addresses of ``table`` defined for ``target``: [0, size)."""
        if target.simulation:
            return self.sim_blocks[table].size
        return target.count * self.tank_blocks[table].size

    def segments(
        self, target: Target, table: Table, address: int, count: int
    ) -> Iterator[tuple[int | None, Block, int, int]]:
        """(tank, block, low, high) pieces of [address, address + count), in order.

        The caller has checked that the range lies inside ``size(target, table)``.
        """
        if target.simulation:
            yield None, self.sim_blocks[table], address, address + count
            return
        block = self.tank_blocks[table]
        stride, end = block.size, address + count
        while address < end:
            index, low = divmod(address, stride)
            high = min(stride, low + end - address)
            yield target.first + index, block, low, high
            address += high - low

    def scaling(self, tag: Tag, tank: int | None) -> Scaling:
        """The INT16 mirror's scaling of ``tag`` for ``tank`` (None: the simulation)."""
        return self._scaling(tag, tank)

    def _compute_scaling(self, tag: Tag, tank: int | None) -> Scaling:
        settings = None if tank is None else self.tanks[tank]
        low, high = tag.bounds(settings)
        field = tag.source.partition(".")[2]
        reference = getattr(settings, field, None) if settings is not None else None
        if not isinstance(reference, float | int) or isinstance(reference, bool):
            reference = None
        return scaling_for(low, high, reference)


def layout_problems(config: ModbusConfig, tank_count: int) -> list[tuple[str, str]]:
    """(field, reason) for a layout that cannot address ``tank_count`` tanks."""
    blocks = build_blocks(TagTable().tank, config.int16_mirror)
    layout = resolve_layout(config, tank_count, blocks)
    problems = []
    last = layout.first_unit + layout.units - 1
    if last > MAX_UNIT_ID_TANKS:
        field = "layout" if layout.name == "per_unit" else "tanks_per_unit"
        problems.append((field, (
            f"{layout.name} layout puts {tank_count} tanks on unit ids {layout.first_unit}.."
            f"{last}, beyond {MAX_UNIT_ID_TANKS}"
            + (": use layout = \"block\"" if layout.name == "per_unit" else "")
            + " (or [modbus] enabled = false; see docs/modbus.md)")))
    if layout.first_unit <= config.simulation_unit_id <= last:
        problems.append(("simulation_unit_id", (
            f"{config.simulation_unit_id} is also a tank unit id (tanks use "
            f"{layout.first_unit}..{last})")))
    for table, block in blocks.items():
        needed = layout.tanks_per_unit * block.size
        if needed > ADDRESS_SPACE:
            most = ADDRESS_SPACE // block.size
            problems.append(("tanks_per_unit", (
                f"{layout.tanks_per_unit} tanks x {block.size} {table.label}s = {needed} "
                f"addresses, more than the {ADDRESS_SPACE} of a unit id: at most {most}")))
    return problems
