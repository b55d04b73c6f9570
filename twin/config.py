"""The plant file: global settings and the tanks, validated and frozen.

Read once, at start, by the entry point (file, then ``TWIN_*`` environment from
the CLI) and passed inward; nothing else reads configuration.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.config_schema import check_value, load_section, setting
from twin.errors import ConfigError
from twin.modbus.config import ModbusConfig
from twin.opcua.config import EMBEDDED_DEMO, OpcUaConfig, finish_opcua
from twin.opcua.history_config import HistoryConfig
from twin.tank_config import NAME_PATTERN, TankSettings

EMBEDDED = "<embedded default plant>"
LOCALHOST = "127.0.0.1"
DEFAULT_TANK_NAME = "T101"
MAX_TANKS = 1_000_000


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    scan_period: float = setting(0.1, gt=0, le=60, unit="s", doc="simulated time per scan")
    dt: float = setting(0.1, ge=0.001, le=10, unit="s", doc="internal RK4 step")
    time_scale: float = setting(1.0, ge=0.1, le=1000, doc="simulated seconds per wall second")
    seed: int = setting(0, ge=0, le=2**64 - 1, doc="plant seed; each tank's seed derives from it")
    start_paused: bool = setting(False, doc="start with the simulation paused")

    @property
    def steps_per_scan(self) -> int:
        return round(self.scan_period / self.dt)


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    format: str = setting("auto", choices=("auto", "json", "console"), doc="log format")
    level: str = setting("info", choices=("debug", "info", "warning", "error"), doc="log level")


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    enabled: bool = setting(True, doc="serve /metrics, /healthz and /readyz")
    host: str = setting(LOCALHOST, doc="bind address of the metrics HTTP server")
    port: int = setting(9180, ge=0, le=65535, doc="port (0 = any free port)")
    per_tank: bool = setting(True, doc="export per-tank process values (one series per tank)")


@dataclass(frozen=True, slots=True)
class TankEntry:
    """One tank of the plant: its name, its settings and where it came from."""

    name: str
    settings: TankSettings
    path: str  # e.g. "tanks[2]" or "fleets[0][17]", for error messages


@dataclass(frozen=True, slots=True)
class PlantConfig:
    source: str
    simulation: SimulationConfig
    logging: LoggingConfig
    metrics: MetricsConfig
    tanks: tuple[TankEntry, ...]
    opcua: OpcUaConfig = dataclasses.field(default_factory=OpcUaConfig)
    modbus: ModbusConfig = dataclasses.field(default_factory=ModbusConfig)
    history: HistoryConfig = dataclasses.field(default_factory=HistoryConfig)

    def tank_index(self, name: str) -> int:
        for index, tank in enumerate(self.tanks):
            if tank.name == name:
                return index
        raise KeyError(name)


_SECTIONS: dict[str, type] = {
    "simulation": SimulationConfig,
    "logging": LoggingConfig,
    "metrics": MetricsConfig,
    "opcua": OpcUaConfig,
    "modbus": ModbusConfig,
    "history": HistoryConfig,
}
_TOP_KEYS = (*_SECTIONS, "tank_defaults", "tanks", "fleets")


def default_plant() -> PlantConfig:
    """The embedded default: one tank with PHYSICS.md's defaults, everything on loopback."""
    return parse_plant({"opcua": dict(EMBEDDED_DEMO)}, EMBEDDED)


