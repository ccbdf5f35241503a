"""deploy/compose.yaml without a container engine: its shape (services, restart policies,
who waits for whom, secrets, the load balancer's upstreams), and its database roles replayed
on a new PostgreSQL: deploy/postgres/roles.sql run as the primary's init script runs it,
`thidua db migrate` as the owner, then the app as its own login role, which is no
superuser, which row-level security binds, and which still sees every cluster's progress
through the owner's functions."""

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pgserver
import pytest
import yaml

from api_client import free_port, serving
from thidua.config import Settings
from thidua.ledger.note import generate_key
from thidua.store import EventStore

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
THIDUA = str(Path(sys.executable).with_name("thidua"))
APPS = ["app-1", "app-2"]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def test_the_services_of_a_deployment() -> None:
    assert set(services()) == {"db-primary", "db-replica", "migrate", *APPS, "lb"}


def test_every_service_comes_back_after_a_failure() -> None:
    for name, service in services().items():
        expected = "on-failure" if name == "migrate" else "unless-stopped"
        assert service.get("restart") == expected, name


def test_the_order_of_starting() -> None:
    s = services()
    assert s["migrate"]["depends_on"] == {"db-primary": {"condition": "service_healthy"}}
    for app in APPS:
        assert s[app]["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
        assert "/readyz" in " ".join(s[app]["healthcheck"]["test"])
    assert s["lb"]["depends_on"] == {app: {"condition": "service_healthy"} for app in APPS}
    assert s["db-replica"]["depends_on"] == {"db-primary": {"condition": "service_healthy"}}


def test_the_load_balancer_sends_to_both_instances_and_upgrades_websockets() -> None:
    nginx = (DEPLOY / "nginx.conf").read_text()
    upstreams = re.findall(r"^\s*server (\S+):8000\b", nginx, re.MULTILINE)
    assert sorted(upstreams) == APPS
    assert "proxy_set_header Upgrade $http_upgrade;" in nginx
    assert "proxy_set_header Connection $connection_upgrade;" in nginx
    assert re.search(r"location = /metrics \{\s*return 404;", nginx)  # scraped per instance
    (mount,) = services()["lb"]["volumes"]
    assert mount == "./nginx.conf:/etc/nginx/nginx.conf:ro"


def test_the_replica_streams_from_the_primary() -> None:
    replica = services()["db-replica"]
    script = (DEPLOY / "postgres" / "replica-entrypoint.sh").read_text()
    assert replica["entrypoint"] == ["/thidua-postgres/replica-entrypoint.sh"]
    assert "pg_basebackup --host db-primary --username replicator" in script
    assert "--write-recovery-conf" in script  # -R: standby.signal and primary_conninfo
    hba = (DEPLOY / "postgres" / "init-primary.sh").read_text()
    assert "host replication replicator all scram-sha-256" in hba


def test_mounted_files_and_secrets_exist_or_are_made() -> None:
    declared = compose()["secrets"]
    made = (DEPLOY / "make-secrets.sh").read_text()
    for name, secret in declared.items():
        assert secret == {"file": f"./secrets/{name}"}
        assert re.search(rf"\b{name}\b", made), f"make-secrets.sh does not make {name}"
    for name, service in services().items():
        assert set(service.get("secrets", [])) <= set(declared), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), (name, source)


class Recorded(dict[str, str]):
    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)


@pytest.mark.parametrize("name", ["migrate", *APPS])
def test_the_app_runs_in_production_as_its_own_role(name: str, tmp_path: Path) -> None:
    """Its environment, with sample secret files, is a production configuration the
    settings accept and read whole; the app's URL names thidua_web, the migration's the
    owner."""
    service = services()[name]
    made = (DEPLOY / "make-secrets.sh").read_text()
    env = {}
    for key, value in service["environment"].items():
        value = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(value))  # compose's defaults
        if value.startswith("/run/secrets/"):
            secret = value.removeprefix("/run/secrets/")
            assert secret in service["secrets"], (name, secret)
            (tmp_path / secret).write_text("x" * 48)
            url = re.search(rf"keep {secret} echo \"(postgresql://[^:]+):", made)
            if url:
                (tmp_path / secret).write_text(f"{url.group(1)}:pw@db-primary:5432/thidua")
            value = str(tmp_path / secret)
        env[key] = value
    recorded = Recorded(env)
    settings = Settings.from_env(recorded)
    assert settings.production
    assert set(env) <= recorded.asked, set(env) - recorded.asked
    role = "thidua_owner" if name == "migrate" else "thidua_web"
    assert settings.database_url == f"postgresql://{role}:pw@db-primary:5432/thidua"


