"""Metrics and health over real HTTP on 127.0.0.1, parsed with prometheus-client's parser."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

import pytest
from plants import test_plant
from prometheus_client.parser import text_string_to_metric_families

from twin.app import Twin
from twin.commands import Source
from twin.tags import Role, TagTable

OPERATOR = Source("opcua", "s1", "olga", Role.OPERATOR)


async def http_get(port: int, path: str, method: str = "GET") -> tuple[int, str, str]:
    def fetch() -> tuple[int, str, str]:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.headers["Content-Type"], response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers["Content-Type"], exc.read().decode()

    return await asyncio.to_thread(fetch)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def small_plant() -> Twin:
    data = {"tanks": [{"name": "T101"}, {"name": "T102", "area": 10.0, "setpoint": 1.0}]}
    return Twin(test_plant(data))


async def test_metrics_follow_prometheus_conventions_and_show_the_plant() -> None:
    async with small_plant() as twin:
        twin.engine.submit("setpoint", 1, 1.5, OPERATOR)
        await twin.engine.wait_scans(3)
        assert twin.metrics_server is not None
        status, ctype, body = await http_get(twin.metrics_server.port, "/metrics")
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    values = samples(body)
    assert values[("tank_level_meters", (("tank", "T101"),))] == pytest.approx(2.5, abs=1e-3)
    assert values[("tank_setpoint_meters", (("tank", "T102"),))] == 1.5
    assert ("tank_outlet_flow_cubic_meters_per_second", (("tank", "T102"),)) in values
    assert ("tank_valve_position_ratio", (("tank", "T101"),)) in values
    assert values[("tank_mode", (("tank", "T101"),))] == 0
    assert values[("tank_overflowing", (("tank", "T101"),))] == 0
    assert values[("twin_scan_duration_seconds_count", ())] >= 3
    assert ("twin_scan_duration_seconds_bucket", (("le", "0.005"),)) in values
    assert ("twin_scan_overruns_total", ()) in values  # its count is timing: not asserted
    assert ("twin_event_loop_lag_seconds", ()) in values
    assert values[("twin_sim_time_seconds", ())] >= 0.3
    assert values[("twin_time_scale_ratio", ())] == 1.0
    assert values[("twin_tanks", ())] == 2
    assert values[("twin_commands_total", (("result", "applied"), ("source", "opcua")))] == 1
    build = [k for k in values if k[0] == "twin_build_info"]
    assert build and dict(build[0][1])["version"]
    for tag in TagTable().tank:
        if tag.metric:
            assert (tag.metric_name, (("tank", "T101"),)) in values, tag.metric_name


async def test_openmetrics_is_served_when_asked() -> None:
    async with small_plant() as twin:
        assert twin.metrics_server is not None
        port = twin.metrics_server.port

        def fetch() -> str:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/metrics",
                headers={"Accept": "application/openmetrics-text; version=1.0.0"},
            )
            with urllib.request.urlopen(request, timeout=5) as response:
                return str(response.headers["Content-Type"])

        assert (await asyncio.to_thread(fetch)).startswith("application/openmetrics-text")


async def test_health_and_readiness_endpoints() -> None:
    twin = small_plant()
    async with twin:
        assert twin.metrics_server is not None
        port = twin.metrics_server.port
        assert (await http_get(port, "/healthz"))[0] == 200
        assert (await http_get(port, "/readyz"))[0] == 200
        twin.ready = False
        assert (await http_get(port, "/readyz"))[0] == 503
        twin.ready = True
        assert (await http_get(port, "/nope"))[0] == 404
        assert (await http_get(port, "/metrics", method="POST"))[0] == 405
        assert (await http_get(port, "/healthz", method="HEAD"))[0] == 200


async def test_per_tank_series_can_be_turned_off_for_huge_fleets() -> None:
    data = {"metrics": {"per_tank": False}, "fleets": [{"count": 50}]}
    async with Twin(test_plant(data)) as twin:
        assert twin.metrics_server is not None
        _, _, body = await http_get(twin.metrics_server.port, "/metrics")
    assert "tank_level_meters" not in body and "twin_tanks 50.0" in body
