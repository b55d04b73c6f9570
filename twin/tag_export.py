"""``tank-twin tags``: the tag table of a plant as CSV, JSON or Markdown."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from twin.config import PlantConfig
from twin.opcua.model import expanded_node_id
from twin.tags import Tag, TagTable

FORMATS = ("csv", "json", "md")
COLUMNS = (
    "tank", "tag", "kind", "type", "unit_code", "unit", "low", "high", "access", "states",
    "description", "source", "node_id",
)


def tag_rows(config: PlantConfig, tank: str | None = None) -> list[dict[str, Any]]:
    """One row per tag of each tank, then the simulation's tags."""
    table = TagTable()
    rows: list[dict[str, Any]] = []
    for entry in config.tanks:
        if tank is not None and entry.name != tank:
            continue
        rows.extend(_row(entry.name, tag, entry.settings) for tag in table.tank)
    rows.extend(_row("", tag, None) for tag in table.simulation)
    return rows


def _row(tank: str, tag: Tag, settings: Any) -> dict[str, Any]:
    low, high = tag.bounds(settings)
    return {
        "tank": tank,
        "tag": tag.name,
        "kind": tag.kind.value,
        "type": tag.dtype.value,
        "unit_code": tag.unit.code if tag.unit and tag.unit.code else "",
        "unit": tag.unit.symbol if tag.unit else "",
        "low": low,
        "high": high,
        "access": tag.access.name.lower() if tag.writable else "read-only",
        "states": "|".join(tag.states),
        "description": tag.description,
        "source": tag.source,
        "node_id": expanded_node_id(tank or None, tag.name),  # OPC UA
    }


def export_tags(config: PlantConfig, fmt: str, tank: str | None = None) -> str:
    rows = tag_rows(config, tank)
    if fmt == "json":
        return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
        return out.getvalue()
    return _markdown(rows)


def _markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = [_cell(row[c]) for c in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("|", "\\|")
