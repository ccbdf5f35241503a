"""The operator's view of the `thidua` command: every expected failure is one line on stderr
and exit 2 (no traceback); `--version`; `db status` says whether the app can serve."""

import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from pathlib import Path

import pytest

from thidua.bootstrap import open_runtime
from thidua.config import Settings
from thidua.ledger.note import generate_key

THIDUA = str(Path(sys.executable).with_name("thidua"))
LONG_SECRET = "s" * 40
LOG_KEY = generate_key("thidua.example.vn")[0]


def thidua(*args: str, env: dict[str, str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    """The installed command, in an environment holding only what the test gives it."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("THIDUA_", "DATABASE_"))}
    return subprocess.run(
        [THIDUA, *args],
        env={**base, "THIDUA_DATA_DIR": str(data_dir), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def production(dsn: str, **changes: str) -> dict[str, str]:
    """A production environment that passes, changed as the test says."""
    env = {
        "THIDUA_ENV": "production",
        "DATABASE_URL": dsn,
        "THIDUA_JWT_SECRET": LONG_SECRET,
        "THIDUA_LOG_KEY": LOG_KEY,
        "THIDUA_LOG_ORIGIN": "thidua.example.vn",
    }
    return {**env, **changes}


def assert_one_line(result: subprocess.CompletedProcess[str], code: str, *words: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"thidua: [{code}] "), lines[0]
    for word in words:
        assert word in lines[0], lines[0]


# Where no server listens: the configuration is refused before anything connects.
NOWHERE = "postgresql://thidua@127.0.0.1:9/thidua"

# arguments, environment changes, code, words the line must hold
Failure = tuple[list[str], dict[str, str], str, list[str]]

FAILURES: dict[str, Failure] = {
    "unknown projection": (
        ["projections", "rebuild", "--projection", "nope"],
        {},
        "UNKNOWN_PROJECTION",
        ["'nope'", "standings"],
    ),
    "rebuild of an unknown cluster": (
        ["projections", "rebuild", "--cluster", "nope"],
        {},
        "UNKNOWN_CLUSTER",
        ["'nope'"],
    ),
    "status of an unknown cluster": (
        ["projections", "status", "--cluster", "nope"],
        {},
        "UNKNOWN_CLUSTER",
        ["'nope'"],
    ),
    "a checkpoint of an unknown cluster": (
        ["audit", "checkpoint", "--cluster", "nope"],
        {},
        "UNKNOWN_CLUSTER",
        ["'nope'"],
    ),
    "evidence of an unknown cluster": (
        ["audit", "export", "--cluster", "nope", "--out", "/nonexistent/e.jsonl"],
        {},
        "UNKNOWN_CLUSTER",
        ["'nope'"],
    ),
}

CONFIGURATION_FAILURES: dict[str, Failure] = {
    "no command": ([], {}, "BAD_ARGUMENT", ["command"]),
    "no rebuild workers": (
        ["projections", "rebuild", "--jobs", "0"],
        {},
        "BAD_ARGUMENT",
        ["--jobs", "'0'"],
    ),
    "a token already expired": (
        ["token", "--sub", "a", "--cluster", "x", "--role", "auditor", "--ttl", "-5"],
        {},
        "BAD_ARGUMENT",
        ["--ttl"],
    ),
    "a port out of range": (["serve", "--port", "99999"], {}, "BAD_ARGUMENT", ["--port"]),
    "a kept checkpoint that is not there": (
        ["audit", "export", "--cluster", "x", "--checkpoint", "/nonexistent/k", "--out", "e"],
        {},
        "BAD_ARGUMENT",
        ["/nonexistent/k"],
    ),
    "a log key that is not one": (
        ["audit", "key"],
        {"THIDUA_LOG_KEY": "not-a-key"},
        "BAD_CONFIGURATION",
        ["PRIVATE+KEY+"],
    ),
    "THIDUA_ENV=prod": (
        ["db", "status"],
        {"THIDUA_ENV": "prod"},
        "BAD_CONFIGURATION",
        ["THIDUA_ENV='prod'", "development", "production"],
    ),
    "an interval with a unit": (
        ["db", "status"],
        {"THIDUA_CHECKPOINT_INTERVAL": "5m"},
        "BAD_CONFIGURATION",
        ["THIDUA_CHECKPOINT_INTERVAL='5m'", "giây"],
    ),
    "a zero interval": (
        ["db", "status"],
        {"THIDUA_CHECKPOINT_INTERVAL": "0"},
        "BAD_CONFIGURATION",
        ["THIDUA_CHECKPOINT_INTERVAL"],
    ),
    "an infinite interval": (
        ["db", "status"],
        {"THIDUA_CHECKPOINT_INTERVAL": "inf"},
        "BAD_CONFIGURATION",
        ["THIDUA_CHECKPOINT_INTERVAL"],
    ),
    "a pool of no connections": (
        ["db", "status"],
        {"THIDUA_POOL_SIZE": "0"},
        "BAD_CONFIGURATION",
        ["THIDUA_POOL_SIZE='0'", "1", "1000"],
    ),
    "a pool size in words": (
        ["db", "status"],
        {"THIDUA_POOL_SIZE": "ten"},
        "BAD_CONFIGURATION",
        ["THIDUA_POOL_SIZE='ten'"],
    ),
    "introspection yes": (
        ["db", "status"],
        {"THIDUA_INTROSPECTION": "yes"},
        "BAD_CONFIGURATION",
        ["THIDUA_INTROSPECTION='yes'", "on", "off"],
    ),
    "a MySQL URL": (
        ["db", "status"],
        {"DATABASE_URL": "mysql://root@db/thidua"},
        "BAD_CONFIGURATION",
        ["DATABASE_URL"],
    ),
    "a port that is not a number": (
        ["db", "status"],
        {"DATABASE_URL": "postgresql://thidua@db:54x2/thidua"},
        "BAD_CONFIGURATION",
        ["DATABASE_URL"],
    ),
    "a JWKS URL that is not one": (
        ["db", "status"],
        {"THIDUA_JWKS_URL": "keys.example.vn/jwks.json"},
        "BAD_CONFIGURATION",
        ["THIDUA_JWKS_URL"],
    ),
    "a witness URL that is not one": (
        ["db", "status"],
        {"THIDUA_WITNESSES": "witness.example.vn KEY"},
        "BAD_CONFIGURATION",
        ["THIDUA_WITNESSES"],
    ),
    "a secret file that is not there": (
        ["db", "status"],
        {"THIDUA_JWT_SECRET_FILE": "/nonexistent/jwt-secret"},
        "BAD_CONFIGURATION",
        ["THIDUA_JWT_SECRET_FILE", "/nonexistent/jwt-secret"],
    ),
    "a database nobody listens for": (
        ["db", "status"],
        {},
        "DATABASE_UNAVAILABLE",
        ["127.0.0.1:9"],
    ),
}


@pytest.mark.parametrize("name", list(FAILURES))
def test_an_expected_failure_is_one_line_and_exit_2(name: str, dsn: str, tmp_path: Path) -> None:
    args, changes, code, words = FAILURES[name]
    result = thidua(*args, env={"DATABASE_URL": dsn, **changes}, data_dir=tmp_path)
    assert_one_line(result, code, *words)


@pytest.mark.parametrize("name", list(CONFIGURATION_FAILURES))
def test_a_configuration_failure_is_one_line_and_exit_2(name: str, tmp_path: Path) -> None:
    args, changes, code, words = CONFIGURATION_FAILURES[name]
    result = thidua(*args, env={"DATABASE_URL": NOWHERE, **changes}, data_dir=tmp_path)
    assert_one_line(result, code, *words)


PRODUCTION_REFUSALS: dict[str, tuple[dict[str, str], list[str]]] = {
    "the embedded server": ({"DATABASE_URL": ""}, ["DATABASE_URL"]),
    "no token keys": ({"THIDUA_JWT_SECRET": ""}, ["THIDUA_JWKS_URL"]),
    "a short secret": ({"THIDUA_JWT_SECRET": "change-me"}, ["32"]),
    "no log key": ({"THIDUA_LOG_KEY": ""}, ["THIDUA_LOG_KEY"]),
    "no log origin": ({"THIDUA_LOG_ORIGIN": ""}, ["THIDUA_LOG_ORIGIN"]),
}


@pytest.mark.parametrize("name", list(PRODUCTION_REFUSALS))
def test_production_refuses(name: str, tmp_path: Path) -> None:
    changes, words = PRODUCTION_REFUSALS[name]
    result = thidua("db", "status", env=production(NOWHERE, **changes), data_dir=tmp_path)
    assert_one_line(result, "BAD_CONFIGURATION", "production", *words)


def test_production_refuses_the_development_secret(tmp_path: Path) -> None:
    made = thidua(
        "token", "--sub", "a", "--cluster", "cum-xii", "--role", "auditor",
        env={}, data_dir=tmp_path,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    development = (tmp_path / "dev-token-secret").read_text().strip()
    assert len(development) >= 32  # refused for being the development one, not for length
    result = thidua(
        "db", "status", env=production(NOWHERE, THIDUA_JWT_SECRET=development), data_dir=tmp_path
    )
    assert_one_line(result, "BAD_CONFIGURATION", "THIDUA_JWT_SECRET")


def test_production_signs_no_development_token(tmp_path: Path) -> None:
    result = thidua(
        "token", "--sub", "a", "--cluster", "cum-xii", "--role", "auditor",
        env=production(NOWHERE), data_dir=tmp_path,
    )  # fmt: skip
    assert_one_line(result, "BAD_CONFIGURATION", "production")
    assert result.stdout == ""


def test_production_reads_its_secrets_from_files(dsn: str, tmp_path: Path) -> None:
    (tmp_path / "database-url").write_text(dsn + "\n")
    (tmp_path / "jwt-secret").write_text(LONG_SECRET + "\n")
    env = production(
        "",
        DATABASE_URL_FILE=str(tmp_path / "database-url"),
        THIDUA_JWT_SECRET="",
        THIDUA_JWT_SECRET_FILE=str(tmp_path / "jwt-secret"),
    )
    result = thidua("db", "status", env=env, data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert " 0 chờ áp dụng" in result.stdout


def test_version(tmp_path: Path) -> None:
    result = thidua("--version", env={}, data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"thidua {version('thidua')}"


async def test_db_status_tells_pending_from_ready(
    new_database: Callable[[], Awaitable[str]], dsn: str, tmp_path: Path
) -> None:
    fresh = await new_database()
    before = thidua("db", "status", env={"DATABASE_URL": fresh}, data_dir=tmp_path)
    assert before.returncode == 1, before.stderr
    assert "0 đã áp dụng" in before.stdout
    assert "chờ: 0001_tenants.sql" in before.stdout
    assert "chưa sẵn sàng" in before.stderr

    ready = thidua("db", "status", env={"DATABASE_URL": dsn}, data_dir=tmp_path)
    assert ready.returncode == 0, ready.stderr
    assert " 0 chờ áp dụng" in ready.stdout
    assert "vai trò ứng dụng thidua_app: không phải superuser" in ready.stdout
    assert "PostgreSQL 1" in ready.stdout


def test_production_serves_as_no_superuser(dsn: str, tmp_path: Path) -> None:
    """The suite's database user is a superuser: production will not serve as it."""
    result = thidua("serve", "--port", "0", env=production(dsn), data_dir=tmp_path)
    assert_one_line(result, "UNSAFE_DATABASE_ROLE", "thidua_app")


async def test_each_instance_holds_at_most_the_configured_connections(
    dsn: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": dsn, "THIDUA_DATA_DIR": str(tmp_path), "THIDUA_POOL_SIZE": "3"}
    async with open_runtime(Settings.from_env(env)) as runtime:
        assert runtime.store.pool_use()[2] == 3
