"""asyncua's internal server and session, with our limits, roles and write path.

asyncua's roles are coarse (admin, user, anonymous) and its write path stores
what a client sends. Here every session carries its tank-twin role; a Write to
a tag variable and a Call of one of our methods never touch the address space:
they go to the engine's single command path with the session as the Source,
and the engine's verdict becomes the status code. Everything else (other
nodes, other methods) is left to asyncua.

Limits are per server instance (asyncua's own session counter is a class
attribute shared by every server in the process): sessions (BadTooManySessions
at CreateSession), subscriptions per session (BadTooManySubscriptions) and,
in :mod:`twin.opcua.subscriptions`, monitored items per subscription.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asyncua import ua
from asyncua.common.utils import ServiceError
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.internal_server import InternalServer
from asyncua.server.internal_session import InternalSession
from asyncua.server.user_managers import UserManager

from twin.commands import Source
from twin.opcua.standard_nodes import standard_nodes
from twin.opcua.subscriptions import TwinSubscriptionService
from twin.opcua.ua_values import StatusCodes
from twin.tags import Role

if TYPE_CHECKING:
    from twin.opcua.address_space import NodeMap
    from twin.opcua.config import OpcUaConfig
    from twin.opcua.methods import MethodHandler
    from twin.opcua.subscriptions import Sampler
    from twin.opcua.writes import WriteHandler

PROTOCOL = "opcua"


@dataclass
class TwinUser(User):
    """An asyncua user (role User: may read, write, call) with its tank-twin role."""

    twin_role: Role = Role.OBSERVER


@dataclass(frozen=True, slots=True)
class Context:
    """What sessions need once the address space exists."""

    nodes: NodeMap
    writes: WriteHandler
    methods: MethodHandler


class TwinInternalServer(InternalServer):
    def __init__(self, config: OpcUaConfig, sampler: Sampler, notified: Callable[[int], None],
                 user_manager: UserManager) -> None:
        super().__init__(user_manager)
        self.config = config
        self.sampler = sampler
        self.notified = notified
        self.context: Context | None = None
        self.caller: contextvars.ContextVar[Source] = contextvars.ContextVar("opcua_caller")
        # Whether a session's secure channel signs (set by the server once it listens).
        self.signed_channel: Callable[[InternalSession], bool] = lambda session: True
        self.sessions: set[TwinSession] = set()
        self.max_subscriptions = config.max_sessions * config.max_subscriptions_per_session
        self.max_monitored_item_queue_size = config.max_queue_size
        self.min_publishing_interval_ms = config.min_publishing_interval * 1000.0
        self.subscriptions = TwinSubscriptionService(self.aspace, self)
        self.subscription_service = self.isession.subscription_service = self.subscriptions

    async def load_standard_address_space(self, shelf_file: Path | None = None) -> None:
        """Namespace 0 copied from the process's template (asyncua would rebuild it)."""
        self.aspace._nodes = await asyncio.to_thread(standard_nodes)

    def create_session(self, name: str, user: User = User(role=UserRole.Anonymous),  # noqa: B008
                       external: bool = False) -> InternalSession:
        return TwinSession(self, self.aspace, self.subscriptions, name, user=user,
                           external=external)

    def current_source(self) -> Source:
        """The Source of the call being served (for method handlers asyncua runs)."""
        return self.caller.get()


class TwinSession(InternalSession):
    iserver: TwinInternalServer

    @property
    def source(self) -> Source:
        user = self.user
        peer = self.name if isinstance(self.name, str) else ":".join(map(str, self.name or ()))
        client = f"{peer}#{self.session_id.to_string()}"
        if isinstance(user, TwinUser):
            return Source(PROTOCOL, client, user.name or "anonymous", user.twin_role)
        return Source(PROTOCOL, client, "anonymous", Role.OBSERVER)

    async def create_session(self, params: ua.CreateSessionParameters,
                             sockname: tuple[str, int] | None = None) -> ua.CreateSessionResult:
        if len(self.iserver.sessions) >= self.iserver.config.max_sessions:
            raise ServiceError(StatusCodes.BadTooManySessions)
        if params.ClientCertificate and not self.iserver.signed_channel(self):
            # On a None channel nothing proves the client holds the certificate: the server
            # ignores it (Part 4, 5.6.2), so it is neither trusted nor rejected.
            params.ClientCertificate = None
        result = await super().create_session(params, sockname)
        self.iserver.sessions.add(self)
        return result

    async def close_session(self, delete_subs: bool = True) -> None:
        self.iserver.sessions.discard(self)
        await super().close_session(delete_subs)

    async def create_subscription(self, params: ua.CreateSubscriptionParameters,
                                  callback: Callable[..., Any],
                                  request_callback: Callable[..., Any] | None = None,
                                  ) -> ua.CreateSubscriptionResult:
        mine = sum(1 for sub in self.subscription_service.subscriptions.values()
                   if sub.session_id == self.session_id)
        if mine >= self.iserver.config.max_subscriptions_per_session:
            raise ServiceError(StatusCodes.BadTooManySubscriptions)
        return await super().create_subscription(params, callback, request_callback)

    async def write(self, params: ua.WriteParameters) -> list[ua.StatusCode]:
        context = self.iserver.context
        if context is None or not self.external:
            return await super().write(params)
        answers = context.writes.write(params.NodesToWrite, self.source)
        rest = [value for value, answer in zip(params.NodesToWrite, answers, strict=True)
                if answer is None]
        delegated = iter(await super().write(ua.WriteParameters(NodesToWrite=rest)) if rest
                         else [])
        return [answer if answer is not None else next(delegated) for answer in answers]

    async def call(self, params: list[ua.CallMethodRequest]) -> list[ua.CallMethodResult]:
        context = self.iserver.context
        if context is None or not self.external:
            return await super().call(params)
        source = self.source
        token = self.iserver.caller.set(source)
        try:
            results = []
            for request in params:
                answer = context.methods.call(request, source)
                results.append(answer if answer is not None else (await super().call([request]))[0])
            return results
        finally:
            self.iserver.caller.reset(token)
