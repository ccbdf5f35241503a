"""Writes: score mutations end to end from 16 clusters at once, against the machine's
ceiling (raw asyncpg inserts at the same concurrency) and the peer (the eventsourcing
library's PostgreSQL Application); while they run, a subscriber measures the lag from
commit to its message.

Each cluster has its year open with a 20-criterion set; each of 16 clients is one cluster's
officers scoring their own units in turn: one criterion per mutation, or the whole form
(20 criteria, `selfScoreMany`) per mutation.
"""

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from bench import peer
from bench.figures import Figure, Run, percentiles_ms
from bench.servers import load, run_json, thidua, token
from thidua.demo import CITY_BOARD
from thidua.domain import commands as c
from thidua.domain.criteria import CriteriaSet, Criterion, Kind
from thidua.domain.errors import DomainError
from thidua.domain.rights import Actor, Role
from thidua.domain.rules import Deadlines, YearRules
from thidua.service.emulation import CITY_LOG, Emulation
from thidua.service.envelope import Envelope, local_day, utc_now
from thidua.store import EventStore

CLUSTERS = 16
UNITS = [f"dv-{i:02d}" for i in range(10)]
CRITERIA = [f"T{i:02d}" for i in range(1, 21)]
TEMPLATE = "tieu-chi-do-tai"
REQUESTS = 200  # per client, posted in turn

SCORE = """mutation ($i: SelfScoreInput!) { selfScore(input: $i) { version } }"""
FORM = """mutation ($i: SelfScoreManyInput!) { selfScoreMany(input: $i) { version } }"""

RAW_TABLE = """CREATE TABLE IF NOT EXISTS bench_raw_events (
    tenant_id text NOT NULL, position bigint NOT NULL, stream_id text NOT NULL,
    stream_version integer NOT NULL, event_type text NOT NULL, event_version integer NOT NULL,
    payload bytea NOT NULL, metadata jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(), hash bytea NOT NULL,
    PRIMARY KEY (tenant_id, position), UNIQUE (tenant_id, stream_id, stream_version))"""
RAW_INSERT = "INSERT INTO bench_raw_events VALUES ($1, $2, $3, $4, $5, 1, $6, $7, now(), $8)"


@dataclass(frozen=True)
class Load:
    name: str  # the figures' subject
    per_request: int  # events each mutation records


SINGLE = Load("score mutation (1 event)", 1)
WHOLE = Load("scorecard mutation (20)", 20)


def criteria(year: int) -> CriteriaSet:
    return CriteriaSet(
        version=f"{year}.bench",
        effective_from=date(year, 1, 1),
        bonus_cap=Decimal(10),
        criteria=tuple(
            Criterion(code, f"Tiêu chí đo tải {code}", "A", Decimal(5), Kind.BASE)
            for code in CRITERIA
        ),
    )


async def open_clusters(store: EventStore, prefix: str) -> tuple[int, list[str]]:
    """CLUSTERS clusters with this year open, their criteria adopted, scoring still open."""
    service = Emulation(store)
    year = local_day(utc_now()).year
    board = CITY_BOARD.caller()
    with contextlib.suppress(DomainError):  # published by an earlier round
        published = c.PublishTemplate(TEMPLATE, criteria(year))
        await service.handle(Envelope(CITY_LOG, board), published)
    rules = YearRules(deadlines=Deadlines(self_scores=(12, 31)))
    codes = [f"{prefix}-{i:02d}" for i in range(CLUSTERS)]
    members = tuple(c.MemberGiven(u, f"Đơn vị {u}", date(year, 1, 1)) for u in UNITS)
    secretary = Actor("Văn phòng cụm", Role.SECRETARIAT, UNITS[0]).caller()
    for code in codes:
        await store.create_tenant(code, f"Cụm đo tải {code}")
        opened = c.OpenYear(year, members, UNITS[0], (UNITS[1],), rules)
        await service.handle(Envelope(code, board), opened)
        adopted = c.AdoptCriteria(year, TEMPLATE, f"{year}.bench", criteria(year))
        await service.handle(Envelope(code, secretary), adopted)
    return year, codes


def points(turn: int, offset: int) -> str:
    return str(Decimal((turn * 7 + offset * 3) % 21) / 4)  # 0 to 5 by 0.25, always moving


