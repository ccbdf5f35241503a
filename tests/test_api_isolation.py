"""Tenant isolation matrix over the real API (uvicorn, HTTP and graphql-transport-ws).

Every query, mutation and subscription is tried with a token of another cluster (at the
cluster's own endpoint and at /graphql), with a token of another unit, and with each role
that lacks the right (as `thidua.domain.rights.may` decides it): each is refused, reads
nothing, changes nothing, and its refusal is recorded in the right log for the auditors.

Two clusters play the demo year once per server: A (Cluster XII's units) and B (Cluster 8's).
"""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

import graphql
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws

from api_client import Api, serving, token
from thidua.api.auth import possible_year
from thidua.api.queries import cursor
from thidua.api.schema import build_schema
from thidua.demo import CITY_BOARD, DEMO, YEAR, ensure_template, play_year
from thidua.domain.commands import RegisterCluster
from thidua.domain.errors import Forbidden
from thidua.domain.rights import Action, Actor, Role, YearContext, authorise
from thidua.service.emulation import CITY_LOG, Emulation
from thidua.service.envelope import HANOI, Calendar, Envelope

# Cluster A after its demo year: the second unit leads (rotated at the year-end meeting),
# the first led before, the second inspects the third.
A_UNITS = [code for code, _ in DEMO[0].units]
FORMER, LEADER, INSPECTED, X, Y = A_UNITS[0], A_UNITS[1], A_UNITS[2], A_UNITS[3], A_UNITS[5]
OUTSIDER = DEMO[1].units[1][0]  # a unit of cluster B
A_YEAR = YearContext(
    leader=LEADER,
    former_leaders=frozenset({FORMER}),
    members=frozenset(A_UNITS),
    inspected_by=frozenset({(LEADER, INSPECTED)}),
)
TODAY = datetime(YEAR + 1, 1, 20, 2, tzinfo=UTC)  # the server's day: the year is over

Kind = Literal["query", "mutation", "subscription"]
Log = Literal["A", "B", "city"]


@dataclass(frozen=True)
class Op:
    """One operation of the API: its document, and the right it needs in cluster A.

    `$code` is cluster A's code and `$unit` the unit the right is about, when the document
    names them. `every_unit`: it reads every member's scorecard (the right per unit).
    `city`: a command on the city's own log, where its refusal lands.
    """

    name: str
    kind: Kind
    text: str
    action: Action | None = None
    every_unit: bool = False
    city: bool = False

    @property
    def unit_scoped(self) -> bool:
        return "$unit" in self.text

    def variables(self, cluster: str, unit: str | None) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if "$code" in self.text:
            found["code"] = cluster
        if self.unit_scoped:
            found["unit"] = unit
        return found


def declared(kind: Kind, body: str) -> str:
    """The operation's head, declaring the variables its body uses."""
    params = ", ".join(f"${n}: String!" for n in ("code", "unit") if f"${n}" in body)
    return f"{kind}({params})" if params else kind


def query(name: str, fields: str, action: Action | None = None, **kw: Any) -> Op:
    body = f"cluster(code: $code) {{ {fields} }}"
    return Op(name, "query", f"{declared('query', body)} {{ {body} }}", action, **kw)


def mutation(
    field: str, args: str, action: Action, returns: str = " { streamId version }", **kw: Any
) -> Op:
    body = f"{field}(input: {{{args}}}){returns}"
    return Op(field, "mutation", f"{declared('mutation', body)} {{ {body} }}", action, **kw)


CRITERIA = (
    '{version: "2099.1", effectiveFrom: "2099-01-01", bonusCap: "10",'
    ' criteria: [{code: "A1", title: "Giả mạo", part: "A", maxPoints: "100"}]}'
)
Y25 = f"year: {YEAR}"
TEMPLATE = 'templateName: "tieu-chi-cum-khoi", templateVersion: "2025.1"'
SCORE = 'unit: $unit, criterion: "A1", points: "30", explanation: "Giả mạo"'
MEETING = 'meetingId: "tong-ket-2025"'

