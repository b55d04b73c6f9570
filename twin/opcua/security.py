"""The server's PKI directory: its own certificate, trusted and rejected clients.

    <pki_dir>/own/cert.der            the server certificate, created on first start
    <pki_dir>/own/private/key.pem     its private key (0600)
    <pki_dir>/trusted/                client certificates (DER or PEM) allowed in
    <pki_dir>/rejected/               certificates refused, for the administrator to review

The certificate is self-signed (OPC 10000-6, 6.2.2): RSA 2048, SHA-256, the
ApplicationUri and the host names and addresses the server answers on as
subject alternative names. A client certificate is accepted when it is in
``trusted/`` (the certificate itself: no CA chains yet), within its validity, and
names the client's ApplicationUri; an untrusted one is copied to ``rejected/``
and the session is refused with Bad_CertificateUntrusted. Moving it to
``trusted/`` admits the client from its next connection on (no restart).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import socket
import tempfile
from pathlib import Path

import structlog
from asyncua import ua
from asyncua.common.utils import ServiceError
from asyncua.crypto import cert_gen
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from twin.opcua.ua_values import StatusCodes

log = structlog.get_logger(__name__)

CERTIFICATE_DAYS = 5 * 365


class Pki:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.certificate = root / "own" / "cert.der"
        self.private_key = root / "own" / "private" / "key.pem"
        self.trusted = root / "trusted"
        self.rejected = root / "rejected"

    def ensure(self, application_uri: str, name: str, host: str) -> bool:
        """Create the folders, and the certificate if missing; True if it was created."""
        for folder in (self.trusted, self.rejected, self.private_key.parent):
            folder.mkdir(parents=True, exist_ok=True)
        if self.certificate.exists() and self.private_key.exists():
            return False
        key = cert_gen.generate_private_key()
        cert = cert_gen.generate_self_signed_app_certificate(
            key, f"{name}@{socket.gethostname()}", {}, _alt_names(application_uri, host),
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
            days=CERTIFICATE_DAYS)
        _write(self.private_key, cert_gen.dump_private_key_as_pem(key), 0o600)
        _write(self.certificate, cert.public_bytes(Encoding.DER), 0o644)
        log.info("opcua_certificate_created", path=str(self.certificate), uri=application_uri)
        return True


def _alt_names(application_uri: str, host: str) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(application_uri)]
    hostnames = {socket.gethostname(), "localhost"}
    addresses = {"127.0.0.1"}
    try:
        ip = ipaddress.ip_address(host)
        if not ip.is_unspecified:
            addresses.add(str(ip))
    except ValueError:
        hostnames.add(host)
    names += [x509.DNSName(h) for h in sorted(hostnames)]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in sorted(addresses)]
    return names


def _write(path: Path, data: bytes, mode: int) -> None:
    """Atomically, so two servers starting at once never read half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def thumbprint(cert: x509.Certificate) -> str:
    return hashlib.sha1(cert.public_bytes(Encoding.DER)).hexdigest()


class ClientTrust:
    """asyncua's certificate validator hook, called at CreateSession."""

    def __init__(self, pki: Pki) -> None:
        self._pki = pki
        options = (CertificateValidatorOptions.TIME_RANGE | CertificateValidatorOptions.URI
                   | CertificateValidatorOptions.PEER_CLIENT)
        self._basic = CertificateValidator(options)

    async def __call__(self, cert: x509.Certificate,
                       description: ua.ApplicationDescription) -> None:
        await self._basic.validate(cert, description)  # validity, ApplicationUri
        if self._trusted(cert):
            return
        name = f"{_common_name(cert)} [{thumbprint(cert)}].der"
        target = self._pki.rejected / name.replace("/", "_")
        if not target.exists():
            _write(target, cert.public_bytes(Encoding.DER), 0o644)
        log.warning("opcua_certificate_rejected", client=description.ApplicationUri,
                    certificate=str(target))
        raise ServiceError(StatusCodes.BadCertificateUntrusted)

    def _trusted(self, cert: x509.Certificate) -> bool:
        """Read at every session, so a certificate moved to trusted/ works at once."""
        der = cert.public_bytes(Encoding.DER)
        for path in self._pki.trusted.glob("*"):
            if path.suffix.lower() in (".der", ".pem", ".crt") and _der(path) == der:
                return True
        return False


def _der(path: Path) -> bytes:
    """A certificate file's DER bytes; an unreadable file trusts nobody (and says so)."""
    try:
        data = path.read_bytes()
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data).public_bytes(Encoding.DER)
    except (OSError, ValueError) as exc:
        log.warning("opcua_trusted_file_unreadable", path=str(path), reason=str(exc))
        return b""
    return data


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else "certificate"
