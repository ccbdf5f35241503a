"""The peer: the eventsourcing library's own PostgreSQL Application, on the same domain events.

    write_rate(dsn, writers=16, seconds=5.0, batch=1) -> Run
    replay_rate(dsn, tenant) -> Run

Both are synchronous (psycopg, threads): run them with `asyncio.to_thread` or in a
subprocess, never on an event loop. `dsn` is a libpq URL of an already-migrated thidua
database; the library's tables live in their own schema of it (PEER_SCHEMA), created if
needed, so they never collide with ours.

The library is configured only through its documented environment settings
(`Application(env=...)`): PERSISTENCE_MODULE=eventsourcing.postgres, POSTGRES_* from the
DSN, POSTGRES_SCHEMA, ORIGINATOR_ID_TYPE=text (our aggregate ids are readable strings),
CREATE_TABLE=y, a pool of at least one connection per writer. Its JSON transcoder gets the
same transcodings as our NFCJSONTranscoder (aware datetimes and dates as ISO strings), so
the stored state is byte for byte what our codec writes (strings are already NFC: the
aggregates normalise what they record).
"""

import contextlib
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from bench.figures import Run, percentiles_ms
from thidua.domain.criteria import CriteriaSet, Criterion, Kind
from thidua.domain.rules import YearRules
from thidua.domain.scorecard import Layer, Scorecard
from thidua.ledger.codec import AwareDatetimeAsISO, DateAsISO

PEER_SCHEMA = "eventsourcing_peer"
YEAR = 2025
# "python" (pure ctypes libpq wrapper), "binary" or "c": the library talks to PostgreSQL
# through psycopg, and the pure-Python implementation costs it about a third of its write
# rate. Print it next to the peer's figures; install psycopg[binary] to give it its best.
PSYCOPG_IMPL: str = psycopg.pq.__impl__


class _PeerApp(Application[str]):
    """The library's Application, with our transcodings."""

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        # Same names as the library's own datetime transcoding ("datetime_iso"): ours
        # replaces it, refusing naive datetimes exactly as our codec does.
        transcoder.register(AwareDatetimeAsISO())
        transcoder.register(DateAsISO())


class PeerWrite(_PeerApp):
    """Writes into eventsourcing_peer.peerwrite_events (the table is named after the app)."""


class PeerReplay(_PeerApp):
    """Replays from eventsourcing_peer.peerreplay_events, refilled by each replay_rate."""


def library_env(dsn: str, *, pool_size: int, cache_maxsize: int | None) -> dict[str, str]:
    """The library's documented settings for a PostgreSQL application on this DSN."""
    params = conninfo_to_dict(dsn)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(params.get("dbname") or params.get("user") or "postgres"),
        "POSTGRES_HOST": str(params.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(params.get("port") or "5432"),
        "POSTGRES_USER": str(params.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(params.get("password") or ""),
        "POSTGRES_SCHEMA": PEER_SCHEMA,
        "ORIGINATOR_ID_TYPE": "text",
        "CREATE_TABLE": "y",
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": "4",
        # Nothing from the process environment may turn these on behind our back.
        "IS_SNAPSHOTTING_ENABLED": "n",
        "COMPRESSOR_TOPIC": "",
        "CIPHER_TOPIC": "",
        "CIPHER_KEY": "",
        "TRANSCODER_TOPIC": "",
        "MAPPER_TOPIC": "",
    }
    if cache_maxsize is not None:
        # The library's aggregate cache, fast-forwarded from the store on every get (so
        # it stays right with other writers), copied out so a failed command cannot
        # corrupt it: its safe, recommended setting.
        env["AGGREGATE_CACHE_MAXSIZE"] = str(cache_maxsize)
        env["AGGREGATE_CACHE_FASTFORWARD"] = "y"
        env["DEEPCOPY_FROM_AGGREGATE_CACHE"] = "y"
    return env


def ensure_schema(dsn: str) -> None:
    # UniqueViolation: created at the same moment by another peer run.
    with (
        psycopg.connect(dsn, autocommit=True) as conn,
        contextlib.suppress(psycopg.errors.UniqueViolation),
    ):
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(PEER_SCHEMA)))


def peer_criteria(count: int) -> CriteriaSet:
    """`count` scorable base criteria of 10 points each, shaped like the city's."""
    return CriteriaSet(
        version="peer.1",
        effective_from=date(YEAR, 1, 1),
        bonus_cap=Decimal(10),
        criteria=tuple(
            Criterion(f"P{i:02d}", f"Tiêu chí đo tải số {i}", "A", Decimal(10), Kind.BASE)
            for i in range(1, count + 1)
        ),
    )


@contextmanager
def application(app_class: type[_PeerApp], env: dict[str, str]) -> Iterator[_PeerApp]:
    app = app_class(env=env)
    try:
        yield app
    finally:
        app.close()


