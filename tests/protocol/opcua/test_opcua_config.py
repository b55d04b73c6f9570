"""The [opcua] section: the insecure-exposure refusal (check and run), lists, users CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from twin.config import default_plant, load_plant_file, parse_plant
from twin.errors import ConfigError
from twin.opcua.user_file import load_users, verify_password
from twin.tags import Role

EXE = [sys.executable, "-m", "twin.cli"]


def test_the_embedded_default_is_the_loopback_demo() -> None:
    cfg = default_plant().opcua
    assert cfg.host == "127.0.0.1" and cfg.allow_none and cfg.anonymous == "operator"
    assert cfg.security_policies == ("Basic256Sha256", "Aes128_Sha256_RsaOaep",
                                     "Aes256_Sha256_RsaPss")


def test_a_plant_file_is_secure_by_default() -> None:
    cfg = parse_plant({}, "p.toml").opcua
    assert not cfg.allow_none and cfg.anonymous == "observer" and not cfg.allow_insecure


@pytest.mark.parametrize(("opcua", "field"), [
    ({"host": "0.0.0.0", "allow_none": True}, "opcua.allow_none"),
    ({"host": "192.0.2.7", "anonymous": "operator"}, "opcua.anonymous"),
    ({"host": "plant.example", "allow_none": True, "anonymous": "off"}, "opcua.allow_none"),
])
def test_an_exposed_insecure_server_is_refused_naming_the_field(opcua: dict, field: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_plant({"opcua": opcua}, "p.toml")
    assert refused.value.field == field
    assert "allow_insecure" in refused.value.reason


@pytest.mark.parametrize("opcua", [
    {"host": "0.0.0.0"},  # secure endpoints only, anonymous read-only
    {"host": "0.0.0.0", "anonymous": "off"},
    {"host": "0.0.0.0", "allow_none": True, "anonymous": "operator", "allow_insecure": True},
    {"host": "localhost", "allow_none": True, "anonymous": "operator"},
    {"host": "::1", "allow_none": True, "anonymous": "operator"},
    {"host": "0.0.0.0", "allow_none": True, "enabled": False},
])
def test_secured_loopback_or_explicitly_insecure_servers_pass(opcua: dict) -> None:
    parse_plant({"opcua": opcua}, "p.toml")


@pytest.mark.parametrize(("opcua", "field"), [
    ({"security_policies": ["Basic128Rsa15"]}, "opcua.security_policies"),
    ({"security_modes": "Sign"}, "opcua.security_modes"),
    ({"security_policies": [], "allow_none": False}, "opcua.security_policies"),
    ({"anonymous": "admin"}, "opcua.anonymous"),
    ({"endpoint_path": "no-slash"}, "opcua.endpoint_path"),
])
def test_bad_settings_name_their_field(opcua: dict, field: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_plant({"opcua": opcua}, "p.toml")
    assert refused.value.field == field


def test_tank_names_of_the_address_space_are_reserved() -> None:
    with pytest.raises(ConfigError) as refused:
        parse_plant({"tanks": [{"name": "T1"}, {"name": "Plant"}]}, "p.toml")
    assert refused.value.field == "tanks[1].name"


def test_check_and_run_refuse_the_exposed_demo(tmp_path: Path) -> None:
    plant = tmp_path / "plant.toml"
    plant.write_text('[opcua]\nhost = "0.0.0.0"\nallow_none = true\n[[tanks]]\nname = "A"\n')
    for command in (["check", str(plant)], ["run", "--config", str(plant)]):
        result = subprocess.run([*EXE, *command], capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, result.stderr
        assert f"{plant}: opcua.allow_none: the server listens on 0.0.0.0" in result.stderr


def test_user_add_writes_a_salted_hash(tmp_path: Path) -> None:
    users = tmp_path / "conf" / "users"
    for password in ("first-secret", "second-secret"):  # the second replaces the first
        result = subprocess.run(
            [*EXE, "user", "add", "olga", "--role", "operator", "--users-file", str(users),
             "--password-stdin"], input=password + "\n", capture_output=True, text=True,
            timeout=60)
        assert result.returncode == 0, result.stderr
    result = subprocess.run([*EXE, "user", "add", "erik", "--role", "engineer", "--users-file",
                             str(users), "--password-stdin"], input="short\n",
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "at least 8" in result.stderr
    records = load_users(users)
    assert list(records) == ["olga"] and records["olga"].role is Role.OPERATOR
    assert verify_password("second-secret", records["olga"].password_hash)
    assert not verify_password("first-secret", records["olga"].password_hash)
    assert "second-secret" not in users.read_text()
    assert users.stat().st_mode & 0o077 == 0


def test_a_broken_users_file_is_a_config_error(tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.write_text("olga:admin:scrypt$14$8$1$AA==$AA==\n")
    with pytest.raises(ConfigError) as refused:
        load_users(users)
    assert refused.value.field == "line 1" and "unknown role" in refused.value.reason


def test_the_default_example_writes_out_the_embedded_demo() -> None:
    example = Path(__file__).resolve().parents[3] / "examples" / "default.toml"
    assert load_plant_file(example).opcua == default_plant().opcua
