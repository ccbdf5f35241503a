"""Queries read from a real streaming replica, within the bound the caller sets.

The test makes the pair itself from PostgreSQL's own binaries (Debian's, else the
embedded server's): a primary with wal_level=replica, a replica cloned from it with
`pg_basebackup -R`, each on its own port. Pausing the replica's replay
(`pg_wal_replay_pause()`) shows which copy answered: the replica's answer is the older one.
"""

import asyncio
import contextlib
import glob
import importlib.util
import logging
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, aconnect_ws

from api_client import Api, free_port, serving, token
from thidua.bootstrap import open_runtime
from thidua.config import ConfigurationError, ReplicaSettings, Settings
from thidua.db.migrate import migrate
from thidua.db.server import ensure_database
from thidua.demo import CITY_BOARD, CITY_CRITERIA, TEMPLATE, YEAR, ensure_template
from thidua.domain.commands import AdoptCriteria, MemberGiven, OpenYear
from thidua.domain.rights import Actor, Role
from thidua.service.emulation import Emulation
from thidua.service.envelope import Calendar, Envelope
from thidua.store.replicas import Replicas

DASHBOARD = """{ cluster { position year(year: 2025) {
  standings(layer: SELF) { unit total } } } }"""
WAIT = 60.0  # seconds a test waits for the replica before it fails


def binaries() -> Path | None:
    """A PostgreSQL bin folder with pg_basebackup: Debian's newest, else pgserver's."""
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[4]))
    found = [Path(p) for p in reversed(debian)]
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.origin is not None:
        found.append(Path(spec.origin).parent / "pginstall" / "bin")
    return next((p for p in found if (p / "pg_basebackup").exists()), None)


def system_user() -> str | None:
    """PostgreSQL refuses to run as root: then as `postgres` (or pgserver's own user)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "pgserver"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name).pw_name
    pytest.skip("running as root, and no system user to run PostgreSQL as")


@dataclass
class Pair:
    """A primary and its streaming replica, each started with pg_ctl."""

    bin: Path
    root: Path
    user: str | None
    ports: dict[str, int]

    def run(self, program: str, *args: str) -> None:
        subprocess.run(
            [str(self.bin / program), *args], user=self.user, check=True, capture_output=True
        )

    def start(self, name: str) -> None:
        data, log = self.root / name, self.root / f"{name}.log"
        self.run("pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", "60", "start")

    def stop(self, name: str) -> None:
        self.run("pg_ctl", "-D", str(self.root / name), "-m", "fast", "-w", "stop")

    def dsn(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.ports[name]}/thidua"


def make_pair(bin: Path, root: Path, user: str | None) -> Pair:
    pair = Pair(bin, root, user, {"primary": free_port(), "replica": free_port()})
    primary = root / "primary"
    pair.run("initdb", "-D", str(primary), "-U", "postgres", "-A", "trust", "-E", "UTF8",
             "--no-sync")  # fmt: skip
    settings = {
        "listen_addresses": "'127.0.0.1'",
        "port": str(pair.ports["primary"]),
        "unix_socket_directories": f"'{root}'",
        "wal_level": "replica",
        "max_wal_senders": "4",
        "fsync": "off",
        "shared_buffers": "32MB",
    }
    with (primary / "postgresql.conf").open("a") as conf:
        conf.writelines(f"{k} = {v}\n" for k, v in settings.items())
    with (primary / "pg_hba.conf").open("a") as hba:
        hba.write("host replication all 127.0.0.1/32 trust\n")
    pair.start("primary")
    host, port = "127.0.0.1", str(pair.ports["primary"])
    replica = root / "replica"
    pair.run("pg_basebackup", "-h", host, "-p", port, "-U", "postgres", "-D", str(replica),
             "-R", "-X", "stream", "--no-sync")  # fmt: skip
    with (replica / "postgresql.conf").open("a") as conf:
        conf.write(f"port = {pair.ports['replica']}\nhot_standby = on\n")
    pair.start("replica")
    return pair


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    found = binaries()
    if found is None:
        pytest.skip("no PostgreSQL binaries with pg_basebackup on this machine")
    user = system_user()
    root = Path(tempfile.mkdtemp(prefix="thidua-replica-"))
    if user is not None:
        shutil.chown(root, user)
    made: Pair | None = None
    try:
        made = make_pair(found, root, user)
        yield made
    finally:
        for name in ("replica", "primary"):
            if made is not None:
                with contextlib.suppress(subprocess.CalledProcessError):
                    made.stop(name)
        shutil.rmtree(root, ignore_errors=True)


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll until the check holds (the replica replays on its own time)."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"never: {what}"
        await asyncio.sleep(0.1)


async def on(dsn: str) -> asyncpg.Connection:
    return await asyncpg.connect(dsn.replace("/thidua", "/postgres"))


async def replayed(pair: Pair) -> None:
    """Until the replica has replayed everything the primary wrote so far."""
    primary, replica = await on(pair.dsn("primary")), await on(pair.dsn("replica"))
    try:
        written = await primary.fetchval("SELECT pg_current_wal_lsn()")

        async def reached() -> bool:
            found = await replica.fetchval(
                "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), $1::pg_lsn) >= 0", written
            )
            return bool(found)

        await eventually(reached, "the replica replays the primary")
    finally:
        await primary.close()
        await replica.close()


@contextlib.asynccontextmanager
async def paused(pair: Pair) -> AsyncIterator[None]:
    """The replica's replay paused (it still receives), resumed after the block."""
    await replayed(pair)
    replica = await on(pair.dsn("replica"))
    try:
        await replica.execute("SELECT pg_wal_replay_pause()")

        async def stopped() -> bool:
            state = await replica.fetchval("SELECT pg_get_wal_replay_pause_state()")
            return bool(state == "paused")

        await eventually(stopped, "replay pauses")
        yield
    finally:
        await replica.execute("SELECT pg_wal_replay_resume()")
        await replica.close()


