"""Helpers for the OPC UA tests: twins on ephemeral ports with a private PKI, and clients."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from asyncua import Client, ua
from asyncua.crypto import cert_gen, security_policies
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import UniformResourceIdentifier
from cryptography.x509.oid import ExtendedKeyUsageOID

from twin.app import Twin
from twin.config import PlantConfig, parse_plant
from twin.opcua.model import NAMESPACE_URI

INTEROP = Path(__file__).resolve().parents[2] / "interop"
CLIENT_URI = "urn:tank-twin:test-client"
POLICIES = {
    "Basic256Sha256": security_policies.SecurityPolicyBasic256Sha256,
    "Aes128_Sha256_RsaOaep": security_policies.SecurityPolicyAes128Sha256RsaOaep,
    "Aes256_Sha256_RsaPss": security_policies.SecurityPolicyAes256Sha256RsaPss,
}


def plant(tmp: Path, opcua: dict[str, Any] | None = None, **data: Any) -> PlantConfig:
    """A plant with OPC UA on a free port, its PKI and users file in ``tmp``; the other
    listeners and the history off (a test asks for what it needs)."""
    data = dict(data)
    data["opcua"] = {"port": 0, "pki_dir": str(tmp / "pki"), "users_file": str(tmp / "users"),
                     **(opcua or {})}
    data.setdefault("modbus", {"enabled": False})
    data.setdefault("history", {"enabled": False})
    data.setdefault("metrics", {"enabled": False})
    return parse_plant(data, "<test>")


def demo(tmp: Path, **data: Any) -> PlantConfig:
    """Like the embedded default: None endpoint, anonymous operators."""
    opcua = {"allow_none": True, "anonymous": "operator", **data.pop("opcua", {})}
    return plant(tmp, opcua, **data)


@asynccontextmanager
async def client(url: str, *, user: str | None = None, password: str | None = None,
                 policy: str | None = None, mode: str = "SignAndEncrypt",
                 cert: tuple[Path, Path] | None = None,
                 timeout: float = 10) -> AsyncIterator[Client]:
    """A connected asyncua client; secure when ``policy`` is given (needs ``cert``)."""
    c = Client(url, timeout=timeout)
    c.application_uri = CLIENT_URI
    if user is not None:
        c.set_user(user)
        c.set_password(password or "")
    if policy is not None:
        assert cert is not None
        await c.set_security(POLICIES[policy], str(cert[0]), str(cert[1]),
                             mode=getattr(ua.MessageSecurityMode, mode))
    async with c:
        yield c


async def ns_of(c: Client) -> int:
    return int(await c.get_namespace_index(NAMESPACE_URI))


def node(c: Client, ns: int, ident: str) -> Any:
    return c.get_node(ua.NodeId(ident, ns))


def client_certificate(folder: Path, name: str = "client") -> tuple[Path, Path]:
    """A self-signed client application certificate (DER) and key (PEM); the
    certificate also as PEM beside it (``.crt``), for node-opcua."""
    folder.mkdir(parents=True, exist_ok=True)
    key = cert_gen.generate_private_key()
    cert = cert_gen.generate_self_signed_app_certificate(
        key, name, {}, [UniformResourceIdentifier(CLIENT_URI)],
        [ExtendedKeyUsageOID.CLIENT_AUTH], days=30)
    cert_path, key_path = folder / f"{name}.der", folder / f"{name}.pem"
    cert_path.write_bytes(cert.public_bytes(Encoding.DER))
    cert_path.with_suffix(".crt").write_bytes(cert.public_bytes(Encoding.PEM))
    key_path.write_bytes(cert_gen.dump_private_key_as_pem(key))
    return cert_path, key_path


def trust(twin: Twin, cert: Path) -> None:
    shutil.copy(cert, Path(twin.config.opcua.pki_dir) / "trusted" / cert.name)


async def node_script(script: str, *args: str, timeout: float = 60) -> Any:
    """Run ``tests/interop/<script>`` with Node.js; its last stdout line is JSON.

    A missing ``node`` or npm module is a failure, not a skip: the interop tests
    are part of the suite (``scripts/test`` runs ``npm ci``).
    """
    node_exe = shutil.which("node")
    assert node_exe, "Node.js is required for the interop tests (scripts/test installs deps)"
    assert (INTEROP / "node_modules" / "node-opcua-client").is_dir(), \
        "run `npm ci` in tests/interop (scripts/test does)"
    proc = await asyncio.create_subprocess_exec(
        node_exe, str(INTEROP / script), *args, cwd=INTEROP, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env={**os.environ, "NODE_NO_WARNINGS": "1"})
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode == 0, f"{script} failed ({proc.returncode}):\n{err.decode()[-3000:]}"
    lines = [line for line in out.decode().splitlines() if line.strip()]
    assert lines, f"{script} printed nothing:\n{err.decode()[-3000:]}"
    return json.loads(lines[-1])


async def write(c: Client, target: ua.NodeId, variant: ua.Variant,
                attribute: ua.AttributeIds = ua.AttributeIds.Value) -> str:
    """Write one value; the status code's name (no exception on Bad_*)."""
    value = ua.WriteValue(NodeId=target, AttributeId=attribute, Value=ua.DataValue(variant))
    (result,) = await c.uaclient.write(ua.WriteParameters(NodesToWrite=[value]))
    return str(result.name)


async def call(c: Client, obj: ua.NodeId, method: ua.NodeId,
               *args: ua.Variant) -> ua.CallMethodResult:
    request = ua.CallMethodRequest(ObjectId=obj, MethodId=method, InputArguments=list(args))
    (result,) = await c.uaclient.call([request])
    return result


def double(value: float) -> ua.Variant:
    return ua.Variant(value, ua.VariantType.Double)
