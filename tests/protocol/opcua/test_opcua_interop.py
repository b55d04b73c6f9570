"""Interoperability with an independent stack: node-opcua's nodeset loader and client.

The Node.js scripts live in tests/interop (``npm ci`` there is part of
``scripts/test``); a missing ``node`` or module fails these tests.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from protocol.opcua.opcua_rig import (
    CLIENT_URI,
    client_certificate,
    demo,
    node_script,
    plant,
    trust,
)

from twin.app import Twin
from twin.opcua.address_space import NODESET
from twin.opcua.user_file import add_user
from twin.tags import Role

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_node_opcua_loads_the_nodeset() -> None:
    found = await node_script("load_nodeset.mjs", str(NODESET))
    assert found["levelTypeDefinition"] == "AnalogUnitRangeType"
    assert found["euRange"] == {"low": 0, "high": 5}
    assert found["engineeringUnits"] == {"unitId": 5067858, "displayName": "m"}
    assert found["modeStrings"] == ["AUTO", "MANUAL", "EXTERNAL"]
    assert found["stepIsMethod"] and found["stepInputs"] == ["scans"]
    assert {"level", "Reset", "Controller", "Status"} <= set(found["tankTypeChildren"])


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def demo_twin(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Twin]:
    tmp = tmp_path_factory.mktemp("opcua-interop-demo")
    config = demo(tmp, tanks=[{"name": "T101"}, {"name": "T102", "noise_std": 0.02}])
    async with Twin(config) as twin:
        yield twin


async def test_browse_read_write_subscribe_and_call_from_node_opcua(demo_twin: Twin) -> None:
    seen = await node_script("client.mjs", demo_twin.opcua.endpoint, "basic", "{}")
    assert "error" not in seen, seen
    assert seen["plant"] == ["T101", "T102"]
    assert {"level", "setpoint", "Reset", "Controller", "Status"} <= set(seen["tank"])
    assert {"gain", "mode"} <= set(seen["controller"])
    assert seen["level"]["status"] == "Good" and seen["level"]["hasSourceTimestamp"]
    assert seen["euRange"] == {"low": 0, "high": 5}
    assert seen["units"]["unitId"] == 5067858 and seen["units"]["displayName"] == "m"
    assert seen["writes"] == {
        "good": "Good", "float": "Good", "integer": "Good", "outOfRange": "BadOutOfRange",
        "nan": "BadOutOfRange", "mismatch": "BadTypeMismatch", "readOnly": "BadNotWritable",
        "role": "BadUserAccessDenied", "state": "BadInvalidState"}
    assert seen["setpointAfter"] == 3.0
    assert demo_twin.plant.inlet_flow.tolist() == [1.5, 1.0]
    assert len(seen["changes"]["level"]) >= 10  # a noisy level: a value per scan
    assert seen["changes"]["deadband"] == [3.0, 3.7, 4.3]  # 0.5 m absolute deadband
    assert seen["calls"] == {"reset": "BadUserAccessDenied",  # anonymous: an Operator
                             "stepWhileRunning": "BadUserAccessDenied"}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def secured(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Twin, Path]]:
    tmp = tmp_path_factory.mktemp("opcua-interop-secure")
    for user, role in (("otto", Role.OBSERVER), ("olga", Role.OPERATOR),
                       ("erik", Role.ENGINEER)):
        add_user(tmp / "users", user, role, f"{user}-pw")
    async with Twin(plant(tmp, {"anonymous": "off"})) as twin:
        yield twin, tmp


def secure_options(tmp: Path, cert: tuple[Path, Path], **extra: Any) -> str:
    pem = cert[0].with_suffix(".crt")
    return json.dumps({"policy": "Basic256Sha256", "mode": "SignAndEncrypt",
                       "pki": str(tmp / "node-pki"), "certificate": str(pem),
                       "privateKey": str(cert[1]), "applicationUri": CLIENT_URI, **extra})


@pytest.mark.parametrize(("user", "expected"), [
    ("otto", {"setpoint": "BadUserAccessDenied", "gain": "BadUserAccessDenied",
              "reset": "BadUserAccessDenied", "pause": "BadUserAccessDenied",
              "step": "BadUserAccessDenied", "resume": "BadUserAccessDenied"}),
    ("olga", {"setpoint": "Good", "gain": "BadUserAccessDenied",
              "reset": "BadUserAccessDenied", "pause": "BadUserAccessDenied",
              "step": "BadUserAccessDenied", "resume": "BadUserAccessDenied"}),
    ("erik", {"setpoint": "Good", "gain": "Good", "reset": "Good", "pause": "Good",
              "step": "Good", "resume": "Good"}),
])
async def test_each_role_over_basic256sha256_from_node_opcua(
        secured: tuple[Twin, Path], user: str, expected: dict[str, str]) -> None:
    twin, tmp = secured
    cert = client_certificate(tmp / "node-client", "node-client")
    trust(twin, cert[0])
    seen = await node_script("client.mjs", twin.opcua.endpoint, "roles",
                             secure_options(tmp, cert, user=user, password=f"{user}-pw"))
    assert seen == expected


async def test_node_opcua_with_an_untrusted_certificate_is_refused(
        secured: tuple[Twin, Path]) -> None:
    twin, tmp = secured
    cert = client_certificate(tmp / "node-stranger", "node-stranger")
    seen = await node_script("client.mjs", twin.opcua.endpoint, "connect",
                             secure_options(tmp, cert, user="erik", password="erik-pw"))
    assert "BadCertificateUntrusted" in seen.get("error", ""), seen
    assert list((tmp / "pki" / "rejected").glob("node-stranger*.der"))


async def test_history_and_an_alarm_from_node_opcua(tmp_path: Path) -> None:
    # T101 starts at 2.5 m, above its H limit of 2.0 m: the H alarm is active from the
    # first scan, retained, and waits for acknowledgement.
    config = demo(tmp_path, history={"enabled": True, "path": str(tmp_path / "h.sqlite"),
                                     "sample_period": 0.1, "flush_interval": 0.1},
                  tanks=[{"name": "T101", "alarm_high": 2.0}])
    async with Twin(config) as twin:
        await twin.engine.wait_scans(20)
        await asyncio.sleep(0.5)  # the history writer's batch reaches SQLite
        seen = await node_script("client.mjs", twin.opcua.endpoint, "historyAndAlarm", "{}")
        assert "error" not in seen, seen
        acked = twin.engine.current(twin.tags.tank_tag("level_alarm_acked"), 0)
    assert seen["historyStatus"] == "Good" and len(seen["historyValues"]) >= 5
    assert all(abs(v - 2.5) < 0.01 for v in seen["historyValues"])
    assert seen["refresh"] == "Good"
    assert seen["raised"] is not None and seen["raised"]["acked"] is False
    assert seen["raised"]["retain"] is True
    assert seen["acknowledge"] == "Good"
    assert seen["acknowledgeUnknown"] == "BadEventIdUnknown"
    assert seen["ackedEvent"] is True and acked is True
