"""``tank-twin registers``: a plant's Modbus register map as CSV, JSON or Markdown.

One row per value: the tank, the unit id, the tag, the table, the 0-based
protocol address, the classic 1-based register number (``40001`` = holding
register 0; six digits, ``400001``, when a table of the map goes beyond address
9998), the encoding, the word order, the INT16 scaling, the engineering unit and
who may write it.
"""

from __future__ import annotations

from typing import Any

from twin.config import PlantConfig
from twin.modbus.encoding import Encoding
from twin.modbus.register_map import Block, RegisterMap, Slot, Table, Target
from twin.table_format import render_table
from twin.tags import TagTable

COLUMNS = (
    "tank", "unit_id", "tag", "table", "address", "register", "type", "word_order", "scale",
    "offset", "unit", "access", "states",
)
FIVE_DIGIT_LAST = 9998  # 40001..49999 number addresses 0..9998


def register_map(config: PlantConfig) -> RegisterMap:
    return RegisterMap(config.modbus, TagTable(), [tank.settings for tank in config.tanks])


def register_rows(config: PlantConfig, tank: str | None = None) -> list[dict[str, Any]]:
    """Rows by unit id, then table, then address; ``tank`` keeps one tank (and the simulation)."""
    regmap = register_map(config)
    names = [entry.name for entry in config.tanks]
    digits = _digits(regmap)
    rows = []
    for unit_id, target in regmap.units():
        for table in Table:
            for index, base, block in _blocks(regmap, target, table):
                name = "" if index is None else names[index]
                if tank is not None and name not in ("", tank):
                    continue
                rows += [_row(regmap, unit_id, name, index, base, slot, table, digits[table])
                         for slot in block.slots]
    return rows


def _blocks(
    regmap: RegisterMap, target: Target, table: Table
) -> list[tuple[int | None, int, Block]]:
    if target.simulation:
        return [(None, 0, regmap.sim_blocks[table])]
    block = regmap.tank_blocks[table]
    return [(target.first + k, k * block.size, block) for k in range(target.count)]


def _digits(regmap: RegisterMap) -> dict[Table, int]:
    last = {table: max(regmap.size(t, table) for _, t in regmap.units()) - 1 for table in Table}
    return {table: 5 if last[table] <= FIVE_DIGIT_LAST else 6 for table in Table}


def register_number(table: Table, address: int, digits: int) -> str:
    """``40001`` style: the table's prefix digit, then address + 1 (a string: coils start 0)."""
    return f"{table.prefix}{address + 1:0{digits - 1}d}"


def _row(
    regmap: RegisterMap, unit_id: int, tank: str, index: int | None, base: int, slot: Slot,
    table: Table, digits: int,
) -> dict[str, Any]:
    tag, encoding = slot.tag, slot.encoding
    address = base + slot.offset
    scaled = encoding is Encoding.INT16
    scaling = regmap.scaling(tag, index) if scaled else None
    multiword = encoding in (Encoding.FLOAT32, Encoding.UINT64)
    writable = tag.writable and not regmap.config.read_only
    return {
        "tank": tank,
        "unit_id": unit_id,
        "tag": tag.name,
        "table": table.label,
        "address": address,
        "register": register_number(table, address, digits),
        "type": encoding.label,
        "word_order": regmap.config.word_order if multiword else "",
        "scale": scaling.scale if scaling else None,
        "offset": scaling.offset if scaling else None,
        "unit": tag.unit.symbol if tag.unit and tag.unit.symbol != "1" else "",
        "access": tag.access.name.lower() if writable else "read-only",
        "states": " ".join(f"{i}={s}" for i, s in enumerate(tag.states)),
    }


def export_registers(config: PlantConfig, fmt: str, tank: str | None = None) -> str:
    return render_table(register_rows(config, tank), COLUMNS, fmt)
