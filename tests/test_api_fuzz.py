"""Queries and mutations generated from the schema (hypothesis-graphql), valid and with one
violation each, sent over real HTTP to a cluster with a played demo year: no 5xx, every
body JSON, every error with a string `extensions.code`, and no INTERNAL_ERROR.

The server runs in the test's event loop; the property runs in a thread with a sync client.
The examples are the same on every run (derandomized); THIDUA_FUZZ_EXAMPLES=600 explores
with fresh random ones. What the fuzz found is pinned below, one test each.
"""

import asyncio
import json
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import graphql
import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, nodes, queries

from api_client import Api, serving, token
from thidua.api.schema import build_schema
from thidua.db.migrate import migrate
from thidua.demo import CITY_BOARD, CITY_CRITERIA, DEMO, YEAR, ensure_template, play_year
from thidua.domain.commands import RegisterCluster
from thidua.domain.rights import Role
from thidua.service.emulation import CITY_LOG, Emulation
from thidua.service.envelope import Calendar, Envelope

SCHEMA = str(build_schema())
UNITS = [unit for unit, _ in DEMO[0].units]
WORDS = [*UNITS, *(c.code for c in CITY_CRITERIA.criteria), "2025.1", "tieu-chi-cum-khoi"]
EXPLORE = os.environ.get("THIDUA_FUZZ_EXAMPLES")
PROPERTY = settings(
    max_examples=int(EXPLORE or 60),
    derandomize=EXPLORE is None,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# Text a form may receive: digits of other scripts, combining marks, NUL, controls, lone
# surrogates, bidi and zero-width characters, look-alikes of codes and numbers.
ODD_TEXT = [
    "１２",
    "٣",
    "۲۰۲۵",
    "e\u0301",
    "\x00",
    "a\x00b",
    "\x01\x1f\x7f\x85",
    "\ud800",
    "a\udfff",
    "\u202e",
    "\ufeff",
    "\u200b",
    " ",
    "",
    "cum-xii\n",
    "𝟚𝟘𝟚𝟝",
    "Ⅻ",
    "ﬃ",
    "null",
    "-1",
    "NaN",
    "1e999",
    "9" * 30,
]


def text() -> st.SearchStrategy[str]:
    """The demo's own codes a third of the time, so fields find data; any text or odd
    text otherwise."""
    anything = st.text(st.characters(codec="utf-8"), max_size=24)
    return st.one_of(st.sampled_from(WORDS), anything, st.sampled_from(ODD_TEXT))


def json_values() -> st.SearchStrategy[graphql.ValueNode]:
    names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True)
    leaves = st.one_of(
        st.integers(-(2**31), 2**31 - 1).map(nodes.Int),
        text().map(nodes.String),
        st.booleans().map(nodes.Boolean),
    )

    def objects(
        children: st.SearchStrategy[graphql.ValueNode],
    ) -> st.SearchStrategy[graphql.ValueNode]:
        return st.dictionaries(names, children, max_size=4).map(
            lambda found: nodes.Object(
                [
                    graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=v)
                    for k, v in found.items()
                ]
            )
        )

    return st.recursive(
        leaves, lambda c: st.lists(c, max_size=4).map(nodes.List) | objects(c), max_leaves=12
    )


def near_the_demo_year() -> st.SearchStrategy[date]:
    return st.one_of(st.dates(date(YEAR - 1, 1, 1), date(YEAR + 1, 12, 31)), st.dates())


# Valid values, edge cases among them; invalid ones come from Mode.NEGATIVE.
SCALARS: dict[str, st.SearchStrategy[graphql.ValueNode]] = {
    "Int": st.one_of(
        st.sampled_from([YEAR, YEAR + 1, 0, 1, -1, 5, 100]), st.integers(-(2**31), 2**31 - 1)
    ).map(nodes.Int),
    "String": text().map(nodes.String),
    "Date": near_the_demo_year().map(nodes.String),
    "DateTime": st.builds(
        lambda day, seconds: datetime.combine(day, time(), UTC) + timedelta(seconds=seconds),
        near_the_demo_year(),
        st.integers(0, 86_399),
    ).map(lambda moment: nodes.String(moment.isoformat())),
    "Decimal": st.one_of(
        st.decimals(min_value=-100, max_value=100, places=2).map(str),
        st.sampled_from(["NaN", "sNaN", "-Infinity", "Infinity", "1e999", "0.000001", "-0"]),
    ).map(nodes.String),
    "JSON": json_values(),
}


