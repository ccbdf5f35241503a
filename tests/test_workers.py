"""`thidua serve --workers 2`: two processes on one port and one database. A writer that
sends back its mutation's position reads its write on whichever worker answers; other
readers see it once the log's notification reaches their worker; the parent stops every
worker, and replaces one that dies."""

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime
from decimal import Decimal

import asyncpg
import httpx
import psutil
import pytest

from api_client import SECRET, free_port, serving, token
from thidua.db.migrate import migrate
from thidua.demo import CITY_BOARD, CITY_CRITERIA, TEMPLATE, ensure_template
from thidua.domain.commands import AdoptCriteria, MemberGiven, OpenYear, SelfScore
from thidua.domain.rights import Actor, Role
from thidua.projections.runtime import Projector
from thidua.service.emulation import Emulation
from thidua.service.envelope import Calendar, Envelope
from thidua.store import EventStore
from thidua.store.notifier import CHANNEL

# A year whose self-assessment days are past whatever day the tests run: the scores
# say the day they were made (occurredOn) and why they are entered late.
YEAR = datetime.now(UTC).year - 1
DAY = date(YEAR, 11, 25)
CLUSTER = "cum-hai-tien-trinh"
STANDINGS = (
    f"{{ cluster {{ position year(year: {YEAR}) {{ standings(layer: SELF) {{ unit total }} }} }} }}"
)
ROUNDS = 20


class Server:
    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        self.process = process
        self.url = url

    def children(self) -> list[psutil.Process]:
        found: list[psutil.Process] = psutil.Process(self.process.pid).children()
        return found

    def workers(self) -> set[int]:
        """The live worker processes (multiprocessing also runs its resource tracker)."""
        return {p.pid for p in self.children() if is_worker(p)}


def is_worker(process: psutil.Process) -> bool:
    try:
        return "spawn_main" in " ".join(process.cmdline())
    except psutil.Error:  # a dead worker not yet reaped (a zombie), or gone
        return False


async def open_year(store: EventStore, cluster: str) -> None:
    """A cluster whose year is open, with the city's criteria adopted."""
    service = Emulation(store, Calendar(datetime(YEAR, 1, 5, 2, tzinfo=UTC)))
    await ensure_template(service)
    await store.create_tenant(cluster, "Cụm thử nhiều tiến trình")
    units = tuple(MemberGiven(u, f"Đơn vị {u}", date(YEAR, 1, 1)) for u in ("dv-1", "dv-2"))
    await service.handle(Envelope(cluster, CITY_BOARD.caller()), OpenYear(YEAR, units, "dv-1"))
    secretariat = Envelope(cluster, Actor("Văn phòng", Role.SECRETARIAT, "dv-1").caller())
    adopt = AdoptCriteria(YEAR, TEMPLATE, CITY_CRITERIA.version, CITY_CRITERIA)
    await service.handle(secretariat, adopt)


@pytest.fixture(scope="module")
async def database(new_database: Callable[[], Awaitable[str]]) -> str:
    dsn = await new_database()
    await migrate(dsn)
    store = await EventStore.open(dsn)
    try:
        await open_year(store, CLUSTER)
    finally:
        await store.close()
    return dsn


@pytest.fixture(scope="module")
async def two_workers(
    database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Server]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "THIDUA_JWT_SECRET": SECRET,
        "THIDUA_DATA_DIR": str(tmp_path_factory.mktemp("workers")),
    }
    command = [sys.executable, "-m", "thidua", "serve", "--workers", "2", "--port", str(port)]
    process = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    server = Server(process, f"http://127.0.0.1:{port}")
    try:
        await until(lambda: answering(server, "/readyz"), "the server answers")
        await until(lambda: both(server), "both workers answer")
        yield server
    finally:
        if process.returncode is None:
            for pid in server.workers():
                psutil.Process(pid).kill()
            process.kill()
            await process.communicate()


def fresh(server: Server) -> httpx.AsyncClient:
    """A client that opens a new connection for every request: any worker may accept it."""
    limits = httpx.Limits(max_keepalive_connections=0)
    return httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30)


async def answering(server: Server, path: str) -> bool:
    assert server.process.returncode is None, "the server exited"
    try:
        async with fresh(server) as http:
            return (await http.get(path)).status_code == 200
    except httpx.TransportError:
        return False


async def both(server: Server) -> bool:
    return len(await pids(server)) == 2


async def until(check: Callable[[], Awaitable[bool]], what: str, tries: int = 600) -> None:
    for _ in range(tries):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never: {what}")


async def pids(server: Server, requests: int = 40) -> set[int]:
    """The workers that answered `requests` liveness checks sent at once on new
    connections (one after another, the worker that accepted the last often takes all)."""
    async with fresh(server) as http:
        answers = await asyncio.gather(*(http.get("/healthz") for _ in range(requests)))
    return {a.json()["worker"] for a in answers if a.status_code == 200}


async def self_score(http: httpx.AsyncClient, points: int, cluster: str = CLUSTER) -> int:
    """dv-2 scores A1; the position its mutation committed, as the answer says it."""
    officer = token("", "Cán bộ dv-2", [cluster], Role.MEMBER_OFFICER, "dv-2")
    mutation = (
        f'mutation {{ selfScore(input: {{year: {YEAR}, unit: "dv-2", criterion: "A1",'
        f' points: "{points}", explanation: "Đạt", evidence: ["Báo cáo"],'
        f' occurredOn: "{DAY}"}}, options: {{reason: "Nhập lại hồ sơ giấy"}}) {{ positions }} }}'
    )
    response = await http.post(
        f"/clusters/{cluster}/graphql",
        json={"query": mutation},
        headers={"authorization": f"Bearer {officer}"},
    )
    body = response.json()
    assert "errors" not in body, body
    return int(response.headers["x-thidua-position"])