def load_plant_file(path: str | Path) -> PlantConfig:
    """Read and validate a plant file; every problem is a ConfigError naming the file."""
    src = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(src, "", f"cannot read the file ({exc.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(src, "", "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(src, "", f"invalid TOML: {exc}") from None
    if not data.get("tanks") and not data.get("fleets"):
        raise ConfigError(src, "tanks", "a plant file needs at least one [[tanks]] or [[fleets]]")
    return parse_plant(data, src)


def parse_plant(data: dict[str, Any], src: str) -> PlantConfig:
    for key in data:
        if key not in _TOP_KEYS:
            raise ConfigError(src, key, f"unknown key (known keys: {', '.join(_TOP_KEYS)})")
    sections: dict[str, Any] = {
        name: load_section(cls, data.get(name, {}), name, src) for name, cls in _SECTIONS.items()
    }
    simulation: SimulationConfig = sections["simulation"]
    _check_scan(simulation, src)
    defaults = data.get("tank_defaults", {})
    load_section(TankSettings, defaults, "tank_defaults", src)
    tanks = _tanks(data, defaults, simulation.seed, src)
    opcua = finish_opcua(sections["opcua"], tanks, src)
    modbus: ModbusConfig = sections["modbus"]
    for field, reason in modbus.plant_problems(len(tanks)):
        raise ConfigError(src, f"modbus.{field}", reason)
    return PlantConfig(
        src, simulation, sections["logging"], sections["metrics"], tanks, opcua, modbus=modbus,
        history=sections["history"],
    )


def _check_scan(sim: SimulationConfig, src: str) -> None:
    ratio = sim.scan_period / sim.dt
    if ratio < 1 - 1e-9 or not math.isclose(ratio, round(ratio), rel_tol=1e-9, abs_tol=1e-9):
        raise ConfigError(
            src,
            "simulation.scan_period",
            f"must be a whole number of internal steps dt={sim.dt:g} s, got {sim.scan_period:g} s",
        )


def _tanks(
    data: dict[str, Any], defaults: dict[str, Any], seed: int, src: str
) -> tuple[TankEntry, ...]:
    specs: list[tuple[str, str, dict[str, Any]]] = []  # (path, name, overrides)
    default = [] if "fleets" in data else [{"name": DEFAULT_TANK_NAME}]
    explicit = data.get("tanks", default)
    if not isinstance(explicit, list):
        raise ConfigError(src, "tanks", "expected an array of tables ([[tanks]])")
    for i, table in enumerate(explicit):
        path = f"tanks[{i}]"
        if not isinstance(table, dict):
            raise ConfigError(src, path, "expected a table")
        overrides = dict(table)
        name = overrides.pop("name", None)
        if name is None:
            raise ConfigError(src, f"{path}.name", "missing (every tank needs a name)")
        specs.append((path, name, overrides))
    fleets = data.get("fleets", [])
    if not isinstance(fleets, list):
        raise ConfigError(src, "fleets", "expected an array of tables ([[fleets]])")
    for i, table in enumerate(fleets):
        specs.extend(_fleet(table, f"fleets[{i}]", src))
    if len(specs) > MAX_TANKS:
        raise ConfigError(src, "tanks", f"at most {MAX_TANKS} tanks, got {len(specs)}")
    return _build_tanks(specs, defaults, seed, src)


@dataclass(frozen=True, slots=True)
class _FleetHeader:
    count: int = setting(gt=0, le=MAX_TANKS, doc="number of tanks")
    name: str = setting("T{index:04d}", doc="name pattern; {index} is the tank's number")
    start: int = setting(1, ge=0, doc="first index")


def _fleet(table: Any, path: str, src: str) -> list[tuple[str, str, dict[str, Any]]]:
    if not isinstance(table, dict):
        raise ConfigError(src, path, "expected a table")
    header_keys = {f.name for f in dataclasses.fields(_FleetHeader)}
    header_table = {k: v for k, v in table.items() if k in header_keys}
    overrides = {k: v for k, v in table.items() if k not in header_keys}
    header = load_section(_FleetHeader, header_table, path, src)
    specs = []
    for k in range(header.count):
        index = header.start + k
        try:
            name = header.name.format(index=index)
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(src, f"{path}.name", f"bad name pattern ({exc})") from None
        specs.append((f"{path}[{k}]", name, overrides))
    return specs


def _build_tanks(
    specs: list[tuple[str, str, dict[str, Any]]], defaults: dict[str, Any], seed: int, src: str
) -> tuple[TankEntry, ...]:
    seen: dict[str, str] = {}
    tanks = []
    cache: dict[int, TankSettings] = {}
    for index, (path, name, overrides) in enumerate(specs):
        _check_name(name, f"{path}.name", src)
        if name in seen:
            reason = f"duplicate tank name {name!r} (also {seen[name]})"
            raise ConfigError(src, f"{path}.name", reason)
        seen[name] = path
        key = id(overrides)
        settings = cache.get(key)
        if settings is None:
            settings = load_section(TankSettings, {**defaults, **overrides}, path, src)
            for field, reason in settings.cross_field_problems():
                raise ConfigError(src, f"{path}.{field}", reason)
            cache[key] = settings
        explicit_seed = path.startswith("tanks[") and "seed" in overrides
        if not explicit_seed:
            base = seed if settings.seed is None else settings.seed
            settings = dataclasses.replace(settings, seed=tank_seed(base, index))
        tanks.append(TankEntry(name, settings, path))
    return tuple(tanks)


def _check_name(name: Any, where: str, src: str) -> None:
    field = dataclasses.field(metadata={"pattern": NAME_PATTERN})
    check_value(field, str, name, where, src)


def tank_seed(plant_seed: int, index: int) -> int:
    """A well-mixed 64-bit seed for tank ``index`` (splitmix64 finaliser)."""
    mask = (1 << 64) - 1
    z = (plant_seed + (index + 1) * 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)
