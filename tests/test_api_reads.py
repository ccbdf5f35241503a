"""Reads over HTTP: a dashboard's standings-with-scorecards query costs the same few SQL
statements however many units the cluster has (DataLoaders, no N+1); retries and stale
versions of mutations; the schema file matches the code."""

from pathlib import Path

from api_client import Api, played, serving, token
from thidua.api.schema import build_schema
from thidua.demo import YEAR
from thidua.domain.rights import Role

SCHEMA_FILE = Path(__file__).parent.parent / "schema" / "schema.graphql"
DASHBOARD = """
query ($year: Int!) { cluster { year(year: $year) {
  members { unit name }
  standings { unit layer rank total scorecard { entries { criterion points } } }
} } }"""


async def statements(api: Api, cluster: str) -> int:
    auditor = token(api.dsn, "Kiểm toán viên", [cluster], Role.AUDITOR)
    api.store.query_log = []
    try:
        data = await api.ok(DASHBOARD, {"year": YEAR}, token=auditor, cluster=cluster)
        logged = [q for q in api.store.query_log if not q.startswith(("BEGIN", "COMMIT"))]
    finally:
        api.store.query_log = None
    rows = data["cluster"]["year"]["standings"]
    assert rows
    assert all(r["scorecard"]["entries"] for r in rows)
    return len(logged)


async def test_standings_with_scorecards_cost_the_same_statements_for_any_size(dsn: str) -> None:
    async with serving(dsn) as api:
        small = await statements(api, await played(api, 5))
        large = await statements(api, await played(api, 12))
    # The cluster's name, the year's stream, the standings, the scorecards' entries and
    # submissions: one batch for every unit of every layer.
    assert small == large == 5, (small, large)


async def test_a_retried_mutation_records_once_and_a_stale_version_is_refused(dsn: str) -> None:
    async with serving(dsn) as api:
        cluster = await played(api, 5)
        sec = token(dsn, "Văn phòng", [cluster], Role.SECRETARIAT, "don-vi-1")  # the new leader
        before, _ = await api.store.head(cluster)
        convene = (
            "mutation ($key: String, $v: Int) { conveneMeeting(input: {year: 2025,"
            ' meetingId: "sk", title: "Sơ kết", heldOn: "2026-01-20"},'
            " options: {idempotencyKey: $key, expectedVersion: $v}) { version positions } }"
        )
        first = await api.ok(convene, {"key": "hop-so-ket-1"}, token=sec, cluster=cluster)
        again = await api.ok(convene, {"key": "hop-so-ket-1"}, token=sec, cluster=cluster)
        assert again == first
        assert (await api.store.head(cluster))[0] == before + 1

        stale = first["conveneMeeting"]["version"] - 1
        status, body = await api.post(
            convene.replace('"sk"', '"sk-2"'), {"v": stale}, token=sec, cluster=cluster
        )
        error = body["errors"][0]
        assert status == 200
        assert body["data"] is None
        assert error["extensions"]["code"] == "CONCURRENCY_CONFLICT"
        assert error["extensions"]["actualVersion"] == stale + 1
        assert "tải lại" in error["message"]
        assert (await api.store.head(cluster))[0] == before + 1  # nothing written


def test_the_schema_file_matches_the_code() -> None:
    """Regenerate with: python -m thidua.api.schema > schema/schema.graphql"""
    assert SCHEMA_FILE.read_text() == str(build_schema()) + "\n"
