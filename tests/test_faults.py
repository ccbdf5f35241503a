"""Faults an operator meets, on a PostgreSQL this module starts, stops and restarts itself,
with real `thidua serve` processes: restarts (fast and immediate) under write load, a
server started while the database is down, an outage seen by clients, an instance killed
under live subscriptions, a rebuild killed and one cut off, and a backup restored.

It runs once (its own server, whatever DATABASE_URL says): the embedded server cannot be
restarted under a test."""

import asyncio
import contextlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, aconnect_ws

from api_client import SECRET, free_port, token
from thidua.db.pool import create_app_pool
from thidua.demo import CITY_BOARD, CITY_CRITERIA, TEMPLATE, ensure_template
from thidua.domain.commands import AdoptCriteria, MemberGiven, OpenYear, SelfScore
from thidua.domain.rights import Actor, Role
from thidua.ledger.note import generate_key
from thidua.projections.runtime import Projector
from thidua.service.emulation import Emulation
from thidua.service.envelope import Envelope
from thidua.store import EventStore

SCORE = (
    "mutation ($year: Int!, $code: String!, $points: Decimal!, $key: String!) {"
    ' selfScore(input: {year: $year, unit: "dv-2", criterion: $code, points: $points,'
    ' explanation: "Tự chấm", evidence: ["Báo cáo"]}, options: {idempotencyKey: $key})'
    " { positions } }"
)
AUDIT = "subscription ($after: Int) { auditEvents(afterPosition: $after) { position } }"
RETRYABLE = {"DATABASE_UNAVAILABLE", "DATABASE_BUSY"}
WAIT = 60.0  # seconds before a test gives up waiting for what must happen


def _binaries() -> Path:
    """PostgreSQL's programs: the ones pgserver ships (the embedded server's own)."""
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


class Postgres:
    """A PostgreSQL of this module's own, in a temporary folder, on a free port."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.bin = _binaries()
        # initdb refuses to run as root; pgserver's own user runs it then.
        self.user = "pgserver" if os.geteuid() == 0 else None

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def run(self, program: str, *args: str) -> str:
        done = subprocess.run(
            [str(self.bin / program), *args],
            user=self.user,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"{program}: {done.stdout}{done.stderr}"
        return done.stdout

    def init(self) -> None:
        self.root.chmod(0o755)
        if self.user:  # as pgserver prepares it: the user, and binaries it may run
            from pgserver.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            ensure_user_exists(self.user)
            ensure_prefix_permissions(self.bin)
            ensure_folder_permissions(self.bin.parent, stat.S_IRGRP | stat.S_IROTH)
            ensure_folder_permissions(self.bin, stat.S_IXGRP | stat.S_IXOTH)
            shutil.chown(self.root, self.user)
        self.run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
        self.start()

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
            " -c max_connections=60"
        )
        log = str(self.root / "postgres.log")
        self.run("pg_ctl", "start", "-w", "-D", str(self.data), "-l", log, "-o", options)

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "stop", "-w", "-D", str(self.data), "-m", mode)

    def restart(self, mode: str, down: float = 0.0) -> None:
        self.stop(mode)
        time.sleep(down)
        self.start()


@dataclass
class Server:
    """`thidua serve` as a process, its log in a file."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Setting:
    pg: Postgres
    dsn: str
    data_dir: Path
    cluster: str
    year: int
    officer: str
    auditor: str
    servers: list[Server] = field(default_factory=list)
    # Given, not made by the first process: instances started at once would race to make it.
    log_key: str = field(default_factory=lambda: generate_key("thidua.localhost")[0])

    def env(self, dsn: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("THIDUA_")}
        env |= {
            "DATABASE_URL": dsn or self.dsn,
            "THIDUA_DATA_DIR": str(self.data_dir),
            "THIDUA_JWT_SECRET": SECRET,
            "THIDUA_LOG_KEY": self.log_key,
        }
        return env

    def cli(self, *args: str, dsn: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "thidua", *args],
            env=self.env(dsn),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def popen(self, *args: str, log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "thidua", *args],
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def serve(self) -> Server:
        port = free_port()
        log = self.data_dir / f"serve-{port}.log"
        server = Server(
            self.popen("serve", "--port", str(port), log=log), f"http://127.0.0.1:{port}", log
        )
        self.servers.append(server)
        return server