QUERIES = [
    query("cluster.name", "code name"),
    query("cluster.position", "position"),
    query(
        "year.members", f"year({Y25}) {{ leader members {{ unit name }} }}", Action.READ_PUBLISHED
    ),
    query(
        "year.standings",
        f"year({Y25}) {{ standings {{ unit layer total }} }}",
        Action.READ_PUBLISHED,
    ),
    query(
        "year.scorecard",
        f"year({Y25}) {{ scorecard(unit: $unit) {{ unit entries {{ layer criterion points }} }} }}",
        Action.READ_OWN_UNIT,
    ),
    query(
        "standings.scorecard",
        f"year({Y25}) {{ standings(layer: CITY) {{ unit scorecard {{ entries {{ points }} }} }} }}",
        Action.READ_OWN_UNIT,
        every_unit=True,
    ),
    query(
        "year.scorecard.findings",
        f"year({Y25}) {{ scorecard(unit: $unit) {{ findings {{ answer {{ text }} }} }} }}",
        Action.READ_OWN_UNIT,
    ),
    query(
        "year.proposals",
        f"year({Y25}) {{ proposals {{ proposalId decision {{ outcome }} revocation {{ reason }} }}"
        " sending { late } reopenings { reason } }",
        Action.READ_PUBLISHED,
    ),
    query(
        "year.resultDiff",
        f"year({Y25}) {{ resultDiff(from: 1, to: 1) {{ layers {{ units {{ unit }} }} }} }}",
        Action.READ_YEAR,
    ),
    query(
        "cluster.auditTrail",
        "auditTrail(first: 5) { edges { node { position actor after } } }",
        Action.READ_AUDIT,
    ),
]

MUTATIONS = [
    mutation(
        "registerCluster",
        'code: "cum-gia-mao", name: "Cụm giả mạo"',
        Action.REGISTER_CLUSTER,
        " { cluster }",
        city=True,
    ),
    mutation(
        "publishTemplate",
        f'name: "tieu-chi-cum-khoi", criteria: {CRITERIA}',
        Action.PUBLISH_CRITERIA,
        city=True,
    ),
    mutation(
        "openYear",
        f'year: {YEAR + 1}, members: [{{unit: "{X}", name: "X", joinedOn: "2026-01-01"}}],'
        f' leader: "{X}", deputies: []',
        Action.OPEN_YEAR,
    ),
    mutation(
        "joinMember", f'{Y25}, unit: "moi", name: "Mới", on: "2025-12-01"', Action.MANAGE_YEAR
    ),
    mutation("leaveMember", f'{Y25}, unit: "{Y}", on: "2025-12-01"', Action.MANAGE_YEAR),
    mutation(
        "rotateLeadership",
        f'{Y25}, leader: "{X}", deputies: ["{Y}"], on: "2026-01-20"',
        Action.ROTATE_LEADERSHIP,
    ),
    mutation("setRules", f"{Y25}, rules: {{flag_quota: 2}}", Action.MANAGE_YEAR),
    mutation("adoptCriteria", f"{Y25}, {TEMPLATE}, criteria: {CRITERIA}", Action.MANAGE_YEAR),
    mutation(
        "assignInspection",
        f'{Y25}, inspectionId: "gia-mao", inspector: "{X}", units: ["{Y}"]',
        Action.MANAGE_YEAR,
    ),
    mutation("draftPledge", f'{Y25}, commitments: ["a"], targets: ["b"]', Action.MANAGE_YEAR),
    mutation("signPledge", f"{Y25}, unit: $unit", Action.SIGN_PLEDGE),
    mutation(
        "registerTopic",
        f'{Y25}, unit: $unit, topicId: "gia-mao", kind: NEW_MODEL, title: "Giả mạo"',
        Action.REGISTER_TOPIC,
    ),
    mutation(
        "markTopic",
        f'{Y25}, topicId: "mo-hinh-{Y}", carriedOut: false, note: "Giả mạo"',
        Action.MANAGE_YEAR,
    ),
    mutation("selfScore", f"{Y25}, {SCORE}, evidence: []", Action.SELF_SCORE),
    mutation(
        "selfScoreMany",
        f'{Y25}, unit: $unit, scores: [{{criterion: "A1", points: "30", explanation: "Giả mạo",'
        " evidence: []}]",
        Action.SELF_SCORE,
    ),
    mutation("verifyScore", f"{Y25}, {SCORE}", Action.VERIFY_SCORE),
    mutation("cityAdjust", f"{Y25}, {SCORE}", Action.CITY_ADJUST),
    mutation(
        "answerFinding",
        f'{Y25}, unit: $unit, criterion: "A2", text: "Giả mạo"',
        Action.ANSWER_FINDING,
    ),
    mutation(
        "acceptExplanation",
        f'{Y25}, unit: $unit, criterion: "A2", points: "1", reason: "Giả mạo"',
        Action.DECIDE_EXPLANATION,
    ),
    mutation(
        "rejectExplanation",
        f'{Y25}, unit: $unit, criterion: "A2", reason: "Giả mạo"',
        Action.DECIDE_EXPLANATION,
    ),
    mutation("submitSelfAssessment", f"{Y25}, unit: $unit", Action.SUBMIT_SELF_ASSESSMENT),
    mutation(
        "conveneMeeting",
        f'{Y25}, meetingId: "gia-mao", title: "Giả mạo", heldOn: "2026-01-20"',
        Action.MANAGE_YEAR,
    ),
    mutation("recordAttendance", f"{Y25}, {MEETING}, present: []", Action.MANAGE_YEAR),
    mutation(
        "openBallot",
        f'{Y25}, {MEETING}, candidate: "{Y}", question: "Giả mạo"',
        Action.MANAGE_YEAR,
    ),
    mutation("recordTally", f"{Y25}, {MEETING}, yes: 9, no: 0, blank: 0", Action.MANAGE_YEAR),
    mutation("recordMidYearReview", Y25, Action.MANAGE_YEAR),
    mutation("finalise", Y25, Action.FINALISE),
    mutation("reopen", f'{Y25}, reason: "Giả mạo"', Action.REOPEN),
    mutation(
        "propose",
        f'{Y25}, proposalId: "gia-mao", award: FLAG, units: ["{Y}"], documents: []',
        Action.MANAGE_YEAR,
    ),
    mutation(
        "sendResults",
        f'{Y25}, proposalLetter: "a", minutes: "b", achievementReport: "c", reason: "Giả mạo"',
        Action.MANAGE_YEAR,
    ),
    mutation(
        "decideProposal",
        f'{Y25}, proposalId: "co-thi-dua-2025", outcome: REJECTED, reason: "Giả mạo"',
        Action.DECIDE_PROPOSAL,
    ),
]

