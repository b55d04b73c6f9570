"""The OPC UA server of one twin: an async context manager the composition root enters.

Start-up, in order: users and PKI (the certificate is created on first start),
asyncua's server with our internal server below it, endpoints and identity
tokens, our NodeSet (types), one instance per tank and the Simulation object,
reads bound to the engine, then the plug-ins (history, alarms), the socket,
and finally the per-scan sampler on the engine. Stop runs it backwards.

Plug-ins are attached in :meth:`OpcUaServer._attach_plugins`, after the address
space exists and before clients can connect, and stopped before it closes:

- history: :class:`twin.opcua.history.OpcUaHistory` (``[history]``), given the
  server, the engine and how to find a tag's NodeId;
- alarms: :class:`twin.opcua.alarms.OpcUaAlarms`, given the server, the tank
  objects, the Plant folder, the engine and who is calling.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path

import structlog
from asyncua import ua
from asyncua.server.internal_session import InternalSession
from asyncua.server.server import Server
from prometheus_client import CollectorRegistry

import twin
from twin.config import PlantConfig
from twin.engine import Engine, EngineObserver
from twin.error_report import ErrorReporter
from twin.metrics import HistoryMetrics, OpcUaMetrics
from twin.opcua.address_space import NodeMap, attach_reads, build_instances, load_nodeset
from twin.opcua.alarms import OpcUaAlarms
from twin.opcua.config import OpcUaConfig
from twin.opcua.history import OpcUaHistory
from twin.opcua.methods import MethodHandler
from twin.opcua.security import ClientTrust, Pki
from twin.opcua.services import Context, TwinInternalServer
from twin.opcua.subscriptions import Sampler
from twin.opcua.ua_values import AttributeIds
from twin.opcua.user_file import load_users
from twin.opcua.users import TwinUserManager
from twin.opcua.values import data_value, python_value
from twin.opcua.writes import WriteHandler
from twin.tags import TagTable

log = structlog.get_logger(__name__)

PRODUCT_URI = "urn:tank-twin"
BUILD_DATE = datetime(2026, 12, 1, tzinfo=UTC)  # BuildInfo.BuildDate: of this release
_POLICY_TYPES = {
    ("Basic256Sha256", "Sign"): ua.SecurityPolicyType.Basic256Sha256_Sign,
    ("Basic256Sha256", "SignAndEncrypt"): ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
    ("Aes128_Sha256_RsaOaep", "Sign"): ua.SecurityPolicyType.Aes128Sha256RsaOaep_Sign,
    ("Aes128_Sha256_RsaOaep", "SignAndEncrypt"):
        ua.SecurityPolicyType.Aes128Sha256RsaOaep_SignAndEncrypt,
    ("Aes256_Sha256_RsaPss", "Sign"): ua.SecurityPolicyType.Aes256Sha256RsaPss_Sign,
    ("Aes256_Sha256_RsaPss", "SignAndEncrypt"):
        ua.SecurityPolicyType.Aes256Sha256RsaPss_SignAndEncrypt,
}


class OpcUaServer:
    def __init__(self, config: PlantConfig, engine: Engine, tags: TagTable,
                 registry: CollectorRegistry, errors: ErrorReporter,
                 observer: EngineObserver) -> None:
        self._plant = config
        self.config: OpcUaConfig = config.opcua
        self._engine = engine
        self._tags = tags
        self._metrics = OpcUaMetrics(registry)
        self._history_metrics = HistoryMetrics(registry) if config.history.enabled else None
        self._errors = errors
        self._observer = observer
        self._server: Server | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self.nodes: NodeMap | None = None
        self.endpoint = self.config.endpoint

    @property
    def server(self) -> Server:
        assert self._server is not None, "not started"
        return self._server

    async def __aenter__(self) -> OpcUaServer:
        stack = contextlib.AsyncExitStack()
        try:
            await self._start(stack)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await stack.aclose()
            log.info("opcua_stopped", endpoint=self.endpoint)

    async def _start(self, stack: contextlib.AsyncExitStack) -> None:
        cfg = self.config
        users = load_users(Path(cfg.users_file).expanduser())
        pki = Pki(Path(cfg.pki_dir).expanduser())
        await asyncio.to_thread(pki.ensure, cfg.application_uri, cfg.server_name, cfg.host)
        sampler = Sampler(lambda: self._engine.snapshot, self._plant.simulation.scan_period)
        iserver = TwinInternalServer(cfg, sampler, self._metrics.notifications.inc,
                                     TwinUserManager(users, cfg.anonymous))
        server = self._server = Server(iserver=iserver)
        await server.init()
        stack.push_async_callback(self._stop_server, server)
        await self._configure(server, pki)
        nodes = self.nodes = await self._build(server, iserver)
        await self._attach_plugins(stack, server, iserver, nodes)
        await server.start()
        iserver.signed_channel = self._signed_channel
        self.endpoint = self._bound_endpoint(server)
        stack.callback(self._engine.subscribe(sampler.on_snapshot))
        self._metrics.watch(lambda: len(iserver.sessions),
                            lambda: len(iserver.subscriptions.subscriptions),
                            iserver.subscriptions.count_items)
        self._log_started(len(users))

    async def _configure(self, server: Server, pki: Pki) -> None:
        cfg = self.config
        await server.set_application_uri(cfg.application_uri)
        server.set_server_name(cfg.server_name)
        server.product_uri = PRODUCT_URI
        server.manufacturer_name = "tank-twin"
        await server.set_build_info(PRODUCT_URI, "tank-twin", cfg.server_name, twin.__version__,
                                    twin.__version__, BUILD_DATE)
        server.set_endpoint(cfg.endpoint)
        await server.load_certificate(str(pki.certificate))
        await server.load_private_key(str(pki.private_key))
        policies = [_POLICY_TYPES[(p, m)] for p in cfg.security_policies
                    for m in cfg.security_modes]
        if cfg.allow_none:
            policies.insert(0, ua.SecurityPolicyType.NoSecurity)
        server.set_security_policy(policies)
        tokens: list[type] = [ua.UserNameIdentityToken]
        if cfg.anonymous != "off":
            tokens.insert(0, ua.AnonymousIdentityToken)
        server.set_identity_tokens(tokens)
        server.set_certificate_validator(ClientTrust(pki))

    async def _build(self, server: Server, iserver: TwinInternalServer) -> NodeMap:
        ns = await load_nodeset(server)
        # In a worker thread: a large plant takes seconds, and the engine is already
        # scanning. Safe: nothing else touches the address space before start().
        nodes = await asyncio.to_thread(build_instances, server, ns, self._plant, self._tags)
        attach_reads(server, nodes, self._read)
        writes = WriteHandler(self._engine, nodes, self._errors, self._observer,
                              self._metrics.wrote)
        methods = MethodHandler(self._engine, nodes, self._errors, self._observer,
                                self._metrics.called)
        iserver.context = Context(nodes, writes, methods)
        return nodes

    async def _attach_plugins(self, stack: contextlib.AsyncExitStack, server: Server,
                              iserver: TwinInternalServer, nodes: NodeMap) -> None:
        """History and alarms: after the address space, before the socket opens."""
        if self._plant.history.enabled:
            history = OpcUaHistory(server, self._engine, self._plant.history, nodes.node_id,
                                   observer=self._history_metrics)
            await stack.enter_async_context(history)
        if "alarm.state" in {tag.source for tag in self._tags.tank}:
            alarms = OpcUaAlarms(server, self._engine, [t.node for t in nodes.tanks],
                                 nodes.plant, iserver.current_source,
                                 level_nodes=[t.variables["level"] for t in nodes.tanks],
                                 observer=self._observer)
            await stack.enter_async_context(alarms)

    def _read(self, node: ua.NodeId, attr: AttributeIds) -> ua.DataValue:
        """A tag variable's Value: the engine's current value (a queued write's, else the
        latest scan's), stamped with that scan's time."""
        assert self.nodes is not None
        point = self.nodes.points[node]
        value = self._engine.current(point.tag, point.tank)
        wall = self._engine.snapshot.wall_time
        return data_value(python_value(point.tag, value), point.vtype, wall, wall)

    def _signed_channel(self, session: InternalSession) -> bool:
        """Whether the channel carrying ``session`` signs its messages."""
        for connection in self.server.bserver.clients if self.server.bserver else ():
            processor = connection.processor
            if processor is not None and processor.session is session:
                mode = processor._connection.security_policy.Mode
                return bool(mode != ua.MessageSecurityMode.None_)
        return True  # not found: treat it as secure, so the certificate is checked

    def _bound_endpoint(self, server: Server) -> str:
        """The endpoint URL with the bound port (the configured one may be 0)."""
        assert server.bserver is not None
        url = self.config.endpoint.rsplit(":", 1)[0] + f":{server.bserver.port}"
        url += self.config.endpoint_path
        for endpoint in server.iserver.endpoints:
            endpoint.EndpointUrl = url
            endpoint.Server.DiscoveryUrls = [url]
        server.set_endpoint(url)
        return url

    @staticmethod
    async def _stop_server(server: Server) -> None:
        task = server.iserver.time_task  # its loop sleeps 1 s between ticks: do not wait
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            server.iserver.time_task = None
        await server.stop()

    def _log_started(self, users: int) -> None:
        cfg = self.config
        log.info("opcua_listening", endpoint=self.endpoint, policies=list(cfg.security_policies),
                 modes=list(cfg.security_modes), none_endpoint=cfg.allow_none,
                 anonymous=cfg.anonymous, users=users, pki=str(Path(cfg.pki_dir).expanduser()))
        if cfg.anonymous == "operator":
            log.warning("opcua_anonymous_operator", endpoint=self.endpoint,
                        detail="anonymous sessions may act as Operator (demo setting): they "
                               "can change setpoints, modes, valves and inlet flows")
        if cfg.allow_none:
            log.warning("opcua_none_endpoint", endpoint=self.endpoint,
                        detail="the None endpoint neither signs nor encrypts")
