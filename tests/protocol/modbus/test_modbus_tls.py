"""Modbus/TCP Security: TLS with client certificates required, the role extension
(OID 1.3.6.1.4.1.50316.802.1) capped at the plant file's role."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import struct
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from protocol.modbus.modbus_client import RawClient, float_words, offset, read_pdu
from structlog.testing import capture_logs

from twin.modbus.register_map import Table
from twin.modbus.tls import ROLE_OID

HR = Table.HOLDING_REGISTERS


class Pki:
    """A CA and the certificates it signs, written as PEM files into ``directory``."""

    def __init__(self, directory: Path, name: str = "test CA") -> None:
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.certificate = self._builder(self.name, self.key.public_key()).add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True,
        ).sign(self.key, hashes.SHA256())
        self.ca_file = self._write(f"{name}.pem", self.certificate)

    def _builder(self, subject: x509.Name, public_key) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.UTC)
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(
            getattr(self, "name", subject)).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1)))

    def _write(self, filename: str, certificate: x509.Certificate) -> str:
        path = self.directory / filename
        path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return str(path)

    def issue(self, common_name: str, role: str | None = None, server: bool = False
              ) -> tuple[str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        builder = self._builder(subject, key.public_key())
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        if role is not None:
            value = bytes([0x0C, len(role)]) + role.encode()  # ASN.1 UTF8String
            builder = builder.add_extension(x509.UnrecognizedExtension(ROLE_OID, value),
                                            critical=False)
        certificate = builder.sign(self.key, hashes.SHA256())
        cert_file = self._write(f"{common_name}.pem", certificate)
        key_file = self.directory / f"{common_name}.key"
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert_file, str(key_file)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


def tls_section(pki: Pki, **extra: object) -> dict[str, object]:
    cert, key = pki.issue("twin", server=True)
    return {"tls": True, "tls_port": 0, "tls_certificate": cert, "tls_private_key": key,
            "tls_client_ca": pki.ca_file, **extra}


async def tls_client(pki: Pki, port: int, common_name: str | None, role: str | None = None,
                     issuer: Pki | None = None) -> RawClient:
    context = ssl.create_default_context(cafile=pki.ca_file)
    if common_name is not None:
        context.load_cert_chain(*(issuer or pki).issue(common_name, role))
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    return RawClient(reader, writer)


async def test_tls_clients_with_certificates_read_and_write(make_twin, pki) -> None:
    async with make_twin(modbus=tls_section(pki)) as twin:
        assert twin.modbus.tls_port and twin.modbus.port  # TLS beside plain TCP
        client = await tls_client(pki, twin.modbus.tls_port, "plc-7")
        assert await client.request(read_pdu(4, offset(twin, Table.INPUT_REGISTERS, "height"),
                                             2)) == b"\x04\x04" + float_words(5.0)
        setpoint = offset(twin, HR, "setpoint")
        write = struct.pack(">BHHB", 16, setpoint, 2, 4) + float_words(3.5)
        with capture_logs() as logs:
            assert await client.request(write) == write[:5]
            await twin.engine.wait_scans(2)
        applied = [e for e in logs if e["event"] == "command_applied"]
        assert applied[0]["source"].endswith(":plc-7")  # the certificate's common name
        assert twin.plant.setpoint[0] == 3.5
        await client.close()


@pytest.mark.parametrize(("role", "setpoint_reply", "gain_reply"), [
    ("observer", b"\x90\x02", b"\x90\x02"),
    ("operator", b"\x10", b"\x90\x02"),
    ("engineer", b"\x10", b"\x10"),
])
async def test_the_certificate_role_applies_up_to_the_plant_files_role(
        make_twin, pki, role, setpoint_reply, gain_reply) -> None:
    async with make_twin(modbus=tls_section(pki, role="engineer")) as twin:
        client = await tls_client(pki, twin.modbus.tls_port, f"user-{role}", role)
        setpoint = struct.pack(">BHHB", 16, offset(twin, HR, "setpoint"), 2, 4) + float_words(3)
        gain = struct.pack(">BHHB", 16, offset(twin, HR, "gain"), 2, 4) + float_words(-2.0)
        assert (await client.request(setpoint))[:len(setpoint_reply)] == setpoint_reply
        assert (await client.request(gain))[:len(gain_reply)] == gain_reply
        await client.close()
    async with make_twin(modbus=tls_section(pki)) as twin:  # plant file role: operator
        client = await tls_client(pki, twin.modbus.tls_port, "capped", "engineer")
        gain = struct.pack(">BHHB", 16, offset(twin, HR, "gain"), 2, 4) + float_words(-2.0)
        assert await client.request(gain) == b"\x90\x02"
        await client.close()


async def test_clients_without_an_acceptable_certificate_are_refused(make_twin, pki,
                                                                     tmp_path) -> None:
    stranger = Pki(tmp_path, "other CA")
    async with make_twin(modbus=tls_section(pki)) as twin:
        port = twin.modbus.tls_port
        for common_name, role, issuer in ((None, None, None), ("intruder", None, stranger),
                                          ("root", "admin", None)):
            try:
                client = await tls_client(pki, port, common_name, role, issuer)
            except (ssl.SSLError, ConnectionError):
                continue  # refused in the handshake (TLS 1.2 style)
            try:
                await client.send(client.frame(read_pdu(3, 0, 2)))
                assert await client.closed(), common_name
            except (ssl.SSLError, ConnectionError):
                pass  # TLS 1.3 reports the refused certificate on the first read
            await client.close()
        good = await tls_client(pki, port, "plc")
        assert (await good.request(read_pdu(3, 0, 2)))[:2] == b"\x03\x04"
        await good.close()