@pytest.fixture(scope="module")
async def primary(pair: Pair) -> str:
    """The primary, migrated (the replica replays the migrations too)."""
    await ensure_database(pair.dsn("primary").replace("/thidua", "/postgres"), "thidua")
    await migrate(pair.dsn("primary"))
    await replayed(pair)
    return pair.dsn("primary")


CLOCK = datetime(YEAR, 11, 25, 2, tzinfo=UTC)


@contextlib.asynccontextmanager
async def app(
    pair: Pair, primary: str, max_lag: float, interval: float = 1.0
) -> AsyncIterator[tuple[Api, Replicas]]:
    """The app on the primary, its queries read from the replica when it may."""
    replicas = await Replicas.open([pair.dsn("replica")], max_lag, interval)
    try:
        async with serving(primary, Calendar(CLOCK), replicas) as api:
            yield api, replicas
    finally:
        await replicas.close()


async def year_opened(api: Api, cluster: str) -> None:
    """A cluster whose year 2025 is open, with the city's criteria adopted."""
    service = Emulation(api.store, api.clock)
    await ensure_template(service)
    await api.store.create_tenant(cluster, "Cụm thử bản sao")
    members = tuple(MemberGiven(u, f"Đơn vị {u}", date(YEAR, 1, 1)) for u in ("dv-1", "dv-2"))
    await service.handle(Envelope(cluster, CITY_BOARD.caller()), OpenYear(YEAR, members, "dv-1"))
    secretariat = Envelope(cluster, Actor("Văn phòng", Role.SECRETARIAT, "dv-1").caller())
    await service.handle(
        secretariat, AdoptCriteria(YEAR, TEMPLATE, CITY_CRITERIA.version, CITY_CRITERIA)
    )


async def self_score(api: Api, cluster: str, points: int) -> int:
    """dv-2's officer scores A1; the position the answer says it committed."""
    officer = token(api.dsn, "Cán bộ dv-2", [cluster], Role.MEMBER_OFFICER, "dv-2")
    mutation = (
        'mutation { selfScore(input: {year: 2025, unit: "dv-2", criterion: "A1",'
        f' points: "{points}", explanation: "Đạt", evidence: ["Báo cáo"]}}) {{ positions }} }}'
    )
    response = await api.http.post(
        f"/clusters/{cluster}/graphql",
        json={"query": mutation},
        headers={"authorization": f"Bearer {officer}"},
    )
    body = response.json()
    assert "errors" not in body, body
    committed: int = max(body["data"]["selfScore"]["positions"])
    assert int(response.headers["x-thidua-position"]) == committed
    assert body["extensions"]["position"] == committed
    return committed


