"""A real Prometheus (Debian's package) scrapes a real twin with the repository's own
scrape config; every PromQL expression of every dashboard panel and alert rule must be
valid and return data, and a live /metrics scrape passes `promtool check metrics`."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from asyncua import Client, ua
from plants import free_port, test_plant
from pymodbus.client import AsyncModbusTcpClient

from twin.app import Twin
from twin.commands import Source
from twin.opcua.model import NAMESPACE_URI
from twin.tags import Role

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SCRAPE = "1s"
RATE_WINDOW = "5s"  # stands for $__rate_interval: several scrapes at the 1 s interval
COMPARISON = re.compile(r"\s(==|!=|>=|<=|>|<)\s")


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} missing: scripts/setup --test installs Debian's prometheus package"
    return path


def http_json(url: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as exc:  # Prometheus answers 400 with a JSON error
        return dict(json.loads(exc.read()))


def compose_plant(tmp: Path) -> dict[str, Any]:
    """The compose stack's tanks, every listener on loopback, state in ``tmp``."""
    data = tomllib.loads((DEPLOY / "twin" / "plant.toml").read_text())
    return {
        "tanks": data["tanks"],
        "opcua": {"allow_none": True, "anonymous": "operator",
                  "pki_dir": str(tmp / "pki"), "users_file": str(tmp / "users")},
        "history": {"path": str(tmp / "history.sqlite")},
    }


def prometheus_config(tmp: Path, target: str) -> Path:
    """The repository's scrape config, adapted in target address and interval only."""
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = SCRAPE
    config["global"]["evaluation_interval"] = SCRAPE
    config["scrape_configs"][0]["static_configs"][0]["targets"] = [target]
    shutil.copy(DEPLOY / "prometheus" / "alerts.yml", tmp / "alerts.yml")
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


class Prometheus:
    def __init__(self, config: Path, data: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [tool("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={data}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def query(self, expr: str) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode(
            {"query": expr})
        return http_json(url)

    def api(self, path: str) -> dict[str, Any]:
        return http_json(f"http://127.0.0.1:{self.port}/api/v1/{path}")

    def stop(self) -> str:
        self.proc.terminate()
        try:
            return self.proc.communicate(timeout=20)[1]
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.communicate()[1]


async def wait_for(check: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def dashboard_expressions() -> list[tuple[str, str]]:
    dashboard = json.loads((DEPLOY / "grafana/dashboards/tank-twin.json").read_text())
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$tank", ".*").replace("$__rate_interval", RATE_WINDOW)
            found.append((panel["title"], expr))
    return found


def alert_expressions() -> list[tuple[str, str]]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    return [(r["alert"], r["expr"]) for g in rules["groups"] for r in g["rules"]]


async def activity(twin: Twin) -> None:
    """Touch every front end so their series exist: a Modbus read, an OPC UA
    subscription, a command."""
    assert twin.modbus is not None and twin.opcua is not None
    modbus = AsyncModbusTcpClient("127.0.0.1", port=twin.modbus.port)
    await modbus.connect()
    await modbus.read_input_registers(0, count=2, device_id=1)
    modbus.close()
    twin.engine.submit("setpoint", 0, 2.6, Source("test", "deploy", "tester", Role.OPERATOR))
    async with Client(twin.opcua.endpoint, timeout=10) as client:
        ns = await client.get_namespace_index(NAMESPACE_URI)
        handler = _Changes()
        subscription = await client.create_subscription(100, handler)
        await subscription.subscribe_data_change(client.get_node(ua.NodeId("T101.level", ns)))
        await asyncio.sleep(1.0)
        assert handler.count > 0


class _Changes:
    count = 0

    def datachange_notification(self, node: Any, value: Any, data: Any) -> None:
        self.count += 1


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[tuple[Twin, Prometheus]]:
    async with Twin(test_plant(compose_plant(tmp_path))) as twin:
        assert twin.metrics_server is not None
        config = prometheus_config(tmp_path, f"127.0.0.1:{twin.metrics_server.port}")
        prometheus = Prometheus(config, tmp_path / "tsdb")
        try:
            await activity(twin)
            await wait_for(lambda: _scraped(prometheus), "8 scrapes of the twin")
            yield twin, prometheus
        finally:
            errors = prometheus.stop()
            assert "level=error" not in errors, errors


def _scraped(prometheus: Prometheus) -> bool:
    if prometheus.proc.poll() is not None:
        raise AssertionError(f"prometheus exited: {prometheus.proc.communicate()[1]}")
    result = prometheus.query('count_over_time(up{job="tank-twin"}[30s]) >= 8')
    return bool(result.get("data", {}).get("result"))


async def test_every_dashboard_and_alert_expression_is_valid_and_has_data(
    stack: tuple[Twin, Prometheus],
) -> None:
    _, prometheus = stack
    problems = []
    for title, expr in dashboard_expressions():
        answer = await asyncio.to_thread(prometheus.query, expr)
        if answer.get("status") != "success":
            problems.append(f"panel {title!r}: {expr}: {answer.get('error')}")
        elif not answer["data"]["result"]:
            problems.append(f"panel {title!r}: {expr}: no data")
    for name, expr in alert_expressions():
        answer = await asyncio.to_thread(prometheus.query, expr)
        if answer.get("status") != "success":
            problems.append(f"alert {name}: {expr}: {answer.get('error')}")
        query = COMPARISON.split(expr)[0]  # the alert is quiet; its query must have data
        if not (await asyncio.to_thread(prometheus.query, query))["data"]["result"]:
            problems.append(f"alert {name}: {query}: no data")
    assert not problems, "\n".join(problems)
    rules = await asyncio.to_thread(prometheus.api, "rules")
    health = [(r["name"], r["health"]) for g in rules["data"]["groups"] for r in g["rules"]]
    assert health and all(h == "ok" for _, h in health), health
    up = await asyncio.to_thread(prometheus.query, 'up{job="tank-twin"}')
    assert up["data"]["result"][0]["value"][1] == "1"


async def test_a_live_scrape_passes_promtool_check_metrics(stack: tuple[Twin, Prometheus]) -> None:
    twin, _ = stack
    assert twin.metrics_server is not None
    url = f"http://127.0.0.1:{twin.metrics_server.port}/metrics"
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read())
    result = subprocess.run([tool("promtool"), "check", "metrics"], input=body,
                            capture_output=True)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()
    assert b"twin_modbus_requests_total" in body and b"tank_level_meters" in body