# --- the roles, on a new PostgreSQL -------------------------------------------------


@pytest.fixture(scope="module")
async def primary(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A new embedded server (roles are server-wide: none of the suite's), with roles.sql
    run by its superuser the way init-primary.sh runs it; the DSN of the `thidua` database
    it makes, as the superuser."""
    data = tmp_path_factory.mktemp("primary")
    start = pgserver.get_server  # type: ignore[attr-defined]
    server = await asyncio.to_thread(start, data, cleanup_mode="stop")
    try:
        psql = Path(pgserver.__file__).parent / "pginstall" / "bin" / "psql"
        done = await asyncio.to_thread(
            subprocess.run,
            [
                str(psql), "-v", "ON_ERROR_STOP=1", "-v", "owner_password=o",
                "-v", "web_password=w", "-v", "replicator_password=r",
                "-f", str(DEPLOY / "postgres" / "roles.sql"), server.get_uri("postgres"),
            ],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        yield server.get_uri("thidua")
    finally:
        await asyncio.to_thread(server.cleanup)


def as_role(admin: str, role: str) -> str:
    return admin.replace("postgresql://postgres:@", f"postgresql://{role}@")


def thidua(*args: str, dsn: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("THIDUA_", "DATABASE_"))}
    return subprocess.run(
        [THIDUA, *args],
        env={**base, **env, "DATABASE_URL": dsn, "THIDUA_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_the_owner_migrates_and_the_app_role_serves_under_rls(
    primary: str, tmp_path: Path
) -> None:
    owner, web = as_role(primary, "thidua_owner"), as_role(primary, "thidua_web")
    migrated = await asyncio.to_thread(thidua, "db", "migrate", dsn=owner, tmp_path=tmp_path)
    assert migrated.returncode == 0, migrated.stderr

    status = await asyncio.to_thread(thidua, "db", "status", dsn=web, tmp_path=tmp_path)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "người dùng kết nối: thidua_web (không phải superuser" in status.stdout
    assert "vai trò ứng dụng thidua_app: không phải superuser" in status.stdout

    store = await EventStore.open(web)
    try:
        for code in ("cum-a", "cum-b"):
            await store.create_tenant(code, f"Cụm {code}")
    finally:
        await store.close()
    # The login itself, with no cluster set, sees no cluster's rows...
    conn = await asyncpg.connect(web)
    try:
        assert await conn.fetchval("SELECT count(*) FROM tenants") == 0
        assert not await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = 'thidua_web'")
    finally:
        await conn.close()
    # ...while the owner's functions that sweep every cluster still see both.
    listed = await asyncio.to_thread(thidua, "projections", "status", dsn=web, tmp_path=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "cum-a" in listed.stdout
    assert "cum-b" in listed.stdout
    async with serving(web) as api:
        ready = await api.http.get("/readyz")
        assert ready.status_code == 200, ready.text


async def test_production_serves_as_the_app_role_and_not_as_the_owner(
    primary: str, tmp_path: Path
) -> None:
    owner, web = as_role(primary, "thidua_owner"), as_role(primary, "thidua_web")
    migrated = await asyncio.to_thread(thidua, "db", "migrate", dsn=owner, tmp_path=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    env = {
        "THIDUA_ENV": "production",
        "THIDUA_JWT_SECRET": "s" * 40,
        "THIDUA_LOG_KEY": generate_key("thidua.example.vn")[0],
        "THIDUA_LOG_ORIGIN": "thidua.example.vn",
    }
    refused = await asyncio.to_thread(
        thidua, "serve", "--port", "0", dsn=owner, tmp_path=tmp_path, **env
    )
    assert refused.returncode == 2
    assert refused.stderr.startswith("thidua: [UNSAFE_DATABASE_ROLE] ")
    assert "'thidua_owner'" in refused.stderr

    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("THIDUA_", "DATABASE_"))}
    server = await asyncio.create_subprocess_exec(
        THIDUA, "serve", "--port", str(port),
        env={**base, **env, "DATABASE_URL": web, "THIDUA_DATA_DIR": str(tmp_path)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            status = None
            for _ in range(600):  # until it listens, or it stopped
                if server.returncode is not None:
                    break
                try:
                    status = (await http.get("/readyz")).status_code
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            assert status == 200, status
            anonymous = await http.get("/graphql", params={"query": "{ __typename }"})
            assert anonymous.status_code == 401
    finally:
        if server.returncode is None:
            server.terminate()
        await server.wait()