@dataclass(frozen=True)
class Seen:
    position: int  # what the answer says it reflects
    log_position: int  # the cluster's `position` field in the same answer
    total: Decimal | None  # dv-2's self-assessed total


async def read(
    api: Api, cluster: str, role: Role, at_least: int | str | None = None
) -> httpx.Response:
    unit = "dv-2" if role is Role.MEMBER_OFFICER else None
    reader = token(api.dsn, "Người đọc", [cluster], role, unit)
    headers = {"authorization": f"Bearer {reader}"}
    if at_least is not None:
        headers["x-thidua-min-position"] = str(at_least)
    return await api.http.post(
        f"/clusters/{cluster}/graphql", json={"query": DASHBOARD}, headers=headers
    )


async def seen(api: Api, cluster: str, role: Role, at_least: int | None = None) -> Seen:
    response = await read(api, cluster, role, at_least)
    body: dict[str, Any] = response.json()
    assert response.status_code == 200, body
    assert "errors" not in body, body
    position = int(response.headers["x-thidua-position"])
    assert body["extensions"]["position"] == position
    rows = body["data"]["cluster"]["year"]["standings"]
    total = next((Decimal(r["total"]) for r in rows if r["unit"] == "dv-2"), None)
    return Seen(position, body["data"]["cluster"]["position"], total)


async def first_standings(api: Api, cluster: str) -> dict[str, Any]:
    """The first standings a dashboard's subscription receives."""
    board = token(api.dsn, "Màn hình", [cluster], Role.CITY_BOARD)
    url = f"{api.url.replace('http', 'ws')}/clusters/{cluster}/graphql"
    query = """subscription { standingsChanged(year: 2025, layer: SELF) {
      position standings { unit total } } }"""
    async with httpx.AsyncClient() as client:
        connecting: contextlib.AbstractAsyncContextManager[AsyncWebSocketSession]
        connecting = aconnect_ws(url, client, subprotocols=["graphql-transport-ws"])
        async with connecting as ws:
            init = {"type": "connection_init", "payload": {"authorization": f"Bearer {board}"}}
            await ws.send_json(init)
            assert (await ws.receive_json(timeout=10))["type"] == "connection_ack"
            await ws.send_json({"id": "s", "type": "subscribe", "payload": {"query": query}})
            message = await ws.receive_json(timeout=10)
    assert message["type"] == "next", message
    found: dict[str, Any] = message["payload"]["data"]["standingsChanged"]
    return found


async def test_a_dashboard_reads_the_replica_and_a_writer_its_own_write(
    pair: Pair, primary: str
) -> None:
    async with app(pair, primary, max_lag=3600) as (api, _):
        cluster = "cum-ban-sao"
        await year_opened(api, cluster)
        first = await self_score(api, cluster, 20)
        async with paused(pair):
            second = await self_score(api, cluster, 25)
            assert second > first

            # Without a position, the replica answers: the log as it stood when its
            # replay paused, and it says so.
            old = await seen(api, cluster, Role.CITY_BOARD)
            assert old == Seen(first, first, Decimal(20))

            # The writer sends back the position its mutation committed: the replica has
            # not reached it, so the primary answers, with the write.
            own = await seen(api, cluster, Role.MEMBER_OFFICER, at_least=second)
            assert own == Seen(second, second, Decimal(25))
            # So does anyone who asks for it; the replica's answer kept for its older
            # version is never given as this one.
            assert await seen(api, cluster, Role.CITY_BOARD, at_least=second) == own
            # A position the replica has reached: the replica may answer.
            assert (await seen(api, cluster, Role.CITY_BOARD, at_least=first)).position >= first

            # A subscription always reads the primary.
            live = await first_standings(api, cluster)
            assert live["position"] == second
            assert {r["unit"]: Decimal(r["total"]) for r in live["standings"]}["dv-2"] == 25

            refused = await read(api, cluster, Role.CITY_BOARD, at_least="-1")
            assert refused.status_code == 400
            assert refused.json()["errors"][0]["extensions"]["code"] == "BAD_INPUT"

        async def caught_up() -> bool:
            return (await seen(api, cluster, Role.CITY_BOARD)).position == second

        await eventually(caught_up, "the replica's answers catch up once replay resumes")


