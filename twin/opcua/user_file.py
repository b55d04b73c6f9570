"""The OPC UA users file: names, roles and salted password hashes.

One user per line, ``name:role:hash``; ``#`` starts a comment. The hash is
scrypt (RFC 7914) with a random 16-byte salt, stored as
``scrypt$<log2 N>$<r>$<p>$<salt b64>$<key b64>``, so its cost can rise later
without invalidating old entries. ``tank-twin user add NAME --role ROLE`` writes
the file (mode 0600); the server reads it at start.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from twin.errors import ConfigError
from twin.tags import Role

NAME_PATTERN = r"[A-Za-z0-9_.@-]{1,64}"
LOG2_N, BLOCK_SIZE, PARALLELISM = 14, 8, 1  # scrypt cost: 16 MiB, ~50 ms per check
SALT_BYTES, KEY_BYTES = 16, 32


@dataclass(frozen=True, slots=True)
class UserRecord:
    name: str
    role: Role
    password_hash: str

    def line(self) -> str:
        return f"{self.name}:{self.role.name.lower()}:{self.password_hash}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, log2_n: int = LOG2_N) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2**log2_n, r=BLOCK_SIZE,
                         p=PARALLELISM, dklen=KEY_BYTES)
    return f"scrypt${log2_n}${BLOCK_SIZE}${PARALLELISM}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, log2_n, r, p, salt, key = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key)
        actual = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt),
                                n=2 ** int(log2_n), r=int(r), p=int(p), dklen=len(expected),
                                maxmem=2**26)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def load_users(path: Path) -> dict[str, UserRecord]:
    """The users in ``path``; no file means no users. Problems are ConfigErrors."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), "", f"cannot read the users file ({exc})") from None
    users: dict[str, UserRecord] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        record = _parse(line, f"line {number}", str(path))
        users[record.name] = record
    return users


def _parse(line: str, where: str, src: str) -> UserRecord:
    parts = line.split(":", 2)
    if len(parts) != 3:
        raise ConfigError(src, where, "expected name:role:hash")
    name, role, password_hash = parts
    if not re.fullmatch(NAME_PATTERN, name):
        raise ConfigError(src, where, f"bad user name {name!r} (must match {NAME_PATTERN})")
    if role.upper() not in Role.__members__:
        raise ConfigError(src, where, f"unknown role {role!r} (observer, operator, engineer)")
    if not password_hash.startswith("scrypt$"):
        raise ConfigError(src, where, "the hash is not an scrypt hash")
    return UserRecord(name, Role[role.upper()], password_hash)


def add_user(path: Path, name: str, role: Role, password: str) -> None:
    """Add (or replace) a user; the file is rewritten atomically and kept private."""
    if not re.fullmatch(NAME_PATTERN, name):
        raise ConfigError(str(path), "name", f"must match {NAME_PATTERN}, got {name!r}")
    users = load_users(path)
    users[name] = UserRecord(name, role, hash_password(password))
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "# tank-twin OPC UA users: name:role:scrypt hash\n"
    text += "".join(record.line() + "\n" for record in users.values())
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".users-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