SUBSCRIPTIONS = [
    Op(
        "standingsChanged",
        "subscription",
        f"subscription {{ standingsChanged({Y25}, layer: CITY)"
        " { position standings { unit total } } }",
        Action.READ_PUBLISHED,
    ),
    Op(
        "auditEvents",
        "subscription",
        "subscription { auditEvents(afterPosition: 0) { position actor after } }",
        Action.READ_AUDIT,
    ),
]

OPS = QUERIES + MUTATIONS + SUBSCRIPTIONS


# The world: two clusters with a played year, served by the real app.


@dataclass
class World:
    api: Api
    logs: dict[Log, str]  # A, B and the city's log: their codes
    reader: str  # the city's auditor, for every log: reads what the others may not

    async def head(self, log: Log) -> int:
        position, _ = await self.api.store.head(self.logs[log])
        return position


@pytest.fixture(scope="module")
async def world(dsn: str) -> AsyncIterator[World]:
    suffix = uuid.uuid4().hex[:8]
    async with serving(dsn, Calendar(TODAY)) as api:
        codes: dict[Log, str] = {"A": f"iso-a-{suffix}", "B": f"iso-b-{suffix}"}
        await ensure_template(Emulation(api.store, Calendar(TODAY)))
        for code, demo in zip(codes.values(), DEMO, strict=False):
            clock = Calendar(datetime(YEAR, 1, 5, 2, tzinfo=UTC))
            service = Emulation(api.store, clock)
            city = Envelope(CITY_LOG, CITY_BOARD.caller())
            await service.handle(city, RegisterCluster(code, demo.name))
            await play_year(service, clock, replace(demo, code=code))
        codes["city"] = CITY_LOG
        reader = token(api.dsn, "kiem-toan-thanh-pho", ["*"], Role.AUDITOR)
        yield World(api, codes, reader)


# Calling the API the way a client does.


@dataclass
class Outcome:
    """What the caller got: an HTTP answer, a WebSocket close, or a subscription's messages."""

    status: int | None = None
    body: dict[str, Any] | None = None  # the HTTP body, or the subscription's result
    closed: int | None = None  # the WebSocket close code
    messages: list[str] | None = None  # the subscription's message types

    @property
    def codes(self) -> list[str]:
        return [e.get("extensions", {}).get("code") for e in (self.body or {}).get("errors", [])]


