"""State file and ``run --resume`` with a real process killed by SIGKILL."""

from __future__ import annotations

import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

from plants import free_port
from prometheus_client.parser import text_string_to_metric_families

from twin import state_file

EXE = Path(sys.executable).parent / "tank-twin"
TIME_SCALE = 20.0
SAVE_INTERVAL = 0.3  # s of wall-clock time


def modbus_sim_time(port: int) -> float:
    """sim_time: input registers 0..1 of the simulation's unit id 255 (float32)."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(struct.pack(">HHHBBHH", 1, 0, 6, 255, 4, 0, 2))
        reply = sock.recv(64)
    assert reply[7] == 4, reply
    return float(struct.unpack(">f", reply[9:13])[0])


def metric(port: int, name: str) -> float:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        body = response.read().decode()
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    raise AssertionError(f"no {name}")


def wait_for(predicate: object, proc: subprocess.Popen[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited early: {proc.communicate()}")
        try:
            if predicate():  # type: ignore[operator]
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("timed out")


def start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], int, int]:
    modbus, metrics = free_port(), free_port()
    plant = tmp_path / "plant.toml"
    plant.write_text(
        f"[simulation]\ntime_scale = {TIME_SCALE}\n[opcua]\nenabled = false\n"
        f"[modbus]\nport = {modbus}\n[metrics]\nport = {metrics}\n"
        "[[tanks]]\nname = 'T101'\nnoise_std = 0.01\ndisturbance = 'brownian'\n")
    proc = subprocess.Popen(
        [str(EXE), "run", "--config", str(plant), "--state", str(tmp_path / "twin.state"),
         "--save-interval", str(SAVE_INTERVAL), "--log-format", "json", *args],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, modbus, metrics


def test_sigkill_loses_at_most_the_last_save_interval_and_resume_continues(
        tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.toml"
    scenario.write_text('[[events]]\nat = 1\ntank = "T101"\ntag = "alarm_high"\nvalue = 4.2\n'
                        '[[events]]\nat = 2\ntank = "T101"\ntag = "setpoint"\nvalue = 3.0\n')
    path = tmp_path / "twin.state"
    proc, modbus, metrics = start(tmp_path, "--scenario", str(scenario))
    try:
        wait_for(lambda: path.exists() and state_file.read(path).sim_time > 10.0, proc)
        before_kill = modbus_sim_time(modbus)
        proc.send_signal(signal.SIGKILL)
        killed_at = time.time()
        proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL
    saved = state_file.read(path)  # whole: the checksum holds
    lost_wall = killed_at - saved.info["saved_at"]
    assert lost_wall <= SAVE_INTERVAL + 0.5, lost_wall
    assert before_kill - saved.sim_time <= (SAVE_INTERVAL + 0.5) * TIME_SCALE
    assert saved.info["scenario"]["next"] == 2  # both events done

    proc, modbus, metrics = start(tmp_path, "--resume")
    try:
        wait_for(lambda: metric(metrics, "tank_alarm_high_meters") > 0, proc)
        resumed = modbus_sim_time(modbus)
        assert saved.sim_time <= resumed < saved.sim_time + 30 * TIME_SCALE
        # Python-side state (an alarm limit) and the plant's (setpoint) came back.
        assert metric(metrics, "tank_alarm_high_meters") == 4.2
        assert metric(metrics, "tank_setpoint_meters") == 3.0
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "state_resumed" in err
    final = state_file.read(path)  # saved on shutdown
    assert final.sim_time >= resumed


def test_a_damaged_or_foreign_state_file_is_refused_with_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "twin.state"
    done = subprocess.run([str(EXE), "simulate", "--until", "5", "--state", str(path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    data = path.read_bytes()
    assert state_file.read(path).sim_time == 5.0
    (tmp_path / "cut.state").write_bytes(data[:-10])
    two = tmp_path / "two.toml"
    two.write_text("[opcua]\nenabled = false\n[modbus]\nenabled = false\n"
                   "[metrics]\nenabled = false\n[[tanks]]\nname = 'A'\n[[tanks]]\nname = 'B'\n")
    for state, config in (("cut.state", []), ("twin.state", ["--config", str(two)])):
        run = subprocess.run([str(EXE), "run", *config, "--state", state, "--resume"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert run.returncode == 2, run.stderr
        assert "state" in run.stderr.splitlines()[-1]
