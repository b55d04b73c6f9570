"""Modbus benchmark: read-holding-registers requests per second, the twin against a bare
pymodbus server, with 1 and 8 clients, in the same run.

The twin runs as ``tank-twin run`` (OPC UA off) on a 1,000-tank plant stepping at 10 Hz (the
default ``auto`` layout: block, 829 tanks on unit id 1, 79 holding registers
each); the bare pymodbus server (``ModbusTcpServer`` with one ``SimDevice``)
serves the same number of holding registers on unit id 1. The load generator is
bench/modbus_load.c (libmodbus, one thread and one connection per client),
built here with gcc; each client walks through the tanks reading ``--counts``
registers at the start of each block. The twin's scan overruns are read from
its /metrics before and after each measurement. Medians over ``--repeats``.

    .venv/bin/python bench/modbus.py --seconds 10 --repeats 3 --clients 1,8 --counts 10,100
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TANK_TWIN = Path(sys.executable).parent / "tank-twin"
UNIT = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_load_generator(workdir: Path) -> Path:
    exe = workdir / "modbus_load"
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libmodbus"], check=True,
                           capture_output=True, text=True).stdout.split()
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(ROOT / "bench" / "modbus_load.c"),
                    *flags, "-lpthread"], check=True)
    return exe


def plant_file(workdir: Path, tanks: int, modbus_port: int, metrics_port: int) -> Path:
    path = workdir / "bench-plant.toml"
    path.write_text(
        "[simulation]\nscan_period = 0.1\ndt = 0.1\n\n"
        f"[metrics]\nport = {metrics_port}\n\n"
        f"[modbus]\nport = {modbus_port}\n\n"
        "[opcua]\nenabled = false\n\n"  # Modbus alone beside the engine
        "[logging]\nlevel = \"warning\"\n\n"
        f"[[fleets]]\ncount = {tanks}\ndisturbance = \"brownian\"\n"
    )
    return path


def twin_layout(plant: Path) -> tuple[int, int]:
    """(tanks on unit 1, holding registers per tank) of the twin's register map."""
    from twin.config import load_plant_file
    from twin.modbus.register_export import register_map
    from twin.modbus.register_map import Table

    regmap = register_map(load_plant_file(plant))
    return regmap.layout.tanks_per_unit, regmap.tank_blocks[Table.HOLDING_REGISTERS].size


def serve_pymodbus(port: int, registers: int) -> None:
    """The baseline: pymodbus's own TCP server with one device of ``registers`` registers."""
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    device = SimDevice(id=UNIT, simdata=[
        SimData(address=0, count=registers, values=0, datatype=DataType.REGISTERS)])

    async def main() -> None:
        server = ModbusTcpServer(device, address=("127.0.0.1", port))
        await server.serve_forever()

    asyncio.run(main())


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"port {port} did not open")


def overruns(metrics_port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    match = re.search(r"^twin_scan_overruns_total (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else float("nan")


def load(exe: Path, port: int, clients: int, seconds: int, count: int, stride: int,
         span: int) -> tuple[float, int]:
    """(requests per second, failed requests) of one measurement."""
    out = subprocess.run([str(exe), "127.0.0.1", str(port), str(UNIT), str(clients), str(seconds),
                          str(count), str(stride), str(span)],
                         check=True, capture_output=True, text=True).stdout
    fields = dict(item.split("=") for item in out.split())
    return int(fields["requests"]) / float(fields["seconds"]), int(fields["errors"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clients", default="1,8")
    parser.add_argument("--tanks", type=int, default=1000)
    parser.add_argument("--counts", default="10,100", help="registers per request")
    parser.add_argument("--serve-pymodbus", nargs=2, type=int, metavar=("PORT", "REGISTERS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_pymodbus:
        serve_pymodbus(*args.serve_pymodbus)
        return 0
    for tool in ("gcc", "pkg-config"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed (and libmodbus-dev)")
    with tempfile.TemporaryDirectory() as tmp:
        run(args, Path(tmp))
    return 0


def run(args: argparse.Namespace, workdir: Path) -> None:
    exe = build_load_generator(workdir)
    twin_port, metrics_port, bare_port = free_port(), free_port(), free_port()
    plant = plant_file(workdir, args.tanks, twin_port, metrics_port)
    span, stride = twin_layout(plant)
    cases = [(int(c), int(n)) for c in args.counts.split(",") for n in args.clients.split(",")]
    twin = subprocess.Popen([str(TANK_TWIN), "run", "--config", str(plant)])
    bare = subprocess.Popen([sys.executable, __file__, "--serve-pymodbus", str(bare_port),
                             str(span * stride)])
    rates: dict[tuple[str, int, int], list[float]] = {}
    errors: dict[tuple[str, int, int], int] = {}
    twin_overruns: dict[tuple[int, int], float] = {}
    try:
        wait_port(twin_port, twin)
        wait_port(bare_port, bare)
        time.sleep(2.0)  # let the twin settle into its 10 Hz scans
        for _ in range(args.repeats):
            for count, clients in cases:
                walk = (span * stride - count) // stride + 1  # blocks readable inside the map
                for server, port in (("twin", twin_port), ("pymodbus", bare_port)):
                    before = overruns(metrics_port)
                    rate, failed = load(exe, port, clients, args.seconds, count, stride, walk)
                    if server == "twin":
                        key = (count, clients)
                        twin_overruns[key] = twin_overruns.get(key, 0.0) + overruns(
                            metrics_port) - before
                    rates.setdefault((server, count, clients), []).append(rate)
                    errors[(server, count, clients)] = errors.get(
                        (server, count, clients), 0) + failed
    finally:
        for proc in (twin, bare):
            proc.terminate()
            proc.wait(timeout=20)
    print_table(args, span, stride, cases, rates, errors, twin_overruns)


def print_table(args: argparse.Namespace, span: int, stride: int, cases: list[tuple[int, int]],
                rates: dict[tuple[str, int, int], list[float]],
                errors: dict[tuple[str, int, int], int],
                twin_overruns: dict[tuple[int, int], float]) -> None:
    print(f"\nread holding registers, {args.seconds} s per measurement, median of "
          f"{args.repeats}; twin: {args.tanks} tanks at 10 Hz, {span} tanks x {stride} "
          f"registers on unit {UNIT}; pymodbus: {span * stride} registers\n")
    print("| registers/request | clients | twin req/s | bare pymodbus req/s | twin / pymodbus "
          "| failed (twin, pymodbus) | twin overruns |")
    print("|---|---|---|---|---|---|---|")
    for count, clients in cases:
        twin, bare = (statistics.median(rates[(s, count, clients)]) for s in ("twin", "pymodbus"))
        print(f"| {count} | {clients} | {twin:,.0f} | {bare:,.0f} | {twin / bare:.2f} | "
              f"{errors[('twin', count, clients)]}, {errors[('pymodbus', count, clients)]} | "
              f"{twin_overruns[(count, clients)]:.0f} |")


if __name__ == "__main__":
    sys.exit(main())
