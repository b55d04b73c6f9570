"""Security over real TCP: endpoints, certificates (trusted, rejected), users and roles."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from asyncua import Client, ua
from cryptography import x509
from protocol.opcua.opcua_rig import (
    client,
    client_certificate,
    demo,
    double,
    ns_of,
    plant,
    trust,
    write,
)

from twin.app import Twin
from twin.opcua.user_file import add_user
from twin.tags import Role

pytestmark = pytest.mark.asyncio(loop_scope="module")
USERS = {"otto": Role.OBSERVER, "olga": Role.OPERATOR, "erik": Role.ENGINEER}
SECURE = ("Basic256Sha256", "SignAndEncrypt")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def secured(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Twin, Path]]:
    """A plant-file server: secure endpoints only, anonymous read-only, three users."""
    tmp = tmp_path_factory.mktemp("opcua-security")
    for name, role in USERS.items():
        add_user(tmp / "users", name, role, f"{name}-pw")
    async with Twin(plant(tmp)) as twin:
        yield twin, tmp


@pytest.fixture(scope="module")
def trusted_cert(secured: tuple[Twin, Path]) -> tuple[Path, Path]:
    twin, tmp = secured
    cert = client_certificate(tmp / "client", "trusted-client")
    trust(twin, cert[0])
    return cert


async def test_endpoints_are_the_secure_policies_and_modes_only(secured: Any) -> None:
    twin, _ = secured
    endpoints = await Client(twin.opcua.endpoint).connect_and_get_server_endpoints()
    found = {(e.SecurityPolicyUri.rsplit("#", 1)[1], e.SecurityMode.name) for e in endpoints}
    assert found == {(p, m) for p in ("Basic256Sha256", "Aes128_Sha256_RsaOaep",
                                      "Aes256_Sha256_RsaPss") for m in ("Sign", "SignAndEncrypt")}
    tokens = {t.TokenType for e in endpoints for t in e.UserIdentityTokens}
    assert tokens == {ua.UserTokenType.Anonymous, ua.UserTokenType.UserName}


async def test_the_certificate_is_created_once_with_the_application_uri(secured: Any) -> None:
    _, tmp = secured
    der = (tmp / "pki" / "own" / "cert.der").read_bytes()
    cert = x509.load_der_x509_certificate(der)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "urn:tank-twin:server" in names.get_values_for_type(x509.UniformResourceIdentifier)
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert (tmp / "pki" / "own" / "private" / "key.pem").stat().st_mode & 0o077 == 0
    async with Twin(plant(tmp)) as again:  # a restart keeps the certificate
        assert again.opcua is not None
    assert (tmp / "pki" / "own" / "cert.der").read_bytes() == der


@pytest.mark.parametrize(("user", "ident", "value", "status"), [
    ("otto", "T101.setpoint", 3.0, "BadUserAccessDenied"),
    ("olga", "T101.setpoint", 3.0, "Good"),
    ("olga", "T101.gain", -2.0, "BadUserAccessDenied"),
    ("erik", "T101.gain", -2.0, "Good"),
])
async def test_each_role_over_basic256sha256_sign_and_encrypt(
        secured: Any, trusted_cert: tuple[Path, Path], user: str, ident: str, value: float,
        status: str) -> None:
    twin, _ = secured
    policy, mode = SECURE
    async with client(twin.opcua.endpoint, user=user, password=f"{user}-pw", policy=policy,
                      mode=mode, cert=trusted_cert) as c:
        ns = await ns_of(c)
        assert await c.get_node(ua.NodeId("T101.level", ns)).read_value() > 0
        assert await write(c, ua.NodeId(ident, ns), double(value)) == status


@pytest.mark.parametrize(("policy", "mode"), [
    ("Aes128_Sha256_RsaOaep", "Sign"), ("Aes128_Sha256_RsaOaep", "SignAndEncrypt"),
    ("Aes256_Sha256_RsaPss", "Sign"), ("Aes256_Sha256_RsaPss", "SignAndEncrypt"),
    ("Basic256Sha256", "Sign"),
])
async def test_the_other_policies_connect(secured: Any, trusted_cert: tuple[Path, Path],
                                          policy: str, mode: str) -> None:
    twin, _ = secured
    async with client(twin.opcua.endpoint, policy=policy, mode=mode, cert=trusted_cert) as c:
        ns = await ns_of(c)  # anonymous: read-only
        assert await write(c, ua.NodeId("T101.setpoint", ns), double(3.0)) == \
            "BadUserAccessDenied"


async def test_no_none_endpoint_without_the_plant_file_saying_so(secured: Any) -> None:
    twin, _ = secured
    with pytest.raises(Exception):  # noqa: B017 - asyncua reports it in several ways
        async with client(twin.opcua.endpoint, timeout=3):
            pass


async def test_an_untrusted_certificate_is_refused_and_kept_for_review(secured: Any) -> None:
    twin, tmp = secured
    cert = client_certificate(tmp / "client", "stranger")
    policy, mode = SECURE
    with pytest.raises(ua.UaStatusCodeError) as refused:
        async with client(twin.opcua.endpoint, policy=policy, mode=mode, cert=cert):
            pass
    assert refused.value.code == ua.StatusCodes.BadCertificateUntrusted
    rejected = list((tmp / "pki" / "rejected").glob("stranger*.der"))
    assert len(rejected) == 1 and rejected[0].read_bytes() == cert[0].read_bytes()
    shutil.move(rejected[0], tmp / "pki" / "trusted" / rejected[0].name)  # the admin agrees
    async with client(twin.opcua.endpoint, policy=policy, mode=mode, cert=cert) as c:
        assert await ns_of(c) == 2


async def test_anonymous_can_be_switched_off(tmp_path: Path) -> None:
    add_user(tmp_path / "users", "olga", Role.OPERATOR, "pw")
    async with Twin(plant(tmp_path, {"anonymous": "off", "allow_none": True})) as twin:
        with pytest.raises(ua.UaStatusCodeError) as refused:
            async with client(twin.opcua.endpoint):
                pass
        assert refused.value.code in (ua.StatusCodes.BadIdentityTokenInvalid,
                                      ua.StatusCodes.BadIdentityTokenRejected,
                                      ua.StatusCodes.BadUserAccessDenied)
        async with client(twin.opcua.endpoint, user="olga", password="pw") as c:
            assert await write(c, ua.NodeId("T101.setpoint", 2), double(3.0)) == "Good"


async def test_the_demo_offers_none_and_anonymous_operators(tmp_path: Path) -> None:
    async with Twin(demo(tmp_path)) as twin, client(twin.opcua.endpoint) as c:
        endpoints = await c.get_endpoints()
        assert ua.MessageSecurityMode.None_ in {e.SecurityMode for e in endpoints}
        assert await write(c, ua.NodeId("T101.setpoint", 2), double(3.0)) == "Good"


async def test_a_broken_file_in_trusted_does_not_break_the_check(secured: Any,
                                                                  trusted_cert: Any) -> None:
    twin, tmp = secured
    (tmp / "pki" / "trusted" / "broken.pem").write_text("-----BEGIN CERTIFICATE-----\nxx\n")
    policy, mode = SECURE
    async with client(twin.opcua.endpoint, policy=policy, mode=mode, cert=trusted_cert) as c:
        assert await ns_of(c) == 2