async def call(world: World, op: Op, bearer: str, cluster: str | None, unit: str | None) -> Outcome:
    variables = op.variables(world.logs["A"], unit)
    if op.kind != "subscription":
        status, body = await world.api.post(op.text, variables, token=bearer, cluster=cluster)
        return Outcome(status, body)
    path = f"/clusters/{cluster}/graphql" if cluster else "/graphql"
    async with aconnect_ws(
        f"{world.api.url}{path}",
        world.api.http,
        subprotocols=["graphql-transport-ws"],
        session_class=AsyncWebSocketSession,
    ) as ws:
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {bearer}"}}
        await ws.send_json(init)
        try:
            ack = await ws.receive_json(timeout=10)
        except WebSocketDisconnect as closed:
            return Outcome(closed=closed.code)
        assert ack["type"] == "connection_ack", ack
        payload = {"query": op.text, "variables": variables}
        await ws.send_json({"id": "1", "type": "subscribe", "payload": payload})
        message: dict[str, Any] = await ws.receive_json(timeout=10)
        types = [message["type"]]
        if message["type"] == "next":  # a result, then the end of the subscription
            types.append((await ws.receive_json(timeout=10))["type"])
        result = message["payload"] if message["type"] == "next" else {"errors": message["payload"]}
        return Outcome(body=result, messages=types)


def leaves(value: Any) -> list[Any]:
    """Every non-null scalar in a response's data: what the caller could read."""
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in leaves(v)]
    return [] if value is None else [value]


def assert_refused(outcome: Outcome, code: str, *, http: int | None = None) -> None:
    """Refused with this code, and nothing read.

    A subscription refused at connection_init is closed with 4403; one refused when it
    starts ends at once: an `error` message, or (as graphql-ws's reference server answers
    an error creating the source stream) one `next` with the errors, then `complete`.
    """
    if outcome.closed is not None:
        assert (outcome.closed, code) == (4403, "CLUSTER_NOT_COVERED")
        return
    body = outcome.body or {}
    if outcome.messages is not None:
        assert outcome.messages in (["error"], ["next", "complete"]), outcome
    elif http == 403:
        assert outcome.status == http, body
        assert "data" not in body, body
    else:
        assert outcome.status == 200, body
    assert leaves(body.get("data")) == [], body
    assert outcome.codes[:1] == [code], body


EDGES = "edges { node { position eventType subject actor unit after } }"
TRAIL = f"""query($code: String!, $after: String) {{
  cluster(code: $code) {{ auditTrail(first: 100, after: $after) {{ {EDGES} }} }}
}}"""

SNAPSHOT = f"""query($code: String!) {{ cluster(code: $code) {{
  name
  next: year(year: {YEAR + 1}) {{ version }}
  year(year: {YEAR}) {{
    version status leader deputies formerLeaders rules
    results {{ version on criteriaVersion }}
    result {{ flagged {{ unit criteria }}
      layer(layer: CITY) {{ ranking {{ first places {{ unit rank total }} }} }} }}
    midYearReview {{ on criteriaVersion layer(layer: CITY) {{ totals {{ unit total }} }} }}
    members {{ unit name joinedOn leftOn mergedInto }}
    criteriaVersions {{ version amendedCodes criteria {{ code title maxPoints }} }}
    inspections {{ inspectionId inspector units }}
    meetings {{ meetingId present ballots {{ candidate yes no blank open }} }}
    proposals {{ proposalId award units superseded }}
    pledge {{ version commitments signatures {{ unit }} topics {{ topicId unit carriedOut }} }}
    standings {{ unit layer rank total }}
    x: scorecard(unit: "{X}") {{ submittedAt entries {{ layer criterion points position }} }}
    y: scorecard(unit: "{Y}") {{ submittedAt entries {{ layer criterion points position }} }}
  }}
}} }}"""


async def snapshot(world: World) -> dict[str, Any]:
    """Cluster A as its auditor reads it: the year, its standings and two scorecards."""
    return await world.api.ok(SNAPSHOT, {"code": world.logs["A"]}, token=world.reader)