def plan(url: str, year: int, codes: list[str], load_: Load, seconds: float) -> dict[str, Any]:
    clients = []
    for code in codes:
        tokens = {u: token(f"Cán bộ {u}", [code], Role.MEMBER_OFFICER, u) for u in UNITS}
        requests = []
        for turn in range(REQUESTS):
            unit = UNITS[turn % len(UNITS)]
            given: dict[str, Any] = {"year": year, "unit": unit}
            if load_.per_request == 1:
                given |= {
                    "criterion": CRITERIA[turn % len(CRITERIA)],
                    "points": points(turn, 0),
                    "explanation": "Đạt",
                    "evidence": ["Báo cáo kết quả"],
                }
                query = SCORE
            else:
                given["scores"] = [
                    {
                        "criterion": criterion,
                        "points": points(turn, i),
                        "explanation": "Đạt",
                        "evidence": ["Báo cáo kết quả"],
                    }
                    for i, criterion in enumerate(CRITERIA)
                ]
                query = FORM
            variables = {"i": given}
            body = json.dumps({"query": query, "variables": variables}, ensure_ascii=False)
            requests.append(
                {"path": f"/clusters/{code}/graphql", "token": tokens[unit], "body": body}
            )
        clients.append(requests)
    return {"url": url, "seconds": seconds, "warmup": 1.0, "clients": clients}


async def raw_inserts(dsn: str, writers: int, seconds: float, rows: int) -> Run:
    """The ceiling: each writer inserts `rows` rows per transaction into a table shaped like
    the log (same columns, keys and payload size), nothing else."""
    pool = await asyncpg.create_pool(dsn, min_size=writers, max_size=writers)
    payload = b'{"code":"T01","layer":"self","points":{"_type_":"decimal_str","_data_":"2.25"}}'
    meta = json.dumps({"actor": "Cán bộ đo tải", "role": "member_officer", "reason": None})
    try:
        await pool.execute(RAW_TABLE)
        await pool.execute("TRUNCATE bench_raw_events")
        until, taken, counts = time.perf_counter() + seconds, [], [0] * writers

        async def writer(i: int) -> None:
            tenant, position = f"raw-{i}", 0
            async with pool.acquire() as conn:
                while (started := time.perf_counter()) < until:
                    batch = [
                        (
                            tenant,
                            position + k,
                            f"s-{i}",
                            position + k,
                            "bench:Scored",
                            payload,
                            meta,
                            b"h" * 32,
                        )
                        for k in range(1, rows + 1)
                    ]
                    if rows == 1:
                        await conn.execute(RAW_INSERT, *batch[0])
                    else:
                        async with conn.transaction():
                            await conn.executemany(RAW_INSERT, batch)
                    position += rows
                    taken.append(time.perf_counter() - started)
                counts[i] = position

        began = time.perf_counter()
        await asyncio.gather(*(writer(i) for i in range(writers)))
        elapsed = time.perf_counter() - began
    finally:
        await pool.close()
    return Run(sum(counts) / elapsed, *percentiles_ms(taken))


async def measure(dsn: str, runs: int, seconds: float) -> list[Figure]:
    figures = {
        (load_.name, subject): Figure("write", subject, "events/s")
        for load_ in (SINGLE, WHOLE)
        for subject in ("thidua", "raw", "eventsourcing")
    }
    lag = Figure("lag", "commit to subscriber (score load)", "messages/s")
    store = await EventStore.open(dsn)
    try:
        for load_ in (SINGLE, WHOLE):
            for run in range(runs):
                year, codes = await open_clusters(store, f"w{load_.per_request}-{run}")
                async with thidua(dsn) as url:
                    watch = load_ is SINGLE
                    mine, lags = await _thidua_run(url, year, codes, load_, seconds, watch)
                per_request = load_.per_request
                figures[(load_.name, "thidua")].runs.append(
                    Run(
                        mine["rate"] * per_request,
                        mine["p50_ms"],
                        mine["p99_ms"],
                        mine["client_cpu"],
                    )
                )
                if lags is not None:
                    lag.runs.append(Run(lags["messages"] / seconds, lags["p50_ms"], lags["p99_ms"]))
                figures[(load_.name, "raw")].runs.append(
                    await raw_inserts(dsn, CLUSTERS, seconds, per_request)
                )
                figures[(load_.name, "eventsourcing")].runs.append(
                    await asyncio.to_thread(
                        peer.write_rate, dsn, writers=CLUSTERS, seconds=seconds, batch=per_request
                    )
                )
    finally:
        await store.close()
    named = []
    for (load_name, subject), figure in figures.items():
        figure.subject = f"{load_name}: {subject}"
        named.append(figure)
    return [*named, lag]


async def _thidua_run(
    url: str, year: int, codes: list[str], load_: Load, seconds: float, watch: bool
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The load, and with `watch` a subscriber to every cluster's audit events meanwhile."""
    writes = load(plan(url, year, codes, load_, seconds))
    if not watch:
        return await writes, None
    auditor = token("Kiểm toán đo tải", ["*"], Role.AUDITOR)
    subscriptions = [{"path": f"/clusters/{c}/graphql", "token": auditor} for c in codes]
    # The subscriber listens from before the load starts until after it ends.
    watching = run_json(
        "bench.subscriber",
        {"url": url, "seconds": seconds + 2.0, "subscriptions": subscriptions},
    )
    watched = asyncio.ensure_future(watching)
    await asyncio.sleep(0.5)
    mine = await writes
    return mine, await watched
