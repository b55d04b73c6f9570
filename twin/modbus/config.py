"""The ``[modbus]`` section of a plant file: listeners, register layout, encodings, writes.

A configuration object only (kept apart from the server that uses it). Rules
that need the tank count (the 247-unit limit of the per-unit layout, the
65,536-address limit of the block layout) are checked by
:meth:`ModbusConfig.plant_problems`, called once when the plant file is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

from twin.config_schema import setting

LOOPBACK = "127.0.0.1"
LAYOUTS = ("auto", "per_unit", "block")
WORD_ORDERS = ("ABCD", "CDAB")
ROLES = ("operator", "engineer")
UNKNOWN_UNIT_ANSWERS = ("exception", "ignore")
PARITIES = ("even", "odd", "none")
MAX_UNIT_ID = 255


@dataclass(frozen=True, slots=True)
class ModbusConfig:
    """Modbus TCP server (and the optional Modbus/TCP Security and RTU listeners)."""

    enabled: bool = setting(True, doc="serve Modbus TCP")
    host: str = setting(LOOPBACK, doc="bind address (Modbus TCP has no authentication)")
    port: int = setting(5020, ge=0, le=65535, doc="TCP port (502 needs root; 0 = any free port)")
    layout: str = setting(
        "auto", choices=LAYOUTS,
        doc="per_unit: one unit id per tank; block: tanks at a fixed stride in one unit id; "
        "auto: per_unit up to 247 tanks, else block",
    )
    unit_id: int = setting(1, ge=1, le=247, doc="unit id of the first tank (or first block)")
    tanks_per_unit: int = setting(
        0, ge=0, le=65_536,
        doc="block layout: tanks per unit id, further tanks on the next unit ids "
        "(0 = as many as fit in 65,536 addresses)",
    )
    simulation_unit_id: int = setting(
        255, ge=1, le=MAX_UNIT_ID, doc="unit id of the simulation's registers (sim_time...)"
    )
    word_order: str = setting(
        "ABCD", choices=WORD_ORDERS, doc="float32/uint64 word order: ABCD high word first, CDAB low"
    )
    int16_mirror: bool = setting(True, doc="add a scaled INT16 register for every analog value")
    role: str = setting(
        "operator", choices=ROLES, doc="role of every Modbus client (operator: setpoint, mode...)"
    )
    read_only: bool = setting(False, doc="refuse every write (exception 01)")
    unknown_unit: str = setting(
        "exception", choices=UNKNOWN_UNIT_ANSWERS,
        doc="a request for an unknown unit id: exception 0B, or no answer (ignore)",
    )
    max_connections: int = setting(
        32, ge=1, le=10_000, doc="concurrent TCP clients; more are closed"
    )
    idle_timeout: float = setting(
        300.0, ge=0, le=86_400, unit="s", doc="close a connection silent this long (0 = never)"
    )
    tls: bool = setting(False, doc="also serve Modbus/TCP Security (TLS, client certificates)")
    tls_host: str = setting(LOOPBACK, doc="bind address of the TLS listener")
    tls_port: int = setting(802, ge=0, le=65535, doc="TLS port (802 needs root; 0 = any free port)")
    tls_certificate: str = setting("", doc="server certificate chain (PEM file)")
    tls_private_key: str = setting("", doc="server private key (PEM file)")
    tls_client_ca: str = setting("", doc="CA (PEM) that client certificates must chain to")
    rtu: bool = setting(False, doc="also serve Modbus RTU on a serial device")
    rtu_device: str = setting("", doc="serial device, e.g. /dev/ttyUSB0")
    rtu_baudrate: int = setting(19200, ge=1200, le=921_600, unit="bit/s", doc="serial speed")
    rtu_parity: str = setting("even", choices=PARITIES, doc="serial parity (RTU default: even)")
    rtu_stopbits: int = setting(1, ge=1, le=2, doc="stop bits")

    def plant_problems(self, tank_count: int) -> list[tuple[str, str]]:
        """(field, reason) for every rule that involves the plant's tanks."""
        from twin.modbus.register_map import layout_problems

        if not (self.enabled or self.tls or self.rtu):
            return []
        problems = layout_problems(self, tank_count)
        if self.tls and not (self.tls_certificate and self.tls_private_key and self.tls_client_ca):
            problems.append(
                ("tls", "needs tls_certificate, tls_private_key and tls_client_ca")
            )
        if self.rtu and not self.rtu_device:
            problems.append(("rtu_device", "needed when rtu = true"))
        return problems

    @property
    def exposed(self) -> bool:
        """True when a listener binds beyond the loopback interface."""
        hosts = ([self.host] if self.enabled else []) + ([self.tls_host] if self.tls else [])
        return any(not _loopback(h) for h in hosts)


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")
