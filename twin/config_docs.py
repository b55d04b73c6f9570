"""Renders the plant-file reference (docs/plant-file.md) from the schema itself."""

from __future__ import annotations

import dataclasses
from typing import Any

from twin.config import LoggingConfig, MetricsConfig, SimulationConfig
from twin.config_schema import describe
from twin.modbus.config import ModbusConfig
from twin.opcua.config import OpcUaConfig
from twin.opcua.history_config import HistoryConfig
from twin.tank_config import TankSettings

INTRO = """# Plant file reference

A plant file is TOML. Every key is optional except the tanks; unknown keys are
errors. `tank-twin check FILE` validates a file; errors name the file, the field
(`tanks[3].area`) and the reason. This page is generated from the schema
(`python -m twin.config_docs > docs/plant-file.md`); a test keeps it current.

Tanks come from `[[tanks]]` entries (each with a `name`) and `[[fleets]]`
(`count`, `name` pattern with `{index}`, `start`), in that order. Every tank
starts from the defaults below, then `[tank_defaults]`, then its own keys.
Without a plant file the twin runs one tank `T101` with these defaults.
Tank names match `[A-Za-z][A-Za-z0-9_-]{0,63}`.
"""

OPCUA_NOTE = """
Without a plant file the embedded demo also sets `allow_none = true` and
`anonymous = "operator"` (on 127.0.0.1 only). A plant file whose `host` is not
loopback must set `allow_none = false` and `anonymous` to `"off"` or
`"observer"`, or say `allow_insecure = true`; `check` and `run` refuse it
otherwise. See [opcua.md](opcua.md).
"""

MODBUS_NOTE = """
The register map, unit ids, encodings and exception codes are described in
[modbus.md](modbus.md); `tank-twin registers --config FILE` prints a plant's map.
"""

HISTORY_NOTE = """
Samples are taken on simulation time and stored with their wall-clock source
timestamps; see [history.md](history.md).
"""


def _default(field: dataclasses.Field[Any]) -> str:
    if field.default is dataclasses.MISSING:
        return "(required)"
    if field.default is None:
        return "(derived)"
    if isinstance(field.default, tuple):  # a TOML array of strings
        return "`[" + ", ".join(f'"{item}"' for item in field.default) + "]`"
    return f"`{field.default!r}`".replace("'", '"').replace("True", "true").replace(
        "False", "false")


def _table(title: str, cls: type) -> list[str]:
    header = "| key | default | unit | allowed | meaning |"
    lines = [f"\n## {title}\n", header, "|---|---|---|---|---|"]
    for field in dataclasses.fields(cls):
        meta = field.metadata
        lines.append(
            f"| `{field.name}` | {_default(field)} | {meta.get('unit', '')} | "
            f"{describe(field)} | {meta.get('doc', '')} |"
        )
    return lines


def render() -> str:
    parts = [INTRO]
    parts += _table("[simulation]", SimulationConfig)
    parts += _table("[logging]", LoggingConfig)
    parts += _table("[metrics]", MetricsConfig)
    parts += _table("[opcua]", OpcUaConfig)
    parts.append(OPCUA_NOTE)
    parts += _table("[modbus]", ModbusConfig)
    parts.append(MODBUS_NOTE)
    parts += _table("[history]", HistoryConfig)
    parts.append(HISTORY_NOTE)
    parts += _table("Tanks: [tank_defaults], [[tanks]], [[fleets]]", TankSettings)
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(render(), end="")
