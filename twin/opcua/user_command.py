"""``tank-twin user add NAME --role ROLE``: add or replace an OPC UA user.

The password is asked for twice on a terminal, or read from the first line of
standard input with ``--password-stdin`` (for scripts). Kept apart from
:mod:`twin.opcua.users` so the command line does not import asyncua.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from twin.errors import ConfigError
from twin.opcua.user_file import add_user
from twin.tags import Role

EXIT_OK, EXIT_USAGE = 0, 2
MIN_PASSWORD = 8


def add_user_command(users_file: str, name: str, role: str, password_stdin: bool) -> int:
    path = Path(users_file).expanduser()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"password for {name}: ")
        if getpass.getpass("again: ") != password:
            print("tank-twin: the passwords differ", file=sys.stderr)
            return EXIT_USAGE
    if len(password) < MIN_PASSWORD:
        print(f"tank-twin: a password needs at least {MIN_PASSWORD} characters", file=sys.stderr)
        return EXIT_USAGE
    try:
        add_user(path, name, Role[role.upper()], password)
    except ConfigError as exc:
        print(f"tank-twin: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{path}: {name} ({role})")
    return EXIT_OK