def documents(kind: Callable[..., st.SearchStrategy[str]]) -> st.SearchStrategy[str]:
    return st.one_of(
        [kind(SCHEMA, custom_scalars=SCALARS, mode=m) for m in (Mode.POSITIVE, Mode.NEGATIVE)]
    )


@dataclass
class Seen:
    """What the property saw, for the test to judge afterwards."""

    codes: dict[str, int] = field(default_factory=dict)


def answer(client: httpx.Client, url: str, bearer: str, document: str, seen: Seen) -> Any:
    """One request; checks what any response must be; its JSON body (None: the known 500)."""
    headers = {
        "authorization": f"Bearer {bearer}",
        "accept": "application/graphql-response+json",
        "content-type": "application/json",
    }
    # json.dumps writes a lone surrogate as an escape, as a client may (httpx's json= cannot)
    response = client.post(url, content=json.dumps({"query": document}), headers=headers)
    assert response.status_code < 500, (document, response.status_code, response.text)
    assert response.headers["content-type"].endswith("charset=utf-8"), response.headers
    body = response.json()
    assert isinstance(body, dict), body
    assert "data" in body or "errors" in body, body
    for error in body.get("errors") or []:
        code = error.get("extensions", {}).get("code")
        assert isinstance(code, str), (document, error)
        assert code != "INTERNAL_ERROR", (document, error)
        seen.codes[code] = seen.codes.get(code, 0) + 1
    return body


async def fuzz(
    api: Api,
    code: str,
    bearer: str,
    strategy: st.SearchStrategy[str],
    also: Callable[[Any], None] = lambda body: None,
) -> Seen:
    """Runs the property in a thread while the server answers in this event loop."""
    seen = Seen()
    url = f"{api.url}/clusters/{code}/graphql"

    def run() -> None:
        with httpx.Client(timeout=30) as client:

            @PROPERTY
            @given(strategy)
            def each(document: str) -> None:
                body = answer(client, url, bearer, document, seen)
                if body is not None:
                    also(body)

            each()

    await asyncio.to_thread(run)
    assert seen.codes, "nothing was refused: the generators are too tame"
    return seen


async def demo_cluster(api: Api) -> str:
    """Cluster XII's demo year under a fresh code, projected as the server reads it."""
    code = f"cum-f-{uuid.uuid4().hex[:8]}"
    clock = Calendar(datetime(YEAR, 1, 5, 2, tzinfo=UTC))
    service = Emulation(api.store, clock)
    await ensure_template(service)
    city_board = Envelope(CITY_LOG, CITY_BOARD.caller())
    await service.handle(city_board, RegisterCluster(code, "Cụm thi đua thử nghiệm"))
    await play_year(service, clock, replace(DEMO[0], code=code))
    return code


def city(dsn: str) -> str:
    return token(dsn, "ban.tdkt", ["*"], Role.CITY_BOARD)


async def year_version(api: Api, code: str) -> int:
    query = "{ cluster { year(year: 2025) { version } } }"
    data = await api.ok(query, token=city(api.dsn), cluster=code)
    version: int = data["cluster"]["year"]["version"]
    return version


async def test_generated_queries_are_answered_or_refused_with_a_code(dsn: str) -> None:
    async with serving(dsn) as api:
        code = await demo_cluster(api)
        for role in (Role.CITY_BOARD, Role.AUDITOR):
            bearer = token(dsn, f"fuzz.{role.value}", ["*"], role)
            await fuzz(api, code, bearer, documents(queries))


