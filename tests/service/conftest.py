from __future__ import annotations

from pathlib import Path

import pytest

from twin.config import PlantConfig, load_plant_file, parse_plant


def plant_config(text: str = "", tmp_path: Path | None = None) -> PlantConfig:
    """A PlantConfig from TOML text (tanks default to the embedded single tank)."""
    import tomllib

    data = tomllib.loads(text)
    data.setdefault("metrics", {}).setdefault("port", 0)
    return parse_plant(data, "<test>")


@pytest.fixture
def examples() -> Path:
    return Path(__file__).resolve().parents[2] / "examples"


__all__ = ["plant_config", "load_plant_file"]
