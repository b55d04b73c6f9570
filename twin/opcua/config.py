"""The ``[opcua]`` section of a plant file, and the rule against insecure exposure.

A server that listens on anything but loopback must be secured (no None
endpoint, anonymous sessions off or read-only) unless the plant file says
``allow_insecure = true``. The check runs where the plant file is validated, so
``tank-twin check`` reports it as well as ``run``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twin.config_schema import setting
from twin.errors import ConfigError

if TYPE_CHECKING:
    from twin.config import TankEntry

POLICIES = ("Basic256Sha256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss")
MODES = ("Sign", "SignAndEncrypt")
ANONYMOUS = ("off", "observer", "operator")
LOOPBACK_NAMES = ("localhost",)
DEFAULT_PKI_DIR = "~/.local/state/tank-twin/pki"
DEFAULT_USERS_FILE = "~/.config/tank-twin/opcua-users"
RESERVED_NAMES = ("Plant", "Simulation")  # NodeIds of their own (twin.opcua.model)

# What the embedded demo plant sets on top of the section's defaults.
EMBEDDED_DEMO: dict[str, Any] = {"allow_none": True, "anonymous": "operator"}


@dataclass(frozen=True, slots=True)
class OpcUaConfig:
    enabled: bool = setting(True, doc="serve OPC UA")
    host: str = setting("127.0.0.1", doc="bind address (anything but loopback must be secured)")
    port: int = setting(4840, ge=0, le=65535, doc="TCP port (0 = any free port)")
    endpoint_path: str = setting("/tank-twin", pattern=r"/[A-Za-z0-9_\-./]*",
                                 doc="path of the endpoint URL opc.tcp://host:port/path")
    application_uri: str = setting("urn:tank-twin:server",
                                   doc="ApplicationUri, also in the server certificate")
    server_name: str = setting("tank-twin", doc="ApplicationName shown to clients")
    security_policies: tuple[str, ...] = setting(
        POLICIES, doc="secure endpoints' policies: " + ", ".join(POLICIES))
    security_modes: tuple[str, ...] = setting(
        MODES, doc="message security modes: " + ", ".join(MODES))
    allow_none: bool = setting(False, doc="also offer the unsecured None endpoint")
    anonymous: str = setting("observer", choices=ANONYMOUS,
                             doc="what an anonymous session may do (off: not allowed)")
    allow_insecure: bool = setting(False, doc="accept a None endpoint or anonymous operators "
                                   "on a non-loopback address")
    pki_dir: str = setting(DEFAULT_PKI_DIR, doc="own/ certificate (created on first start), "
                           "trusted/ client certificates, rejected/ refused ones")
    users_file: str = setting(DEFAULT_USERS_FILE, doc="users and salted password hashes "
                              "(`tank-twin user add`); a missing file means no users")
    max_sessions: int = setting(100, ge=1, le=100_000, doc="concurrent sessions")
    max_subscriptions_per_session: int = setting(20, ge=1, le=10_000,
                                                 doc="subscriptions one session may hold")
    max_monitored_items_per_subscription: int = setting(
        50_000, ge=1, le=10_000_000, doc="monitored items one subscription may hold")
    max_queue_size: int = setting(100, ge=1, le=100_000, doc="largest monitored-item queue")
    min_sampling_interval: float = setting(0.05, ge=0.001, le=3600, unit="s",
                                           doc="fastest sampling a client can ask for")
    min_publishing_interval: float = setting(0.05, ge=0.001, le=3600, unit="s",
                                             doc="fastest publishing a client can ask for")

    @property
    def endpoint(self) -> str:
        """The configured endpoint URL (the bound one may differ when port is 0)."""
        return f"opc.tcp://{_url_host(self.host)}:{self.port}{self.endpoint_path}"

    @property
    def on_loopback(self) -> bool:
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: assume it is reachable from elsewhere


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def finish_opcua(config: OpcUaConfig, tanks: Sequence[TankEntry], src: str) -> OpcUaConfig:
    """Checks the loader cannot express: list items, reserved names, the exposure rule.

    Returns the section with its lists as tuples (a frozen config holds no lists).
    """
    for tank in tanks:
        if config.enabled and tank.name in RESERVED_NAMES:
            raise ConfigError(src, f"{tank.path}.name",
                              f"{tank.name!r} is taken by the OPC UA address space "
                              f"(reserved: {', '.join(RESERVED_NAMES)})")
    policies = _names(config.security_policies, POLICIES, "opcua.security_policies", src)
    modes = _names(config.security_modes, MODES, "opcua.security_modes", src)
    if not (policies and modes) and not config.allow_none:
        raise ConfigError(src, "opcua.security_policies",
                          "no endpoint left: name a policy and a mode, or allow_none = true")
    config = dataclasses.replace(config, security_policies=policies, security_modes=modes)
    if config.enabled and not config.on_loopback and not config.allow_insecure:
        _check_exposure(config, src)
    return config


def _names(value: Any, allowed: tuple[str, ...], where: str, src: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(src, where, f"expected an array of strings, got {value!r}")
    for item in value:
        if item not in allowed:
            raise ConfigError(src, where, f"unknown {item!r} (known: {', '.join(allowed)})")
    if len(set(value)) != len(value):
        raise ConfigError(src, where, "lists a name twice")
    return tuple(value)


def _check_exposure(config: OpcUaConfig, src: str) -> None:
    exposed = f"the server listens on {config.host}, not on loopback"
    fix = "or set opcua.allow_insecure = true"
    if config.allow_none:
        raise ConfigError(src, "opcua.allow_none",
                          f"{exposed}: a None endpoint would expose it unsecured; "
                          f"set allow_none = false {fix}")
    if config.anonymous == "operator":
        raise ConfigError(src, "opcua.anonymous",
                          f"{exposed}: anonymous sessions must be 'off' or 'observer' "
                          f"(read-only) {fix}")