@pytest.fixture(scope="module")
async def setting() -> AsyncIterator[Setting]:
    root = Path(tempfile.mkdtemp(prefix="thidua-faults-"))
    pg = Postgres(root)
    try:
        pg.init()
        admin = await asyncpg.connect(pg.dsn())
        await admin.execute("CREATE DATABASE thidua")
        await admin.close()
        dsn = pg.dsn("thidua")
        data_dir = root / "app"
        data_dir.mkdir()
        setting = Setting(pg, dsn, data_dir, f"cum-loi-{uuid.uuid4().hex[:6]}", 0, "", "")
        migrated = setting.cli("db", "migrate")
        assert migrated.returncode == 0, migrated.stderr
        setting.year = await _open_cluster(dsn, setting.cluster)
        setting.officer = token(dsn, "can.bo", [setting.cluster], Role.MEMBER_OFFICER, "dv-2")
        setting.auditor = token(dsn, "kiem.toan", [setting.cluster], Role.AUDITOR)
        yield setting
    finally:
        for server in pg_servers(locals()):
            server.stop()
        with contextlib.suppress(AssertionError):
            pg.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def pg_servers(scope: dict[str, Any]) -> list[Server]:
    found = scope.get("setting")
    return found.servers if isinstance(found, Setting) else []


async def _open_cluster(dsn: str, cluster: str) -> int:
    """A cluster with this (real) year open and its criteria adopted; returns the year."""
    store = await EventStore.open(dsn)
    try:
        Projector(store).attach()
        service = Emulation(store)
        year = service.today().year
        await ensure_template(service)
        await store.create_tenant(cluster, "Cụm thử lỗi")
        members = tuple(MemberGiven(u, f"Đơn vị {u}", date(year, 1, 1)) for u in ("dv-1", "dv-2"))
        await service.handle(
            Envelope(cluster, CITY_BOARD.caller()), OpenYear(year, members, "dv-1")
        )
        secretariat = Envelope(cluster, Actor("Văn phòng", Role.SECRETARIAT, "dv-1").caller())
        adopted = AdoptCriteria(year, TEMPLATE, CITY_CRITERIA.version, CITY_CRITERIA)
        await service.handle(secretariat, adopted)
    finally:
        await store.close()
    return year


@pytest.fixture
def servers(setting: Setting) -> Iterator[None]:
    """Whatever a test starts is stopped after it."""
    yield
    for server in setting.servers:
        server.stop()
    setting.servers.clear()


async def ready(server: Server, want: str = "ready") -> dict[str, Any]:
    """Readiness as the load balancer reads it, once it says `want`."""
    deadline = time.monotonic() + WAIT
    async with httpx.AsyncClient(timeout=5) as http:
        while time.monotonic() < deadline:
            assert server.process.poll() is None, server.text()
            with contextlib.suppress(httpx.TransportError):
                answer = await http.get(f"{server.url}/readyz")
                body: dict[str, Any] = answer.json()  # always JSON
                if body["status"] == want:
                    return body
            await asyncio.sleep(0.1)
    raise AssertionError(f"{server.url} never said {want}:\n{server.text()}")


@dataclass
class Load:
    """Writers that send self-scores, each retried with its key until acknowledged, as a
    client told `retryable` does; what every answer was."""

    setting: Setting
    urls: list[str]
    acknowledged: dict[str, tuple[int, ...]] = field(default_factory=dict)
    outages: list[tuple[int, dict[str, Any], str | None]] = field(default_factory=list)
    wrong: list[Any] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    prefix: str = field(default_factory=lambda: f"w{uuid.uuid4().hex[:6]}-")  # this load's keys

    async def writer(self, n: int) -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            for i in range(10**6):
                if self.stop.is_set():
                    return
                await self.write(http, f"{self.prefix}{n}-{i}", i)

    async def write(self, http: httpx.AsyncClient, key: str, i: int) -> None:
        variables = {
            "year": self.setting.year,
            "code": ["A1", "A2", "A3"][i % 3],
            "points": str(i % 5),
            "key": key,
        }
        headers = {"authorization": f"Bearer {self.setting.officer}"}
        for attempt in range(10**6):
            url = self.urls[attempt % len(self.urls)]  # a killed instance: the next one
            try:
                answer = await http.post(
                    f"{url}/clusters/{self.setting.cluster}/graphql",
                    json={"query": SCORE, "variables": variables},
                    headers=headers,
                )
            except httpx.TransportError:
                await asyncio.sleep(0.1)
                continue
            body = answer.json()
            if answer.status_code == 200 and "errors" not in body:
                self.acknowledged[key] = tuple(body["data"]["selfScore"]["positions"])
                return
            if answer.status_code == 503:
                self.outages.append((answer.status_code, body, answer.headers.get("retry-after")))
                await asyncio.sleep(0.2)
                continue
            self.wrong.append((answer.status_code, body))
            return

    @contextlib.asynccontextmanager
    async def running(self, writers: int = 3) -> AsyncIterator["Load"]:
        tasks = [asyncio.create_task(self.writer(n)) for n in range(writers)]
        try:
            yield self
        finally:
            self.stop.set()
            await asyncio.gather(*tasks)


