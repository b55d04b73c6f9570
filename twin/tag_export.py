"""``tank-twin tags``: the tag table of a plant as CSV, JSON or Markdown."""

from __future__ import annotations

from typing import Any

from twin.config import PlantConfig
from twin.opcua.model import expanded_node_id
from twin.table_format import render_table
from twin.tags import Tag, TagTable

COLUMNS = (
    "tank", "tag", "kind", "type", "unit_code", "unit", "low", "high", "access", "states",
    "description", "source", "node_id", "metric",
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
        "metric": tag.metric_name if tag.metric else "",
    }


def export_tags(config: PlantConfig, fmt: str, tank: str | None = None) -> str:
    return render_table(tag_rows(config, tank), COLUMNS, fmt)
