"""Builds the core's Plant from a validated PlantConfig."""

from __future__ import annotations

import dataclasses

from twin import _core
from twin.config import PlantConfig
from twin.errors import ConfigError
from twin.tank_config import (
    ALARM_SETTINGS,
    DERIVATIVE_ON,
    DISTURBANCES,
    LEVEL_FAILS,
    MODES,
    VALVE_CHARACTERISTICS,
    TankSettings,
)

_WORDS = {
    "mode": MODES,
    "valve_characteristic": VALVE_CHARACTERISTICS,
    "derivative_on": DERIVATIVE_ON,
    "disturbance": DISTURBANCES,
    "level_fail": LEVEL_FAILS,
}
_PYTHON_ONLY = {"flow_max", "plc_timeout", "plc_fail_safe", *ALARM_SETTINGS}  # not in the core


def tank_params(settings: TankSettings) -> _core.TankParams:
    """The core parameters of one tank (words mapped to the core's codes)."""
    values: dict[str, float | int] = {}
    for field in dataclasses.fields(settings):
        if field.name in _PYTHON_ONLY:
            continue
        value = getattr(settings, field.name)
        if field.name in _WORDS:
            value = _WORDS[field.name].index(value)
        elif isinstance(value, bool):
            value = int(value)
        values[field.name] = value
    return _core.TankParams(**values)


def build_plant(config: PlantConfig) -> _core.Plant:
    params = [tank_params(tank.settings) for tank in config.tanks]
    try:
        return _core.Plant(params, config.simulation.dt)
    except ValueError as exc:  # the core's own check; the schema should have caught it
        raise ConfigError(config.source, "tanks", str(exc)) from None