def _socket(
    url: str, http: httpx.AsyncClient
) -> contextlib.AbstractAsyncContextManager[AsyncWebSocketSession]:
    return aconnect_ws(url, http, subprotocols=["graphql-transport-ws"])


@dataclass
class Subscriber:
    """auditEvents over graphql-transport-ws; when an instance dies or the subscription
    ends with a retryable error, it subscribes again on the next one, after the last
    position it saw."""

    setting: Setting
    urls: list[str]
    after: int
    seen: list[int] = field(default_factory=list)
    errors: list[Any] = field(default_factory=list)
    resumed: int = 0

    async def run(self) -> None:
        for attempt in range(10**6):
            url = self.urls[attempt % len(self.urls)].replace("http", "ws")
            try:
                async with (
                    httpx.AsyncClient() as http,
                    _socket(f"{url}/clusters/{self.setting.cluster}/graphql", http) as ws,
                ):
                    await self.follow(ws)
            except Exception as exc:  # the instance died, the socket broke: the next one
                self.errors.append(exc)
            self.resumed += 1
            await asyncio.sleep(0.2)

    async def follow(self, ws: AsyncWebSocketSession) -> None:
        init = {"authorization": f"Bearer {self.setting.auditor}"}
        await ws.send_json({"type": "connection_init", "payload": init})
        assert (await ws.receive_json(timeout=30))["type"] == "connection_ack"
        last = self.seen[-1] if self.seen else self.after
        payload = {"query": AUDIT, "variables": {"after": last}}
        await ws.send_json({"id": "1", "type": "subscribe", "payload": payload})
        while True:
            message = await ws.receive_json(timeout=3600)
            if message["type"] == "next" and "errors" not in message["payload"]:
                self.seen.append(message["payload"]["data"]["auditEvents"]["position"])
                continue
            self.errors.append(message)  # an error: subscribe again
            return

    async def until(self, head: int) -> None:
        deadline = time.monotonic() + WAIT
        while (not self.seen or self.seen[-1] < head) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def head_of(setting: Setting, dsn: str | None = None) -> int:
    conn = await asyncpg.connect(dsn or setting.dsn)
    try:
        found: int = await conn.fetchval(
            "SELECT position FROM event_log_heads WHERE tenant_id = $1", setting.cluster
        )
        return found
    finally:
        await conn.close()


async def check_nothing_lost_or_doubled(setting: Setting, load: Load) -> None:
    assert load.wrong == [], "\n".join(s.text()[-6000:] for s in setting.servers)
    positions = [p for found in load.acknowledged.values() for p in found]
    assert len(positions) == len(set(positions)), "a position acknowledged twice"
    conn = await asyncpg.connect(setting.dsn)
    try:
        keys = await conn.fetch(
            "SELECT key, positions FROM idempotency_keys WHERE tenant_id = $1"
            " AND starts_with(key, $2)",
            setting.cluster,
            load.prefix,
        )
        recorded = {r["key"]: tuple(r["positions"]) for r in keys}
        # Every acknowledged write is there once, as acknowledged; none recorded unasked.
        assert {k: recorded.get(k) for k in load.acknowledged} == load.acknowledged
        assert set(recorded) == set(load.acknowledged)
        events = await conn.fetchval(
            "SELECT count(*) FROM events WHERE tenant_id = $1 AND position = ANY($2::bigint[])",
            setting.cluster,
            positions,
        )
        assert events == len(positions)
    finally:
        await conn.close()
    verified = setting.cli("audit", "verify", "--cluster", setting.cluster)
    assert verified.returncode == 0, verified.stdout + verified.stderr