def write_rate(dsn: str, *, writers: int = 16, seconds: float = 5.0, batch: int = 1) -> Run:
    """`writers` threads, each on its own scorecard: get, score `batch` criteria, save.

    Latency is per command: repository get (cache hit, fast-forwarded), `batch` calls of
    Scorecard.score, and app.save of the `batch` events in one transaction.
    """
    if writers < 1 or batch < 1:
        raise ValueError("writers and batch must be at least 1")
    ensure_schema(dsn)
    criteria = peer_criteria(max(20, batch))
    codes = sorted(criteria.scorable())[:batch]
    rules = YearRules()
    run = uuid.uuid4().hex[:8]  # fresh aggregates on every call, in the same table
    env = library_env(dsn, pool_size=writers, cache_maxsize=2 * writers)
    with application(PeerWrite, env) as app:
        ids = []
        for i in range(writers):  # not timed: open the cards, warm the pool and the cache
            card = Scorecard(year=YEAR, unit=f"peer-{run}-{i:02d}")
            app.save(card)
            ids.append(card.id)
            app.repository.get(card.id)

        start = threading.Barrier(writers + 1)
        deadline = 0.0

        def writer(card_id: str) -> tuple[int, list[float]]:
            saved, took, step = 0, [], 0
            start.wait()
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                card: Scorecard = app.repository.get(card_id)
                at = datetime.now(UTC)
                for j, code in enumerate(codes):
                    points = Decimal((step + j) % 41) / 4  # 0 .. 10 by 0.25, never twice alike
                    card.score(Layer.SELF, criteria, code, points, "Đạt", ["Báo cáo"], at, rules)
                app.save(card)
                took.append(time.perf_counter() - began)
                saved += batch
                step += 1
            return saved, took

        with ThreadPoolExecutor(max_workers=writers) as pool:
            futures = [pool.submit(writer, card_id) for card_id in ids]
            deadline = time.perf_counter() + seconds
            began = time.perf_counter()
            start.wait()
            results = [f.result() for f in futures]
            elapsed = time.perf_counter() - began
    latencies = [seconds for _, took in results for seconds in took]
    return Run(sum(saved for saved, _ in results) / elapsed, *percentiles_ms(latencies))


def copy_tenant(dsn: str, tenant: str, table: str) -> dict[str, int]:
    """Our tenant's log into the library's table, in SQL; its streams and their lengths."""
    target = sql.Identifier(PEER_SCHEMA, table)
    with psycopg.connect(dsn) as conn:
        with conn.transaction():
            # Our tables have row-level security: say which tenant this transaction reads.
            conn.execute("SELECT set_config('thidua.tenant', %s, true)", (tenant,))
            conn.execute(sql.SQL("TRUNCATE {}").format(target))
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (originator_id, originator_version, topic, state) "
                    "SELECT stream_id, stream_version, event_type, payload "
                    "FROM events WHERE tenant_id = %s ORDER BY position"
                ).format(target),
                (tenant,),
            )
        conn.autocommit = True
        conn.execute(sql.SQL("ANALYZE {}").format(target))
        rows = conn.execute(
            sql.SQL(
                "SELECT originator_id, count(*) FROM {} GROUP BY originator_id "
                "ORDER BY originator_id"
            ).format(target)
        ).fetchall()
    return {str(stream): int(count) for stream, count in rows}


def replay_rate(dsn: str, tenant: str) -> Run:
    """The library rebuilding every aggregate of the tenant's log: events/s.

    The copy into the library's table is not timed. Each stream is read with
    app.repository.get (no cache, no snapshots), one after the other. Every event our
    product writes comes from an eventsourcing aggregate, so every stream should decode;
    a stream that does not is reported on stderr, and its events are left out of the rate
    (the time spent failing on it stays in).
    """
    ensure_schema(dsn)
    env = library_env(dsn, pool_size=1, cache_maxsize=None)
    with application(PeerReplay, env) as app:  # creates the table before the copy
        assert isinstance(app.recorder, PostgresApplicationRecorder)
        streams = copy_tenant(dsn, tenant, app.recorder.events_table_name)
        failed: dict[str, str] = {}
        began = time.perf_counter()
        for stream_id in streams:
            try:
                app.repository.get(stream_id)
            except Exception as error:  # reported below, left out of the rate
                failed[stream_id] = f"{type(error).__name__}: {error}"
        elapsed = time.perf_counter() - began
    for stream_id, reason in failed.items():
        print(
            f"peer replay: skipped {stream_id} ({streams[stream_id]} events): {reason}",
            file=sys.stderr,
        )
    replayed = sum(count for stream_id, count in streams.items() if stream_id not in failed)
    return Run(replayed / elapsed if elapsed > 0 else 0.0)