async def recorded(world: World, log: Log, after: int) -> list[dict[str, Any]]:
    """The log's audit entries after a position, as the city's auditor reads them."""
    variables = {"code": world.logs[log], "after": cursor(after) if after else None}
    data = await world.api.ok(TRAIL, variables, token=world.reader)
    return [e["node"] for e in data["cluster"]["auditTrail"]["edges"]]


Count = Literal["one", "some", "none"]


async def assert_only_refusals(
    world: World,
    heads: dict[Log, int],
    before: dict[str, Any],
    actor: str,
    code: str,
    where: Log | None,
    count: Count = "one",
) -> None:
    """Nothing changed: every log moved only by this actor's refusals, in `where` only."""
    for log, head in heads.items():
        moved = await world.head(log) - head
        entries = await recorded(world, log, head)
        assert len(entries) == moved, (log, entries)
        if log != where or count == "none":
            assert entries == [], (log, entries)
            continue
        assert moved >= 1, (log, entries)
        if count == "one":
            assert moved == 1, (log, entries)
        for entry in entries:
            assert (entry["subject"], entry["actor"], entry["after"]["code"]) == (
                "refusal",
                actor,
                code,
            ), entry
    assert await snapshot(world) == before


async def assert_counted(world: World, sub: str, cluster: str) -> None:
    """The deployment's auditors see the refusal of an uncovered cluster, counted."""
    query = "query($d: Date!) { accessRefusals(day: $d) { subject cluster code count } }"
    today = datetime.now(HANOI).date().isoformat()  # the database counts by its own day
    data = await world.api.ok(query, {"d": today}, token=world.reader)
    mine = [r for r in data["accessRefusals"] if r["subject"] == sub]
    assert [(r["cluster"], r["code"]) for r in mine] == [(cluster, "CLUSTER_NOT_COVERED")]
    assert mine[0]["count"] >= 1


async def heads_of(world: World) -> dict[Log, int]:
    return {log: await world.head(log) for log in world.logs}


def intruder_sub(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:6]}"


# The table covers the schema.


def test_the_table_covers_every_mutation_and_subscription() -> None:
    schema = graphql.build_schema(str(build_schema()))
    assert schema.mutation_type is not None
    assert schema.subscription_type is not None
    assert {op.name for op in MUTATIONS} == set(schema.mutation_type.fields)
    assert {op.name for op in SUBSCRIPTIONS} == set(schema.subscription_type.fields)
    for op in OPS:
        assert graphql.validate(schema, graphql.parse(op.text)) == [], op.name


async def test_the_matrix_knows_cluster_a(world: World) -> None:
    """The expectations below come from `may` on this context: it must be cluster A's."""
    emulation = Emulation(world.api.store, Calendar(TODAY))
    found = await emulation.year(world.logs["A"], YEAR)
    assert found.context(emulation.today()) == A_YEAR


# 1-2. Another cluster's token at cluster A's endpoint: refused before anything runs.

INTRUDERS = {
    "b-every-role": (list(Role), DEMO[1].units[0][0]),  # every right, in cluster B
    "b-auditor": ([Role.AUDITOR], None),
}


@pytest.mark.parametrize("intruder", INTRUDERS)
@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
async def test_another_clusters_token_at_the_clusters_endpoint(
    world: World, op: Op, intruder: str
) -> None:
    roles, unit = INTRUDERS[intruder]
    sub = intruder_sub(intruder)
    bearer = token(world.api.dsn, sub, [world.logs["B"]], roles, unit)
    heads, before = await heads_of(world), await snapshot(world)

    outcome = await call(world, op, bearer, world.logs["A"], unit or X)

    assert_refused(outcome, "CLUSTER_NOT_COVERED", http=403)
    await assert_only_refusals(world, heads, before, sub, "CLUSTER_NOT_COVERED", None, "none")
    await assert_counted(world, sub, world.logs["A"])  # the endpoint refuses first


# 3. Another cluster's token at /graphql: what names cluster A is refused; the rest names no
# cluster at all (BAD_INPUT) or the city's log, which the token does not cover either. Such
# refusals are counted for the deployment's auditors, never written in A's or the city's log.


def at_graphql(op: Op) -> tuple[str, Log | None]:
    if op.kind == "query":
        return "CLUSTER_NOT_COVERED", "A"
    if op.city:
        return "CLUSTER_NOT_COVERED", "city"
    return "BAD_INPUT", None