async def test_a_server_started_while_the_database_is_down_serves_once_it_is_up(
    setting: Setting, servers: None
) -> None:
    setting.pg.stop("fast")
    server = setting.serve()
    try:
        down = await ready(server, "unavailable")
        assert down["code"] == "DATABASE_UNAVAILABLE"
        async with httpx.AsyncClient(timeout=30) as http:
            answer = await http.post(
                f"{server.url}/clusters/{setting.cluster}/graphql",
                json={"query": "{ cluster { name } }"},
                headers={"authorization": f"Bearer {setting.auditor}"},
            )
        assert answer.status_code == 503
        assert int(answer.headers["retry-after"]) > 0
        error = answer.json()["errors"][0]
        assert error["extensions"]["code"] == "DATABASE_UNAVAILABLE"
        assert error["extensions"]["retryable"] is True
        assert "thử lại" in error["message"]
    finally:
        setting.pg.start()
    await ready(server)
    # Written without inline projections (as a failed inline run leaves it): only the
    # server's runner brings the read models forward.
    store = await EventStore.open(setting.dsn)
    try:
        officer = Envelope(setting.cluster, Actor("Cán bộ", Role.MEMBER_OFFICER, "dv-2").caller())
        score = SelfScore(setting.year, "dv-2", "B1", Decimal("2"), "Ghi khi chưa chiếu", ("BC",))
        await Emulation(store).handle(officer, score)
        projector = Projector(store)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            lag = [p.lag for p in await projector.progress() if p.tenant == setting.cluster]
            if lag and max(lag) == 0:
                break
            await asyncio.sleep(0.1)
        assert lag, server.text()
        assert max(lag) == 0, server.text()
    finally:
        await store.close()
    assert "projection runner restarted" in server.text()


async def test_restarts_under_write_load_lose_nothing_and_listen_again(
    setting: Setting, servers: None
) -> None:
    writer, reader = setting.serve(), setting.serve()
    await ready(writer)
    assert (await ready(reader))["listening"] is True  # its runner listens from the start
    subscriber = Subscriber(setting, [reader.url], await head_of(setting))
    following = asyncio.create_task(subscriber.run())
    load = Load(setting, [writer.url])
    try:
        async with load.running():
            await asyncio.sleep(1)
            setting.pg.restart("fast")
            await asyncio.sleep(1)
            setting.pg.restart("immediate", down=2)
            await ready(writer)
            await asyncio.sleep(1)
        await check_nothing_lost_or_doubled(setting, load)
        # Subscribers of the other instance saw every event, each once, in order.
        head = await head_of(setting)
        await subscriber.until(head)
        assert subscriber.seen == list(range(subscriber.after + 1, head + 1))
        # The reader listens again by itself, and says so.
        assert (await ready(reader))["listening"] is True
        assert "LISTEN re-established" in reader.text()
        # Its subscriber hears a write made through the writer after the restarts.
        async with httpx.AsyncClient(timeout=30) as http:
            await load.write(http, f"{load.prefix}after", 1)
        await subscriber.until(await head_of(setting))
        assert subscriber.seen[-1] == await head_of(setting)
    finally:
        following.cancel()
    logged = writer.text() + reader.text()
    assert "Traceback" not in logged, logged[logged.index("Traceback") - 3000 :][:8000]


async def test_outage_answers_503_with_a_retryable_code(setting: Setting, servers: None) -> None:
    server = setting.serve()
    await ready(server)
    setting.pg.stop("immediate")
    try:
        down = await ready(server, "unavailable")
        assert down["code"] == "DATABASE_UNAVAILABLE"
        load = Load(setting, [server.url])
        async with httpx.AsyncClient(timeout=30) as http:
            answer = await http.post(
                f"{server.url}/clusters/{setting.cluster}/graphql",
                json={
                    "query": SCORE,
                    "variables": {
                        "year": setting.year,
                        "code": "A1",
                        "points": "1",
                        "key": "w-outage",
                    },
                },
                headers={"authorization": f"Bearer {setting.officer}"},
            )
            assert answer.status_code == 503
            assert answer.headers["retry-after"].isdigit()
            (error,) = answer.json()["errors"]
            assert error["extensions"]["code"] in RETRYABLE
            assert error["extensions"]["retryable"] is True
            # A subscription begun now is told the same, as a GraphQL error.
            ws_url = server.url.replace("http", "ws")
            async with _socket(f"{ws_url}/clusters/{setting.cluster}/graphql", http) as ws:
                init = {"authorization": f"Bearer {setting.auditor}"}
                await ws.send_json({"type": "connection_init", "payload": init})
                assert (await ws.receive_json(timeout=30))["type"] == "connection_ack"
                payload = {"query": AUDIT, "variables": {"after": 0}}
                await ws.send_json({"id": "1", "type": "subscribe", "payload": payload})
                message = await ws.receive_json(timeout=30)
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "DATABASE_UNAVAILABLE", message
        assert errors[0]["extensions"]["retryable"] is True
    finally:
        setting.pg.start()
    await ready(server)
    # The same request, sent again, is recorded once.
    async with httpx.AsyncClient(timeout=30) as http:
        await load.write(http, f"{load.prefix}outage", 0)
    assert load.wrong == []
    assert f"{load.prefix}outage" in load.acknowledged
    assert "INTERNAL_ERROR" not in server.text()


