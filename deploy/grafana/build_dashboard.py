"""Writes deploy/grafana/dashboards/tank-twin.json (run after changing a panel).

    .venv/bin/python deploy/grafana/build_dashboard.py

The dashboard references the provisioned datasource by uid, so it needs no
import step; tests/deploy checks that the file is current and that every
panel's query returns data from a real Prometheus scraping a real twin.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATASOURCE = {"type": "prometheus", "uid": "tank-twin-prometheus"}
OUT = Path(__file__).resolve().parent / "dashboards" / "tank-twin.json"
TANK = 'tank=~"$tank"'
RATE = "$__rate_interval"
MODES = {"0": "AUTO", "1": "MANUAL", "2": "EXTERNAL"}
ALARM_STATES = {"0": "NORMAL", "1": "LL", "2": "L", "3": "H", "4": "HH"}


def target(expr: str, legend: str, ref: str) -> dict[str, Any]:
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": ref}


def panel(title: str, kind: str, grid: tuple[int, int, int, int], targets: list[tuple[str, str]],
          unit: str = "short", **extra: Any) -> dict[str, Any]:
    x, y, w, h = grid
    refs = "ABCDEFGHIJ"
    return {
        "title": title,
        "type": kind,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": [target(e, legend, refs[i]) for i, (e, legend) in enumerate(targets)],
        "fieldConfig": {"defaults": {"unit": unit, **extra.pop("defaults", {})}, "overrides": []},
        "options": extra.pop("options", {}),
        **extra,
    }


def quantile(q: float, histogram: str) -> str:
    return f"histogram_quantile({q}, sum by (le) (rate({histogram}_bucket[{RATE}])))"


def mappings(states: dict[str, str]) -> list[dict[str, Any]]:
    return [{"type": "value", "options": {k: {"text": v, "index": int(k)} for k, v in
                                          states.items()}}]


def row(title: str, y: int) -> dict[str, Any]:
    return {"type": "row", "title": title, "collapsed": False,
            "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []}


def tank_panels() -> list[dict[str, Any]]:
    return [
        row("Tanks", 0),
        panel("Level against setpoint and alarm limits", "timeseries", (0, 1, 12, 9), [
            (f"tank_level_meters{{{TANK}}}", "{{tank}} level"),
            (f"tank_setpoint_meters{{{TANK}}}", "{{tank}} setpoint"),
            (f"tank_alarm_high_high_meters{{{TANK}}}", "{{tank}} HH"),
            (f"tank_alarm_high_meters{{{TANK}}}", "{{tank}} H"),
            (f"tank_alarm_low_meters{{{TANK}}}", "{{tank}} L"),
            (f"tank_alarm_low_low_meters{{{TANK}}}", "{{tank}} LL"),
        ], unit="lengthm"),
        panel("Flows", "timeseries", (12, 1, 12, 9), [
            (f"tank_inlet_flow_cubic_meters_per_second{{{TANK}}}", "{{tank}} inlet"),
            (f"tank_outlet_flow_cubic_meters_per_second{{{TANK}}}", "{{tank}} outlet"),
            (f"tank_overflow_flow_cubic_meters_per_second{{{TANK}}}", "{{tank}} overflow"),
            (f"tank_leak_flow_cubic_meters_per_second{{{TANK}}}", "{{tank}} leak"),
        ], unit="m3/s"),
        panel("Valve and controller", "timeseries", (0, 10, 12, 8), [
            (f"tank_valve_command_ratio{{{TANK}}}", "{{tank}} valve command"),
            (f"tank_valve_position_ratio{{{TANK}}}", "{{tank}} valve position"),
            (f"tank_controller_output_ratio{{{TANK}}}", "{{tank}} controller output"),
        ], unit="percentunit", defaults={"min": 0, "max": 1}),
        panel("Controller mode", "stat", (12, 10, 6, 8), [
            (f"tank_mode{{{TANK}}}", "{{tank}}"),
        ], defaults={"mappings": mappings(MODES)},
            options={"colorMode": "background", "textMode": "value_and_name"}),
        panel("Active level alarms", "stat", (18, 10, 6, 8), [
            (f"tank_level_alarm_state{{{TANK}}}", "{{tank}}"),
        ], defaults={"mappings": mappings(ALARM_STATES), "thresholds": {"mode": "absolute",
            "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}]}},
            options={"colorMode": "background", "textMode": "value_and_name"}),
    ]


def health_panels() -> list[dict[str, Any]]:
    return [
        row("Twin health", 18),
        panel("Scan duration", "timeseries", (0, 19, 8, 8), [
            (quantile(0.5, "twin_scan_duration_seconds"), "p50"),
            (quantile(0.99, "twin_scan_duration_seconds"), "p99"),
            (quantile(0.99, "twin_scan_lateness_seconds"), "lateness p99"),
        ], unit="s"),
        panel("Scan overruns", "timeseries", (8, 19, 8, 8), [
            (f"increase(twin_scan_overruns_total[{RATE}])", "overruns"),
            (f"increase(twin_scans_skipped_total[{RATE}])", "skipped deadlines"),
        ]),
        panel("Event-loop lag", "timeseries", (16, 19, 8, 8), [
            ("twin_event_loop_lag_seconds", "lag"),
        ], unit="s"),
        panel("OPC UA sessions and notifications", "timeseries", (0, 27, 8, 8), [
            ("twin_opcua_sessions", "sessions"),
            ("twin_opcua_monitored_items", "monitored items"),
            (f"rate(twin_opcua_notifications_total[{RATE}])", "notifications/s"),
        ]),
        panel("Modbus requests", "timeseries", (8, 27, 8, 8), [
            (f"sum by (function, result) (rate(twin_modbus_requests_total[{RATE}]))",
             "{{function}} {{result}}"),
        ], unit="reqps"),
        panel("Commands", "timeseries", (16, 27, 8, 8), [
            (f"sum by (source, result) (increase(twin_commands_total[{RATE}]))",
             "{{source}} {{result}}"),
        ]),
        panel("CPU", "timeseries", (0, 35, 8, 8), [
            (f"rate(process_cpu_seconds_total{{job=\"tank-twin\"}}[{RATE}])", "cores"),
        ], unit="percentunit"),
        panel("Memory", "timeseries", (8, 35, 8, 8), [
            ('process_resident_memory_bytes{job="tank-twin"}', "resident"),
        ], unit="bytes"),
        panel("Simulation", "stat", (16, 35, 8, 8), [
            ("twin_sim_time_seconds", "sim time"),
            ("twin_time_scale_ratio", "time scale"),
            ("twin_tanks", "tanks"),
        ]),
    ]


def dashboard() -> dict[str, Any]:
    return {
        "uid": "tank-twin",
        "title": "tank-twin",
        "tags": ["tank-twin"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "5s",
        "time": {"from": "now-15m", "to": "now"},
        "templating": {"list": [{
            "name": "tank",
            "label": "Tank",
            "type": "query",
            "datasource": DATASOURCE,
            "query": {"query": "label_values(tank_level_meters, tank)", "refId": "tanks"},
            "definition": "label_values(tank_level_meters, tank)",
            "refresh": 2,
            "multi": True,
            "includeAll": True,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "sort": 1,
        }]},
        "annotations": {"list": []},
        "panels": tank_panels() + health_panels(),
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}")
