"""OPC UA logins: named users by password (from the users file), anonymous by configuration."""

from __future__ import annotations

from typing import Any

import structlog
from asyncua.crypto.permission_rules import UserRole
from asyncua.server.user_managers import UserManager

from twin.opcua.services import TwinUser
from twin.opcua.user_file import UserRecord, verify_password
from twin.tags import Role

log = structlog.get_logger(__name__)

ANONYMOUS_ROLES = {"observer": Role.OBSERVER, "operator": Role.OPERATOR}


class TwinUserManager(UserManager):
    """asyncua's login hook: named users by password, anonymous by configuration."""

    def __init__(self, users: dict[str, UserRecord], anonymous: str) -> None:
        self._users = users
        self._anonymous = ANONYMOUS_ROLES.get(anonymous)  # None: anonymous is off

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> TwinUser | None:
        if username is None:  # anonymous (X.509 user tokens are not offered)
            if self._anonymous is None:
                return None
            return TwinUser(role=UserRole.User, name="anonymous", twin_role=self._anonymous)
        record = self._users.get(username)
        if record is None or not verify_password(password or "", record.password_hash):
            log.warning("opcua_login_refused", user=username)
            return None
        log.info("opcua_login", user=username, role=record.role.name)
        return TwinUser(role=UserRole.User, name=username, twin_role=record.role)