async def test_subscribers_of_a_killed_instance_resume_on_another(
    setting: Setting, servers: None
) -> None:
    doomed, survivor = setting.serve(), setting.serve()
    await ready(doomed)
    await ready(survivor)
    after = await head_of(setting)
    subscribers = [Subscriber(setting, [doomed.url, survivor.url], after) for _ in range(2)]
    following = [asyncio.create_task(s.run()) for s in subscribers]
    load = Load(setting, [survivor.url])
    try:
        async with load.running(2):
            while not all(s.seen for s in subscribers):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            doomed.kill()
            await asyncio.sleep(1.5)
        head = await head_of(setting)
        for subscriber in subscribers:
            await subscriber.until(head)
            assert subscriber.resumed >= 1
            assert subscriber.seen == list(range(after + 1, head + 1))
    finally:
        for task in following:
            task.cancel()
    await check_nothing_lost_or_doubled(setting, load)


async def _marks(setting: Setting, cluster: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(setting.dsn)
    try:
        return await conn.fetch(
            "SELECT projection, generation, building FROM projection_checkpoints"
            " WHERE tenant_id = $1 AND building IS NOT NULL",
            cluster,
        )
    finally:
        await conn.close()


async def _unserved(setting: Setting, cluster: str, dsn: str | None = None) -> int:
    """Rows of the cluster's read models in a generation its checkpoint does not serve."""
    conn = await asyncpg.connect(dsn or setting.dsn)
    try:
        found: int = await conn.fetchval(
            "SELECT (SELECT count(*) FROM audit_history a JOIN projection_checkpoints c"
            "  ON c.tenant_id = a.tenant_id AND c.projection = 'audit_history'"
            "  WHERE a.tenant_id = $1 AND a.generation <> c.generation)"
            " + (SELECT count(*) FROM score_entries s JOIN projection_checkpoints c"
            "  ON c.tenant_id = s.tenant_id AND c.projection = 'standings'"
            "  WHERE s.tenant_id = $1 AND s.generation <> c.generation)",
            cluster,
        )
        return found
    finally:
        await conn.close()


async def _begun(setting: Setting, cluster: str, rebuild: subprocess.Popen[bytes]) -> None:
    """Once the rebuild has marked the generation it builds."""
    deadline = time.monotonic() + WAIT
    while not await _marks(setting, cluster):
        assert rebuild.poll() is None, "the rebuild ended before it could be interrupted"
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


async def test_a_killed_or_cut_off_rebuild_is_reported_and_cleaned(
    setting: Setting, servers: None
) -> None:
    from bench.fill import fill_year

    big = f"cum-lon-{uuid.uuid4().hex[:6]}"
    store = await EventStore.open(setting.dsn)  # a few batches' worth, projected by the rebuild
    try:
        await fill_year(store, big, 6_000)
    finally:
        await store.close()
    log = setting.data_dir / "rebuild.log"
    rebuild = ["projections", "rebuild", "--cluster", big]

    # Killed: what it began is reported, and a server's start cleans it.
    killed = setting.popen(*rebuild, log=log)
    await _begun(setting, big, killed)
    killed.kill()
    killed.wait(30)
    status = setting.cli("projections", "status", "--cluster", big)
    assert status.returncode == 0, status.stderr
    assert "còn sót lại từ một lần dựng lại bị ngắt" in status.stdout
    server = setting.serve()
    await ready(server)
    deadline = time.monotonic() + WAIT
    while await _marks(setting, big) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    assert await _marks(setting, big) == []
    assert await _unserved(setting, big) == 0
    assert "left by an interrupted rebuild" in server.text()
    server.stop()

    # Cut off by a restart of the database: one line, exit 2.
    cut = setting.popen(*rebuild, log=log)
    await _begun(setting, big, cut)
    setting.pg.restart("immediate")
    cut.wait(60)
    said = log.read_text().split("thidua: ", 1)[-1]
    assert cut.returncode == 2, log.read_text()
    assert said.startswith("[REBUILD_INTERRUPTED]")
    assert said.strip().count("\n") == 0
    assert "Traceback" not in log.read_text()

    # Run again: it cleans what was left and succeeds.
    again = setting.cli(*rebuild)
    assert again.returncode == 0, again.stderr
    assert await _marks(setting, big) == []
    assert await _unserved(setting, big) == 0
    status = setting.cli("projections", "status", "--cluster", big)
    assert "còn sót lại" not in status.stdout


STANDINGS = (
    "SELECT to_jsonb(s) - 'generation' AS row FROM standings s JOIN projection_checkpoints c"
    " ON c.tenant_id = s.tenant_id AND c.projection = 'standings' AND c.generation = s.generation"
    " WHERE s.tenant_id = $1 ORDER BY s.year, s.layer, s.unit"
)


async def test_backup_and_restore_drill(setting: Setting) -> None:
    """pg_dump, restored into a new database: the chain verifies, the read models rebuild
    from the log, and the standings are those the original served."""
    dump = setting.pg.root / "thidua.dump"
    setting.pg.run("pg_dump", "--format=custom", f"--file={dump}", setting.dsn)
    admin = await asyncpg.connect(setting.pg.dsn())
    await admin.execute("DROP DATABASE IF EXISTS restored")
    await admin.execute("CREATE DATABASE restored")
    await admin.close()
    restored = setting.pg.dsn("restored")
    setting.pg.run("pg_restore", "--exit-on-error", f"--dbname={restored}", str(dump))
    verified = setting.cli("audit", "verify", "--cluster", setting.cluster, dsn=restored)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    rebuilt = setting.cli("projections", "rebuild", dsn=restored)
    assert rebuilt.returncode == 0, rebuilt.stderr
    original, copy = await asyncpg.connect(setting.dsn), await asyncpg.connect(restored)
    try:
        served = [r["row"] for r in await original.fetch(STANDINGS, setting.cluster)]
        assert served
        assert [r["row"] for r in await copy.fetch(STANDINGS, setting.cluster)] == served
    finally:
        await original.close()
        await copy.close()


async def test_a_full_database_is_busy_not_down(setting: Setting, servers: None) -> None:
    """Every connection slot taken (other instances, a runaway job): the instance says
    `busy` and stays in rotation, its requests are 503 DATABASE_BUSY to retry, and it
    serves again as soon as a slot frees."""
    hogs: list[asyncpg.Connection] = []
    try:
        with contextlib.suppress(asyncpg.TooManyConnectionsError):
            while len(hogs) < 200:
                hogs.append(await asyncpg.connect(setting.dsn))
        server = setting.serve()
        busy = await ready(server, "busy")
        assert busy["code"] == "DATABASE_BUSY"
        async with httpx.AsyncClient(timeout=30) as http:
            answer = await http.post(
                f"{server.url}/clusters/{setting.cluster}/graphql",
                json={"query": "{ cluster { name } }"},
                headers={"authorization": f"Bearer {setting.auditor}"},
            )
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "1"
        (error,) = answer.json()["errors"]
        assert error["extensions"]["code"] == "DATABASE_BUSY"
        assert error["extensions"]["retryable"] is True
        status = setting.cli("projections", "status")
        assert status.returncode == 2
        assert status.stderr.strip().count("\n") == 0
        assert "[DATABASE_BUSY]" in status.stderr
    finally:
        for hog in hogs:
            await hog.close()
    await ready(server)


async def test_a_pool_gives_idle_connections_back(setting: Setting) -> None:
    """After a burst, connections idle longer than the pool's idle lifetime are closed:
    the slots go back to the server, which other instances share."""
    pool = await create_app_pool(setting.dsn, min_size=0, max_size=8, idle_lifetime=0.5)
    try:

        async def busy() -> None:
            async with pool.acquire() as conn:
                await conn.execute("SELECT pg_sleep(0.2)")

        await asyncio.gather(*(busy() for _ in range(8)))
        assert pool.get_size() == 8
        deadline = time.monotonic() + WAIT
        while pool.get_size() > 0 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        assert pool.get_size() == 0
    finally:
        await pool.close()
