"""The ``tank-twin`` command as a subprocess: run, scrape, stop by signal, exit codes."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from plants import listeners_toml
from prometheus_client.parser import text_string_to_metric_families

EXE = Path(sys.executable).parent / "tank-twin"


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except OSError:
        return 0, ""


def wait_ready(port: int, proc: subprocess.Popen[str], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited early: {proc.communicate()}")
        if get(f"http://127.0.0.1:{port}/readyz")[0] == 200:
            return
        time.sleep(0.1)
    raise AssertionError("never ready")


def start(tmp_path: Path, extra: str = "", *args: str) -> tuple[subprocess.Popen[str], int]:
    listeners, ports = listeners_toml()
    port = ports["metrics"]
    plant = tmp_path / "plant.toml"
    plant.write_text(f"{listeners}{extra}\n[[tanks]]\nname = 'T101'\n")
    proc = subprocess.Popen(
        [str(EXE), "run", "--config", str(plant), *args],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    return proc, port


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_run_serves_metrics_and_stops_cleanly_on_signal(tmp_path: Path, signum: int) -> None:
    proc, port = start(tmp_path)
    try:
        wait_ready(port, proc)
        status, body = get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        names = {f.name for f in text_string_to_metric_families(body)}
        assert {"tank_level_meters", "twin_scan_duration_seconds", "twin_build_info"} <= names
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    # (an editable developer install may print its rebuild first: only log lines count)
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert "Traceback" not in err
    kinds = [e["event"] for e in events]
    assert "twin_started" in kinds and "twin_stopped" in kinds and "stop_requested" in kinds
    assert all("timestamp" in e and "level" in e for e in events)


def test_default_plant_runs_with_no_arguments(tmp_path: Path) -> None:
    port = 9180
    if get(f"http://127.0.0.1:{port}/healthz")[0]:
        pytest.fail("port 9180 is in use by another process; the default plant needs it")
    proc = subprocess.Popen([str(EXE), "run"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(port, proc)
        _, body = get(f"http://127.0.0.1:{port}/metrics")
        assert 'tank_level_meters{tank="T101"}' in body
        proc.terminate()
        proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0


def test_port_in_use_is_a_clear_failure(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        plant = tmp_path / "plant.toml"
        listeners, _ = listeners_toml(metrics=port)
        plant.write_text(f"{listeners}[[tanks]]\nname = 'A'\n")
        result = subprocess.run([str(EXE), "run", "--config", str(plant)], cwd=tmp_path,
                                capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "start_failed" in result.stderr and "Traceback" not in result.stderr


def test_bad_plant_file_exits_non_zero_naming_file_field_reason(tmp_path: Path) -> None:
    plant = tmp_path / "bad.toml"
    plant.write_text("[[tanks]]\nname = 'T1'\n[[tanks]]\nname = 'T2'\narea = -3.0\n")
    for command in (["check", str(plant)], ["run", "--config", str(plant)]):
        result = subprocess.run([str(EXE), *command], cwd=tmp_path, capture_output=True,
                                text=True, timeout=30)
        assert result.returncode == 2
        assert f"{plant}: tanks[1].area: must be > 0" in result.stderr
        assert "Traceback" not in result.stderr


def test_tags_command_prints_every_format(tmp_path: Path) -> None:
    result = subprocess.run([str(EXE), "tags", "--format", "json"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=30, check=True)
    rows = json.loads(result.stdout)
    level = next(r for r in rows if r["tag"] == "level")
    assert level["unit_code"] == "MTR" and level["high"] == 5.0 and level["tank"] == "T101"
    csv_out = subprocess.run([str(EXE), "tags", "--format", "csv"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=30, check=True).stdout
    assert csv_out.splitlines()[0].startswith("tank,tag,kind,type,unit_code")
    md = subprocess.run([str(EXE), "tags", "--format", "md"], cwd=tmp_path,
                        capture_output=True, text=True, timeout=30, check=True).stdout
    assert md.startswith("| tank | tag |")