@pytest.mark.parametrize("intruder", INTRUDERS)
@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
async def test_another_clusters_token_at_graphql(world: World, op: Op, intruder: str) -> None:
    roles, unit = INTRUDERS[intruder]
    sub = intruder_sub(intruder)
    bearer = token(world.api.dsn, sub, [world.logs["B"]], roles, unit)
    code, where = at_graphql(op)
    heads, before = await heads_of(world), await snapshot(world)

    outcome = await call(world, op, bearer, None, unit or X)

    assert_refused(outcome, code)
    await assert_only_refusals(world, heads, before, sub, code, None, "none")
    if where is not None:
        await assert_counted(world, sub, world.logs[where])


async def test_listing_clusters_shows_only_those_covered(world: World) -> None:
    bearer = token(world.api.dsn, intruder_sub("b-lister"), [world.logs["B"]], list(Role))
    data = await world.api.ok("{ clusters { code name } me { clusters } }", token=bearer)
    assert [c["code"] for c in data["clusters"]] == [world.logs["B"]]
    assert data["me"]["clusters"] == [world.logs["B"]]


# 4-5. Inside cluster A: each role without the right, on its own unit and on another one.


@dataclass(frozen=True)
class Who:
    role: Role
    unit: str | None = None

    @property
    def label(self) -> str:
        return f"{self.role.value}@{self.unit}" if self.unit else self.role.value


WHO = [
    Who(Role.MEMBER_OFFICER, X),
    Who(Role.MEMBER_HEAD, X),
    Who(Role.CROSS_INSPECTOR, LEADER),  # assigned to INSPECTED only
    Who(Role.SECRETARIAT, LEADER),
    Who(Role.SECRETARIAT, FORMER),  # led the year before the rotation
    Who(Role.SECRETARIAT, X),  # never led
    Who(Role.AUDITOR),
    Who(Role.DASHBOARD),
    Who(Role.CITY_BOARD),
    Who(Role.MEMBER_OFFICER, OUTSIDER),  # a unit of cluster B with a token for cluster A
]


def refusal_of(actor: Actor, action: Action, unit: str | None) -> str | None:
    """The code a refusal carries, or None when `may` allows: `authorise` decides on
    cluster A's year, or on any year for a right no year changes (the audit trail)."""
    year = possible_year(actor.unit, unit) if action is Action.READ_AUDIT else A_YEAR
    try:
        authorise(actor.caller(), action, year, unit)
    except Forbidden as refusal:
        return refusal.code
    return None


@dataclass(frozen=True)
class Attempt:
    who: Who
    op: Op
    target: str | None  # the $unit
    code: str
    log: Log
    count: Count


def attempts() -> list[Any]:
    """Every (who, operation, unit) the rights refuse; the allowed ones are left out."""
    found: list[Any] = []
    for who in WHO:
        actor = Actor("x", who.role, who.unit)
        for op in OPS:
            if op.action is None:
                continue  # the cluster check alone: covered above
            targets = [who.unit or X, Y] if op.unit_scoped else [None]
            for target in dict.fromkeys(targets):
                units = A_UNITS if op.every_unit else [target]
                codes = [c for u in units if (c := refusal_of(actor, op.action, u))]
                if not codes:
                    continue
                # The role tokens cover cluster A only, never the city's own log.
                code = "CLUSTER_NOT_COVERED" if op.city else codes[0]
                count: Count = "none" if op.city else "some" if op.every_unit else "one"
                attempt = Attempt(who, op, target, code, "city" if op.city else "A", count)
                label = f"{who.label}-{op.name}" + (f"-{target}" if target else "")
                found.append(pytest.param(attempt, id=label))
    return found


@pytest.mark.parametrize("attempt", attempts())
async def test_a_role_without_the_right_is_refused(world: World, attempt: Attempt) -> None:
    who, op = attempt.who, attempt.op
    sub = intruder_sub(who.label)
    bearer = token(world.api.dsn, sub, [world.logs["A"]], who.role, who.unit)
    heads, before = await heads_of(world), await snapshot(world)

    outcome = await call(world, op, bearer, world.logs["A"], attempt.target)

    assert_refused(outcome, attempt.code)
    await assert_only_refusals(world, heads, before, sub, attempt.code, attempt.log, attempt.count)