async def total(
    http: httpx.AsyncClient, at_least: int | None = None, cluster: str = CLUSTER
) -> tuple[int, Decimal]:
    """The position a dashboard's answer reflects, and dv-2's self-assessed total in it."""
    board = token("", "Màn hình", [cluster], Role.CITY_BOARD)
    headers = {"authorization": f"Bearer {board}"}
    if at_least is not None:
        headers["x-thidua-min-position"] = str(at_least)
    response = await http.post(
        f"/clusters/{cluster}/graphql", json={"query": STANDINGS}, headers=headers
    )
    body = response.json()
    assert response.status_code == 200, body
    assert "errors" not in body, body
    rows = body["data"]["cluster"]["year"]["standings"]
    found = next((Decimal(r["total"]) for r in rows if r["unit"] == "dv-2"), Decimal(0))
    return int(response.headers["x-thidua-position"]), found


async def test_two_workers_answer(two_workers: Server) -> None:
    answered: set[int] = set()

    async def both() -> bool:
        answered.update(await pids(two_workers))
        return len(answered) >= 2

    await until(both, "two workers answer")
    assert answered == two_workers.workers()
    assert two_workers.process.pid not in answered


async def test_a_writer_reads_its_write_on_any_worker(two_workers: Server) -> None:
    async with fresh(two_workers) as http:
        for round in range(ROUNDS):
            # Every worker keeps the answer as it stands, so a stale one is there to serve.
            for _ in range(4):
                await total(http)
            points = round % 2 + 10
            position = await self_score(http, points)
            seen, found = await total(http, at_least=position)
            assert seen >= position
            if found != points:
                again = [await total(http) for _ in range(10)]
                direct = [await total(http, at_least=position) for _ in range(10)]
                raise AssertionError(f"round {round} {position} {seen}: {found} {again} {direct}")


async def test_other_readers_see_the_write_once_told(two_workers: Server) -> None:
    async with fresh(two_workers) as http:
        position = await self_score(http, 17)

        async def everywhere() -> bool:
            # Ten reads in a row on new connections, whichever workers take them.
            for _ in range(10):
                seen, found = await total(http)
                if seen < position or found != 17:
                    return False
            return True

        await until(everywhere, "every worker's readers see the write")


async def test_a_killed_worker_is_replaced(two_workers: Server) -> None:
    before = two_workers.workers()
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    # The other worker keeps answering meanwhile.
    assert await answering(two_workers, "/healthz")

    async def replaced() -> bool:
        return len(two_workers.workers() - before) == 1 and len(await pids(two_workers, 20)) == 2

    await until(replaced, "a new worker answers in its place")
    assert victim not in await pids(two_workers)


async def test_sigterm_stops_every_process(two_workers: Server) -> None:
    assert len(two_workers.workers()) == 2
    children = two_workers.children()
    two_workers.process.send_signal(signal.SIGTERM)
    out, _ = await asyncio.wait_for(two_workers.process.communicate(), 60)
    output = out.decode()
    assert two_workers.process.returncode == 0, output
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"processes left running: {alive}"
    assert "Traceback" not in output, output


async def test_a_write_not_yet_told_is_read_with_its_position(dsn: str) -> None:
    """Another instance's write whose notification is still on its way: a read naming the
    write's position sees it at once; others get the answer kept until the news comes."""
    clock = Calendar(datetime(YEAR, 11, 25, 2, tzinfo=UTC))
    cluster = f"cum-chua-bao-{uuid.uuid4().hex[:6]}"
    # The other instance: a store that never notifies (open_replica's, on the primary).
    elsewhere = await EventStore.open_replica(dsn)
    Projector(elsewhere).attach()
    officer = Envelope(cluster, Actor("Cán bộ dv-2", Role.MEMBER_OFFICER, "dv-2").caller())

    async def score(points: int) -> int:
        command = SelfScore(YEAR, "dv-2", "A1", Decimal(points), "Đạt", ("Báo cáo",))
        return max((await Emulation(elsewhere, clock).handle(officer, command)).positions)

    try:
        async with serving(dsn, clock) as api:
            await open_year(elsewhere, cluster)  # no news of it reaches the server
            _, before = await total(api.http, cluster=cluster)
            position = await score(12)
            assert (await total(api.http, cluster=cluster))[1] == before  # kept, not told
            assert await total(api.http, position, cluster) == (position, Decimal(12))

            told_of = position
            position = await score(13)
            assert await total(api.http, cluster=cluster) == (told_of, Decimal(12))
            told = await asyncpg.connect(dsn)
            try:
                await told.execute("SELECT pg_notify($1, $2)", CHANNEL, f"{cluster}:{position}")
            finally:
                await told.close()

            async def news() -> bool:
                return await total(api.http, cluster=cluster) == (position, Decimal(13))

            await until(news, "the notification reaches the server")

            # This server writes, the other instance writes, this one writes its figure
            # again: its rows follow the log, not what it wrote last.
            await self_score(api.http, 14, cluster)
            await score(15)
            position = await self_score(api.http, 14, cluster)
            assert await total(api.http, position, cluster) == (position, Decimal(14))
    finally:
        await elsewhere.close()
