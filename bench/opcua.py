"""OPC UA benchmark: notifications per second delivered at 100 ms sampling, the twin against a
bare asyncua server, in the same run; and a realistic load with write-to-notification latency.

Throughput: N monitored values (1k, 5k, 20k). The twin runs as ``tank-twin run`` on a plant
of N/8 tanks whose 8 process values change every scan (measurement noise, Brownian inlet,
valve lag), stepping at 10 Hz. The bare server is asyncua's ``Server`` with N Double
variables, updated every 100 ms the obvious way (``write_attribute_value`` per value).
One node-opcua client (tests/interop/bench_counter.mjs: node-opcua decodes much faster
than a Python client) subscribes to all N (publishing and sampling 100 ms, queue 1) and
counts notifications per window; "delivered per change" compares that with N x the
server's update cycles in the window (1.00 = none lost). Server CPU from /proc/<pid>/stat.

Realistic: 10 asyncua clients x 50 values at 10 Hz on a 100-tank twin; each client writes
its tank's setpoint once a second and times the notification that shows it.

    .venv/bin/python bench/opcua.py --sizes 1000,5000,20000 --seconds 10 --windows 3
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import random
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TANK_TWIN = Path(sys.executable).parent / "tank-twin"
COUNTER = ROOT / "tests" / "interop" / "bench_counter.mjs"
CHANGING = ("level", "level_true", "outlet_flow", "valve_command", "valve_position",
            "controller_output", "error", "integral")  # every scan, with the plant below
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def plant_file(workdir: Path, tanks: int, port: int) -> Path:
    path = workdir / f"plant-{tanks}.toml"
    path.write_text(
        "[simulation]\nscan_period = 0.1\ndt = 0.1\n\n"
        '[logging]\nlevel = "warning"\n\n'
        "[metrics]\nenabled = false\n[modbus]\nenabled = false\n[history]\nenabled = false\n\n"
        f'[opcua]\nport = {port}\nallow_none = true\nanonymous = "observer"\n'
        f'pki_dir = "{workdir / "pki"}"\nusers_file = "{workdir / "users"}"\n'
        "max_monitored_items_per_subscription = 100000\n\n"
        '[tank_defaults]\nnoise_std = 0.01\ndisturbance = "brownian"\nvalve_time_constant = 2.0\n\n'
        f'[[fleets]]\ncount = {tanks}\nname = "T{{index:05d}}"\n')
    return path


async def start(args: list[str], port: int, timeout: float = 600.0) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise SystemExit(f"{args[0]} exited early with {proc.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return proc
        except OSError:
            await asyncio.sleep(0.3)
    await stop(proc)
    raise SystemExit(f"port {port} did not open")


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()


# -- the bare asyncua baseline -------------------------------------------------------------
async def serve_bare(count: int, port: int) -> None:
    from asyncua import Server, ua

    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/bare")
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    ns = await server.register_namespace("urn:bench:bare")
    folder = await server.nodes.objects.add_folder(ua.NodeId("Values", ns), "Values")
    nodes = [ua.NodeId(f"v{i}", ns) for i in range(count)]
    await server.iserver.isession.add_nodes(  # created in one batch; updated one by one below
        [_variable(node, folder.nodeid, ua.Variant(0.0, ua.VariantType.Double))
         for node in nodes])
    cycles = await folder.add_variable(ua.NodeId("cycles", ns), "cycles", 0,
                                       ua.VariantType.UInt64)
    async with server:
        k, period, anchor = 0, 0.1, time.monotonic()
        while True:
            for node in nodes:  # the obvious way: one write per value
                value = ua.DataValue(ua.Variant(random.random(), ua.VariantType.Double))
                await server.write_attribute_value(node, value)
            k += 1
            await server.write_attribute_value(
                cycles.nodeid, ua.DataValue(ua.Variant(k, ua.VariantType.UInt64)))
            await asyncio.sleep(max(0.0, anchor + k * period - time.monotonic()))


def _variable(node: Any, parent: Any, value: Any) -> Any:
    from asyncua import ua

    item = ua.AddNodesItem(RequestedNewNodeId=node, BrowseName=ua.QualifiedName(
        node.Identifier, node.NamespaceIndex), NodeClass=ua.NodeClass.Variable,
        ParentNodeId=parent, ReferenceTypeId=ua.NodeId(ua.ObjectIds.HasComponent),
        TypeDefinition=ua.NodeId(ua.ObjectIds.BaseDataVariableType))
    attrs = ua.VariableAttributes(DisplayName=ua.LocalizedText(node.Identifier), Value=value,
                                  DataType=ua.NodeId(ua.ObjectIds.Double), ValueRank=-1)
    attrs.AccessLevel = attrs.UserAccessLevel = ua.AccessLevel.CurrentRead.mask
    item.NodeAttributes = attrs
    return item


# -- throughput ----------------------------------------------------------------------------
async def count_notifications(endpoint: str, node_ids: list[str], counter: str, pid: int,
                              args: argparse.Namespace) -> list[dict[str, float]]:
    """Windows of (notifications/s, delivered per change, server CPU share)."""
    options = {"nodeIds": node_ids, "counter": counter, "windows": args.windows,
               "seconds": args.seconds, "warmup": args.warmup}
    options_file = Path(args.workdir) / "counter.json"
    options_file.write_text(json.dumps(options))
    proc = await asyncio.create_subprocess_exec(
        "node", str(COUNTER), endpoint, str(options_file), cwd=COUNTER.parent,
        stdout=asyncio.subprocess.PIPE, env={**os.environ, "NODE_NO_WARNINGS": "1"})
    assert proc.stdout is not None
    marks: list[tuple[dict[str, float], float]] = []
    async for raw in proc.stdout:
        line = raw.decode()
        if line.startswith("MARK "):
            marks.append((json.loads(line[5:]), cpu_seconds(pid)))
    await proc.wait()
    windows = []
    for (a, cpu_a), (b, cpu_b) in itertools.pairwise(marks):
        seconds = b["time"] - a["time"]
        delivered = b["notifications"] - a["notifications"]
        changes = (b["cycles"] - a["cycles"]) * len(node_ids)
        windows.append({"rate": delivered / seconds, "ratio": delivered / max(changes, 1),
                        "cpu": (cpu_b - cpu_a) / seconds})
    if len(windows) < args.windows:
        raise SystemExit(f"the counter gave {len(windows)} windows of {args.windows}")
    return windows


async def throughput(size: int, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    tanks = math.ceil(size / len(CHANGING))
    twin_port, bare_port = free_port(), free_port()
    twin = await start([str(TANK_TWIN), "run", "--config",
                        str(plant_file(workdir, tanks, twin_port))], twin_port)
    result: dict[str, Any] = {"size": size, "tanks": tanks}
    try:
        ids = [f"ns=2;s=T{t + 1:05d}.{tag}" for t in range(tanks) for tag in CHANGING][:size]
        result["twin"] = await count_notifications(
            f"opc.tcp://127.0.0.1:{twin_port}/tank-twin", ids, "ns=2;s=Simulation.scan_count",
            twin.pid, args)
    finally:
        await stop(twin)
    bare = await start([sys.executable, __file__, "--serve-bare", str(size), str(bare_port)],
                       bare_port)
    try:
        ids = [f"ns=2;s=v{i}" for i in range(size)]
        result["bare"] = await count_notifications(
            f"opc.tcp://127.0.0.1:{bare_port}/bare", ids, "ns=2;s=cycles", bare.pid, args)
    finally:
        await stop(bare)
    return result


# -- realistic load ------------------------------------------------------------------------
async def realistic(workdir: Path, args: argparse.Namespace) -> dict[str, float]:
    from twin.opcua.user_file import add_user
    from twin.tags import Role

    add_user(workdir / "users", "bench", Role.OPERATOR, "bench-password")  # writes setpoints
    port = free_port()
    twin = await start([str(TANK_TWIN), "run", "--config", str(plant_file(workdir, 100, port))],
                       port)
    latencies: list[float] = []
    try:
        cpu = await _realistic_run(f"opc.tcp://127.0.0.1:{port}/tank-twin", args, latencies,
                                   twin.pid)
    finally:
        await stop(twin)
    latencies.sort()
    return {"cpu": cpu, "p50": _quantile(latencies, 0.5), "p99": _quantile(latencies, 0.99),
            "samples": len(latencies)}


async def _realistic_run(url: str, args: argparse.Namespace, latencies: list[float],
                         pid: int) -> float:
    from asyncua import Client, ua

    pending: dict[tuple[int, float], float] = {}

    class Handler:
        def __init__(self, k: int) -> None:
            self.k = k

        def datachange_notification(self, node: Any, value: Any, data: Any) -> None:
            sent = pending.pop((self.k, value), None)
            if sent is not None:
                latencies.append(time.perf_counter() - sent)

    clients = []
    for k in range(10):
        c = Client(url)
        c.set_user("bench")
        c.set_password("bench-password")
        await c.connect()
        clients.append(c)
        sub = await c.create_subscription(100, Handler(k))
        own = [c.get_node(ua.NodeId(f"T{k + 1:05d}.setpoint", 2))]
        others = [c.get_node(ua.NodeId(f"T{(k * 5 + j) % 100 + 1:05d}.{tag}", 2))
                  for j in range(7) for tag in CHANGING][:49]
        await sub.subscribe_data_change(own + others, sampling_interval=100)
    await asyncio.sleep(args.warmup)
    cpu0, t0 = cpu_seconds(pid), time.monotonic()

    async def writer(k: int, c: Any) -> None:
        node = c.get_node(ua.NodeId(f"T{k + 1:05d}.setpoint", 2))
        for i in range(int(args.seconds * args.windows)):
            await asyncio.sleep(random.uniform(0.8, 1.2))
            value = round(2.0 + 0.001 * (i + 1) + 0.1 * k, 6)
            pending[(k, value)] = time.perf_counter()
            await node.write_value(ua.Variant(value, ua.VariantType.Double))

    await asyncio.gather(*(writer(k, c) for k, c in enumerate(clients)))
    await asyncio.sleep(0.5)
    cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
    for c in clients:
        await c.disconnect()
    return cpu


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


# -- report --------------------------------------------------------------------------------
def report(results: list[dict[str, Any]], real: dict[str, float] | None,
           args: argparse.Namespace) -> None:
    med = statistics.median
    print(f"\nnotifications delivered at 100 ms sampling, {args.windows} windows of "
          f"{args.seconds} s (medians), one node-opcua client\n")
    print("| monitored values | twin notif/s | twin delivered per change | twin CPU "
          "| bare asyncua notif/s | bare delivered per change | bare CPU | twin / bare |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        t, b = r["twin"], r["bare"]
        tr, br = med(w["rate"] for w in t), med(w["rate"] for w in b)
        print(f"| {r['size']:,} | {tr:,.0f} | {med(w['ratio'] for w in t):.3f} | "
              f"{med(w['cpu'] for w in t):.0%} | {br:,.0f} | {med(w['ratio'] for w in b):.3f} "
              f"| {med(w['cpu'] for w in b):.0%} | {tr / br:.1f}x |")
    if real:
        print(f"\nrealistic: 10 clients x 50 values at 10 Hz on 100 tanks: server CPU "
              f"{real['cpu']:.1%} of one core; write-to-notification latency p50 "
              f"{real['p50'] * 1000:.0f} ms, p99 {real['p99'] * 1000:.0f} ms "
              f"({real['samples']} writes)")


async def amain(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        args.workdir = tmp
        results = []
        for size in filter(None, args.sizes.split(",")):
            results.append(await throughput(int(size), workdir, args))
            report(results[-1:], None, args)  # as it comes: a long run shows progress
        real = await realistic(workdir, args) if args.realistic else None
    report(results, real, args)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--seconds", type=float, default=10.0, help="per window")
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=5.0, help="s after subscribing")
    parser.add_argument("--no-realistic", dest="realistic", action="store_false")
    parser.add_argument("--serve-bare", nargs=2, type=int, metavar=("COUNT", "PORT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        asyncio.run(serve_bare(*args.serve_bare))
        return 0
    asyncio.run(amain(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
