"""Plant configurations for tests: every listener on an ephemeral port of 127.0.0.1."""

from __future__ import annotations

import dataclasses
import socket
import tempfile
from pathlib import Path
from typing import Any

from twin import config as config_module
from twin.config import PlantConfig, parse_plant


def listener_sections() -> list[str]:
    """Plant-file sections that open a listening port."""
    return [
        name
        for name, cls in config_module._SECTIONS.items()
        if any(f.name == "port" for f in dataclasses.fields(cls))
    ]


# Removed when the test process exits (TemporaryDirectory's finaliser).
_STATE_ROOT = tempfile.TemporaryDirectory(prefix="tank-twin-tests-")


def test_plant(
    data: dict[str, Any] | None = None, port: int = 0, state: str | Path | None = None
) -> PlantConfig:
    """parse_plant(data) with each listener's port defaulting to ``port`` (0: any free)
    and the files a twin keeps (OPC UA PKI and users, history) in ``state`` (default: a
    new temporary directory), so that twins never share them by accident."""
    data = dict(data or {})
    for section in listener_sections():
        table = dict(data.get(section, {}))
        table.setdefault("port", port)
        data[section] = table
    folder = Path(state) if state is not None else Path(tempfile.mkdtemp(dir=_STATE_ROOT.name))
    files = {"opcua": {"pki_dir": "pki", "users_file": "opcua-users"},
             "history": {"path": "history.sqlite"}}
    for section, keys in files.items():
        if section in config_module._SECTIONS:
            table = dict(data.get(section, {}))
            for key, name in keys.items():
                table.setdefault(key, str(folder / name))
            data[section] = table
    return parse_plant(data, "<test>")


test_plant.__test__ = False  # type: ignore[attr-defined]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listeners_toml(**fixed: int) -> tuple[str, dict[str, int]]:
    """TOML text giving every listener a free port (or ``section=port``); and the ports."""
    ports = {section: fixed.get(section) or free_port() for section in listener_sections()}
    text = "".join(f"[{section}]\nport = {port}\n" for section, port in ports.items())
    return text, ports