async def test_a_replica_too_far_behind_is_not_read(
    pair: Pair, primary: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "thidua.store.replicas")
    async with app(pair, primary, max_lag=1, interval=0.2) as (api, replicas):
        cluster = "cum-ban-sao-cham"
        await year_opened(api, cluster)
        async with paused(pair):
            written = await self_score(api, cluster, 30)

            async def fresh() -> bool:
                return (await seen(api, cluster, Role.CITY_BOARD)).position == written

            # Replay stays paused: a fresh answer can only come from the primary.
            await eventually(fresh, "the primary answers once the replica lags too far")
            assert replicas.serving() == []
        assert "behind" in caplog.text


async def test_a_replica_that_is_down_is_not_read_until_it_is_back(
    pair: Pair, primary: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "thidua.store.replicas")
    async with app(pair, primary, max_lag=3600, interval=0.2) as (api, replicas):
        cluster = "cum-ban-sao-nghi"
        await year_opened(api, cluster)
        await replayed(pair)
        pair.stop("replica")
        try:
            written = await self_score(api, cluster, 15)
            assert await seen(api, cluster, Role.CITY_BOARD) == Seen(written, written, Decimal(15))
            assert "unreachable" in caplog.text
        finally:
            pair.start("replica")

        async def serves() -> bool:
            return bool(replicas.serving())

        await eventually(serves, "the replica serves again once it is back")
        async with paused(pair):
            later = await self_score(api, cluster, 16)
            assert later > written
            # The older answer: the replica answers again.
            assert (await seen(api, cluster, Role.CITY_BOARD)).position == written


def test_replica_configuration() -> None:
    both = "postgresql://app@replica-1/thidua; postgresql://app@replica-2/thidua"
    found = ReplicaSettings.from_env({"THIDUA_REPLICA_URL": both, "THIDUA_REPLICA_MAX_LAG": "5"})
    assert found == ReplicaSettings(
        ("postgresql://app@replica-1/thidua", "postgresql://app@replica-2/thidua"), 5.0
    )
    assert ReplicaSettings.from_env({}) == ReplicaSettings((), 30.0)
    for env in (
        {"THIDUA_REPLICA_URL": "replica-1:5432"},
        {"THIDUA_REPLICA_MAX_LAG": "0"},
        {"THIDUA_REPLICA_MAX_LAG": "nan"},
        {"THIDUA_REPLICA_MAX_LAG": "ba mươi"},
    ):
        with pytest.raises(ConfigurationError):
            ReplicaSettings.from_env(env)


async def test_the_server_opens_the_configured_replicas(
    pair: Pair, primary: str, tmp_path: Path
) -> None:
    configured = Settings(
        primary,
        tmp_path,
        replicas=ReplicaSettings((pair.dsn("replica"),), max_lag=30),
    )
    async with open_runtime(configured, replicas=True) as runtime:
        assert runtime.replicas is not None
        assert [r.name for r in runtime.replicas.serving()] == [pair.dsn("replica")]
    async with open_runtime(configured) as runtime:  # commands other than serve
        assert runtime.replicas is None


async def test_a_replica_down_at_start_serves_nothing_and_its_password_is_never_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "thidua.store.replicas")
    url = f"postgresql://app:mat-khau@127.0.0.1:{free_port()}/thidua?password=mat-khau"
    replicas = await Replicas.open([url], max_lag=30)
    try:
        assert replicas.serving() == []
    finally:
        await replicas.close()
    assert "unreachable" in caplog.text
    assert "mat-khau" not in caplog.text