async def test_generated_mutations_by_a_dashboard_change_nothing(dsn: str) -> None:
    async with serving(dsn) as api:
        code = await demo_cluster(api)
        before = await year_version(api, code)
        bearer = token(dsn, "fuzz.dashboard", [code], Role.DASHBOARD)

        def accepted_nothing(body: Any) -> None:
            assert not any((body.get("data") or {}).values()), body

        await fuzz(api, code, bearer, documents(mutations), accepted_nothing)
        assert await year_version(api, code) == before


async def test_generated_mutations_by_the_secretariat(dsn: str) -> None:
    async with serving(dsn) as api:
        code = await demo_cluster(api)
        query = "{ cluster { year(year: 2025) { leader } } }"
        found = await api.ok(query, token=city(dsn), cluster=code)
        leader = found["cluster"]["year"]["leader"]
        bearer = token(dsn, "fuzz.secretariat", [code], Role.SECRETARIAT, unit=leader)
        await fuzz(api, code, bearer, documents(mutations))


# --- what the fuzz found -------------------------------------------------------------


async def test_a_field_error_beside_a_shared_loader_is_not_a_500(dsn: str) -> None:
    # `a.standings` refuses (asOf and atPosition together), so `a.scorecard` is cancelled
    # while `b.scorecard` awaits the same DataLoader future.
    query = """{ cluster {
      a: year(year: 2025) {
        scorecard(unit: "bhxh-hn") { unit }
        standings(asOf: "2025-01-01T00:00:00+00:00", atPosition: 1) { unit }
      }
      b: year(year: 2025) { scorecard(unit: "bhxh-hn") { unit } }
    } }"""
    async with serving(dsn) as api:
        code = await demo_cluster(api)
        auditor = token(dsn, "kiem.toan", [code], Role.AUDITOR)
        response = await api.http.post(
            f"/clusters/{code}/graphql",
            json={"query": query},
            headers={"authorization": f"Bearer {auditor}"},
        )
        assert response.status_code == 200, response.text
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "BAD_INPUT"


async def test_a_nan_in_criteria_is_refused_as_input(dsn: str) -> None:
    def criteria(bonus_cap: str, max_points: str) -> str:
        return (
            f'{{version: "v", effectiveFrom: "2025-01-01", bonusCap: "{bonus_cap}", '
            f'criteria: [{{code: "A1", title: "t", part: "A", maxPoints: "{max_points}"}}]}}'
        )

    name = f"nan-{uuid.uuid4().hex[:6]}"
    publish = 'mutation { publishTemplate(input: {name: "NAME", criteria: {}}) { version } }'
    async with serving(dsn) as api:
        for bonus_cap, max_points in (("NaN", "10"), ("10", "NaN"), ("sNaN", "10")):
            query = publish.replace("NAME", name).replace("{}", criteria(bonus_cap, max_points))
            code = await api.refused(query, token=city(dsn))
            assert code != "INTERNAL_ERROR", (bonus_cap, max_points)


async def test_a_nul_character_cannot_stop_a_clusters_projections(
    new_database: Callable[[], Awaitable[str]],
) -> None:
    dsn = await new_database()  # its own: a stuck cluster would stop catch_up_all elsewhere
    await migrate(dsn)
    score = """mutation($unit: String!) { selfScore(input: {year: 2025, unit: $unit,
      criterion: "A1", points: "1", explanation: "x", evidence: ["e"]}) { version } }"""
    trail = "{ cluster { position auditTrail(first: 100) { edges { node { position } } } } }"
    async with serving(dsn) as api:
        code = f"cum-nul-{uuid.uuid4().hex[:6]}"
        await api.store.create_tenant(code, "Cụm thi đua thử nghiệm")
        dashboard = token(dsn, "bang.tin", [code], Role.DASHBOARD)
        auditor = token(dsn, "kiem.toan", [code], Role.AUDITOR)
        for unit in ("x\x00", "don-vi"):  # refused (a dashboard does not score), recorded
            assert await api.refused(score, {"unit": unit}, token=dashboard, cluster=code)
        data = await api.ok(trail, token=auditor, cluster=code)
        positions = [e["node"]["position"] for e in data["cluster"]["auditTrail"]["edges"]]
        assert positions[-1:] == [data["cluster"]["position"]], positions
