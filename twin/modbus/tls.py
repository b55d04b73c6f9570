"""Modbus/TCP Security (Modbus Organization, MB-TCP-Security-v21): Modbus TCP frames
inside TLS 1.2 or later, mutual authentication with X.509 certificates, port 802.

A client must present a certificate chaining to ``tls_client_ca``; the handshake
fails otherwise. Authorisation follows the specification's role extension
(OID 1.3.6.1.4.1.50316.802.1, a UTF8String in the client certificate): a
certificate naming ``observer``, ``operator`` or ``engineer`` gets that role,
capped at the plant file's ``role``; one without the extension gets the plant
file's role; one naming any other role is refused.
"""

from __future__ import annotations

import asyncio
import ssl

import structlog
from cryptography import x509
from cryptography.x509.oid import NameOID

from twin.commands import Source
from twin.modbus.config import ModbusConfig
from twin.tags import Role

log = structlog.get_logger(__name__)

ROLE_OID = x509.ObjectIdentifier("1.3.6.1.4.1.50316.802.1")  # ModbusRoleOID
UTF8_STRING = 0x0C  # ASN.1 universal tag


def server_context(config: ModbusConfig) -> ssl.SSLContext:
    """TLS >= 1.2, the server's certificate, client certificates required."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(config.tls_certificate, config.tls_private_key)
    context.load_verify_locations(cafile=config.tls_client_ca)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_source(peer: str, transport: asyncio.BaseTransport, ceiling: Role) -> Source | None:
    """Who the client is (its certificate's common name) and its role; None: refuse it."""
    ssl_object = transport.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if der is None:
        return None
    certificate = x509.load_der_x509_certificate(der)
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    user = str(names[0].value) if names else "unnamed"
    claimed = certificate_role(certificate)
    if claimed is None:
        return Source("modbus", peer, user, ceiling)
    try:
        role = Role[claimed.upper()]
    except KeyError:
        log.warning("modbus_tls_role_refused", client=peer, user=user, role=claimed)
        return None
    return Source("modbus", peer, user, min(role, ceiling))


def certificate_role(certificate: x509.Certificate) -> str | None:
    """The role the certificate's Modbus role extension names, or None without one."""
    try:
        extension = certificate.extensions.get_extension_for_oid(ROLE_OID)
    except x509.ExtensionNotFound:
        return None
    value = extension.value
    data = value.value if isinstance(value, x509.UnrecognizedExtension) else b""
    if len(data) >= 2 and data[0] == UTF8_STRING and data[1] == len(data) - 2:
        return data[2:].decode("utf-8", "replace")
    return ""  # present but not a short UTF8String: an unknown role
