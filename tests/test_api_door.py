"""The door: every malformed request, header, token claim, variable or document is a 4xx or
a coded GraphQL error (a stable `extensions.code`, a Vietnamese message), never an HTTP 500
and never INTERNAL_ERROR.

First one test per thing that once got through (each was a 500 or an INTERNAL_ERROR), then
properties at the HTTP boundary: arbitrary bodies, variables and token claims against every
query and mutation of the schema. The operations are built from the schema itself (every
root mutation, every query field that takes arguments, with each argument a variable of
its own type), so the properties follow the schema whatever shape its arguments take.
Documents generated from the schema with literal values are test_api_fuzz.py's.
"""

import asyncio
import base64
import contextlib
import functools
import hashlib
import hmac
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLField,
    GraphQLInputType,
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
    is_composite_type,
    is_enum_type,
    is_input_object_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    is_required_input_field,
)
from httpx_ws import WebSocketDisconnect
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api_client import SECRET, Api, serving, token
from test_api_fuzz import ODD_TEXT, WORDS, demo_cluster
from test_api_subscriptions import socket
from thidua.api.limits import MAX_BODY_BYTES, MAX_DEPTH, MAX_ITEMS, MAX_TEXT_LENGTH
from thidua.api.schema import build_schema
from thidua.api.subscriptions import EXPIRED
from thidua.domain.rights import Role
from thidua.service.emulation import CITY_LOG, CITY_NAME
from thidua.store.errors import TenantExists, UnknownTenant
from thidua.store.eventstore import IDEMPOTENCY_KEY_LENGTH

GRAPHQL_RESPONSE = "application/graphql-response+json"
ME = "{ me { person name unit roles clusters } }"
POSITION = "{ cluster { position } }"


# --- talking to the server ------------------------------------------------------------


def headers(bearer: str | None, **more: str) -> dict[str, str]:
    found = {"accept": GRAPHQL_RESPONSE, "content-type": "application/json", **more}
    if bearer is not None:
        found["authorization"] = f"Bearer {bearer}"
    return found


def answer(response: httpx.Response) -> tuple[int, dict[str, Any]]:
    """What any response must be: not a 5xx, UTF-8 JSON, an object with data or errors,
    every error coded and none of them INTERNAL_ERROR. The status and the body."""
    assert response.status_code < 500, (response.status_code, response.text[:2000])
    assert response.headers["content-type"].endswith("charset=utf-8"), response.headers
    body = response.json()
    assert isinstance(body, dict), body
    assert "data" in body or body.get("errors"), body
    for error in body.get("errors") or []:
        code = error.get("extensions", {}).get("code")
        assert isinstance(code, str), error
        assert code != "INTERNAL_ERROR", (response.request.content[:2000], error)
        assert isinstance(error.get("message"), str), error
        assert error["message"], error
    return response.status_code, body


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


async def send(
    api: Api, content: bytes | str, bearer: str | None, path: str = "/graphql", **more: str
) -> tuple[int, dict[str, Any]]:
    raw = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
    return answer(await api.http.post(path, content=raw, headers=headers(bearer, **more)))


async def graphql(
    api: Api,
    query: str,
    variables: Any = None,
    *,
    bearer: str | None,
    path: str = "/graphql",
    **extra: Any,
) -> tuple[int, dict[str, Any]]:
    """A request whose JSON may hold what json.dumps writes: lone surrogates as escapes."""
    body: dict[str, Any] = {"query": query, **extra}
    if variables is not None:
        body["variables"] = variables
    return await send(api, json.dumps(body), bearer, path)


def refused(found: tuple[int, dict[str, Any]], status: int, code: str) -> str:
    """A request refused before anything ran: this status, no data, this code; the message."""
    status_, body = found
    assert (status_, codes(body)) == (status, [code]), body
    assert "data" not in body, body
    message: str = body["errors"][0]["message"]
    return message


def field_refused(found: tuple[int, dict[str, Any]], code: str) -> str:
    """A refusal while running: 200, data null, this code; the message."""
    status, body = found
    assert status == 200, body
    assert body["data"] is None, body
    assert codes(body) == [code], body
    message: str = body["errors"][0]["message"]
    return message


def sign(claims: Any, header: Any = None) -> str:
    """An HS256 token over any JSON at all, signed with the server's secret (PyJWT's
    encoder refuses claims of the wrong type, so it cannot make these)."""

    def part(value: Any) -> str:
        return base64.urlsafe_b64encode(dumps(value)).rstrip(b"=").decode()

    signing = f"{part(header or {'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}"
    mac = hmac.new(SECRET.encode(), signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    found = {
        "sub": "kiem.toan",
        "roles": ["auditor"],
        "clusters": ["*"],
        "iss": "thidua",
        "aud": "thidua",
        "iat": now,
        "exp": now + 600,
    }
    return found | changes


async def empty_cluster(api: Api) -> str:
    code = f"cum-d-{uuid.uuid4().hex[:8]}"
    await api.store.create_tenant(code, "Cụm thi đua kiểm tra cửa vào")
    return code


def city(dsn: str) -> str:
    return token(dsn, "ban.tdkt", ["*"], Role.CITY_BOARD)


def path(code: str) -> str:
    return f"/clusters/{code}/graphql"


async def head(api: Api, code: str, missing: int | None = None) -> int:
    try:
        position, _ = await api.store.head(code)
    except UnknownTenant:
        if missing is None:
            raise
        return missing
    return position


async def clusters(api: Api) -> list[str]:
    data = await api.ok("{ clusters { code } }", token=city(api.dsn))
    return [c["code"] for c in data["clusters"]]


@pytest.fixture(scope="module")
async def api(dsn: str) -> AsyncIterator[Api]:
    """One server for the module's explicit tests, each in clusters of its own."""
    async with serving(dsn) as found:
        yield found


# --- bodies -------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["null", '"x"', "123", "true", " null \n", "1e999"])
async def test_a_body_that_is_not_an_object_is_a_400(api: Api, body: str) -> None:
    # Was: 500 (Strawberry called .get on it).
    message = refused(await send(api, body, city(api.dsn)), 400, "BAD_REQUEST")
    assert "đối tượng JSON" in message


async def test_a_body_that_is_not_utf8_is_a_400(api: Api) -> None:
    # Was: 500 (UnicodeDecodeError is not a JSONDecodeError).
    body = b'{"query": "{ me { person } }", "variables": {"x": "\xff\xfe"}}'
    assert "UTF-8" in refused(await send(api, body, city(api.dsn)), 400, "BAD_REQUEST")


async def test_a_number_too_long_to_read_is_a_400(api: Api) -> None:
    # Was: 500 (Python refuses to convert an integer of more than 4,300 digits).
    body = '{"query": "{ me { person } }", "variables": {"x": ' + "1" * 5_000 + "}}"
    assert "số quá dài" in refused(await send(api, body, city(api.dsn)), 400, "BAD_REQUEST")


async def test_deeply_nested_json_is_refused(api: Api) -> None:
    # Was: 500 (RecursionError) for nesting past the interpreter's stack.
    deep = "[" * 100_000 + "]" * 100_000
    assert "quá sâu" in refused(await send(api, deep, city(api.dsn)), 400, "BAD_REQUEST")
    rules = (
        '{"query": "mutation($r: JSON!) { setRules(input: {year: 2025, rules: $r}) { version } }",'
    )
    inside = f'{rules} "variables": {{"r": {deep}}}}}'
    assert "quá sâu" in refused(await send(api, inside, city(api.dsn)), 400, "BAD_REQUEST")
    # Nesting the interpreter can parse, but past the limit: the limit is named.
    nested: Any = []
    for _ in range(MAX_DEPTH + 1):
        nested = [nested]
    found = await graphql(
        api, "query($j: JSON) { me { person } }", {"j": nested}, bearer=city(api.dsn)
    )
    assert f"{MAX_DEPTH} tầng" in refused(found, 400, "BAD_INPUT")


async def test_a_body_over_the_limit_is_a_413(api: Api) -> None:
    # Was: 10 MB accepted and parsed.
    bearer = city(api.dsn)
    big = json.dumps({"query": ME, "variables": {"x": "a" * 10_000_000}})
    assert "1.000.000 byte" in refused(await send(api, big, bearer), 413, "REQUEST_TOO_LARGE")

    # Without a Content-Length (chunked), refused as soon as it passes the limit.
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ me { person } }", "variables": {"x": "'
        for _ in range(MAX_BODY_BYTES // 65_536 + 2):
            yield b"a" * 65_536
        yield b'"}}'

    response = await api.http.post("/graphql", content=chunks(), headers=headers(bearer))
    refused(answer(response), 413, "REQUEST_TOO_LARGE")
    # Just under the limit, it runs.
    fits = json.dumps({"query": ME, "variables": {"x": "a"}})
    status, body = await send(api, fits + " " * (MAX_BODY_BYTES - len(fits)), bearer)
    assert (status, body["data"]["me"]["person"]) == (200, "ban.tdkt")


# --- variables and text -------------------------------------------------------------


@pytest.mark.parametrize("points", ["１２", "٣", "1_0", " 12", "NaN", "1e99999"])
async def test_points_are_written_with_ascii_digits(api: Api, points: str) -> None:
    # Was: full-width and Arabic-Indic digits were read and stored as numbers.
    code = await empty_cluster(api)
    score = """mutation($p: Decimal!) { cityAdjust(input: {year: 2025, unit: "dv-1",
      criterion: "A1", points: $p, explanation: "Điều chỉnh"}) { version } }"""
    found = await graphql(api, score, {"p": points}, bearer=city(api.dsn), path=path(code))
    refused(found, 400, "BAD_INPUT")
    assert await head(api, code) == 0


async def test_null_for_a_non_null_variable_is_bad_input(api: Api) -> None:
    # Was: INTERNAL_ERROR (graphql-core's own coercion error was masked).
    query = "query($y: Int!) { cluster { year(year: $y) { year } } }"
    code = await empty_cluster(api)
    found = await graphql(api, query, {"y": None}, bearer=city(api.dsn), path=path(code))
    refused(found, 400, "BAD_INPUT")


@pytest.mark.parametrize(
    "where",
    ["variable", "variable name", "document", "operation name", "extensions"],
)
async def test_a_lone_surrogate_is_refused_at_the_door(api: Api, where: str) -> None:
    # Was: a 500 (the refusal echoing it could not be encoded) or INTERNAL_ERROR (asyncpg
    # could not encode it), depending on where it went.
    query = "query($c: String!) { cluster(code: $c) { name } }"
    body: dict[str, Any] = {"query": query, "variables": {"c": "cum-xii"}}
    if where == "variable":
        body["variables"] = {"c": "cum\ud800"}
    elif where == "variable name":
        body["variables"] = {"c": "cum-xii", "\udfff": 1}
    elif where == "document":
        body["query"] = query.replace("name", "name # \ud800")
    elif where == "operation name":
        body["operationName"] = "A\ud800"
    else:
        body["extensions"] = {"x": ["\ud800"]}
    message = refused(await send(api, json.dumps(body), city(api.dsn)), 400, "BAD_INPUT")
    assert "\\ud800" in message


async def test_a_lone_surrogate_in_a_mutation_writes_nothing(api: Api) -> None:
    mutation = "mutation($n: String!) { registerCluster(input: {code: $c, name: $n}) { cluster } }"
    mutation = mutation.replace("mutation(", "mutation($c: String!, ")
    code = f"cum-d-{uuid.uuid4().hex[:8]}"
    found = await graphql(api, mutation, {"c": code, "n": "Cụm\ud800"}, bearer=city(api.dsn))
    refused(found, 400, "BAD_INPUT")
    assert code not in await clusters(api)


async def test_text_and_lists_over_the_limits_are_bad_input(api: Api) -> None:
    code = await empty_cluster(api)
    bearer = city(api.dsn)
    pledge = """mutation($c: [String!]!) {
      draftPledge(input: {year: 2025, commitments: $c, targets: []}) { version } }"""
    long = await graphql(api, pledge, {"c": ["a" * (MAX_TEXT_LENGTH + 1)]}, bearer=bearer)
    assert "10.000 ký tự" in refused(long, 400, "BAD_INPUT")
    many = await graphql(api, pledge, {"c": ["a"] * (MAX_ITEMS + 1)}, bearer=bearer)
    assert "1.000 mục" in refused(many, 400, "BAD_INPUT")
    long_literal = '"' + "a" * (MAX_TEXT_LENGTH + 1) + '"'
    literal = "mutation { draftPledge(input: {year: 2025, commitments: ["
    literal += long_literal + "], targets: []})"
    literal += " { version } }"
    found = await graphql(api, literal, bearer=bearer, path=path(code))
    assert "10.000 ký tự" in refused(found, 400, "BAD_INPUT")
    assert await head(api, code) == 0


# --- documents ----------------------------------------------------------------------


async def test_several_operations_need_an_operation_name(api: Api) -> None:
    # Was: the first one ran.
    document = "query A { me { person } } query B { me { roles } }"
    bearer = city(api.dsn)
    message = refused(await graphql(api, document, bearer=bearer), 400, "OPERATION_NAME_REQUIRED")
    assert "operationName" in message
    status, body = await graphql(api, document, bearer=bearer, operationName="B")
    assert (status, body) == (200, {"data": {"me": {"roles": ["city_board"]}}})
    # application/json: the same request error, with 200 as GraphQL over HTTP says.
    response = await api.http.post(
        "/graphql",
        json={"query": document},
        headers={"authorization": f"Bearer {bearer}", "accept": "application/json"},
    )
    status, body = answer(response)
    assert (status, codes(body), "data" in body) == (200, ["OPERATION_NAME_REQUIRED"], False)


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_a_subscription_over_http_is_refused(api: Api, method: str) -> None:
    # Was: INTERNAL_ERROR (executed as a query, its generator was not a value).
    code = await empty_cluster(api)
    subscription = "subscription { auditEvents { position } }"
    bearer = token(api.dsn, "kiem.toan", [code], Role.AUDITOR)
    if method == "POST":
        found = await graphql(api, subscription, bearer=bearer, path=path(code))
    else:
        response = await api.http.get(
            path(code), params={"query": subscription}, headers=headers(bearer)
        )
        found = answer(response)
    assert "WebSocket" in refused(found, 400, "SUBSCRIPTION_OVER_HTTP")
    assert await head(api, code) == 0


@pytest.mark.parametrize(
    "position", ["-1", str(2**63), str(10**30), "1.5", " 1", "٣", "１２", "1_0", "²"]
)
async def test_a_cursor_out_of_range_is_bad_input(api: Api, position: str) -> None:
    # Was: INTERNAL_ERROR past a bigint; -1, " 1" and "1_0" were read as positions.
    code = await empty_cluster(api)
    after = base64.urlsafe_b64encode(f"audit:{position}".encode()).decode()
    query = "query($a: String) { cluster { auditTrail(after: $a) { edges { cursor } } } }"
    found = await graphql(api, query, {"a": after}, bearer=city(api.dsn), path=path(code))
    assert "after" in field_refused(found, "BAD_INPUT")


# --- commands -----------------------------------------------------------------------


@pytest.mark.parametrize("key", ["k" * (IDEMPOTENCY_KEY_LENGTH + 1), "khóa", "a b", "\x01", ""])
async def test_an_idempotency_key_that_is_not_short_printable_ascii_is_refused(
    api: Api, key: str
) -> None:
    # Was: INTERNAL_ERROR for a key of a few thousand characters (the index cannot hold it).
    publish = """mutation($n: String!, $k: String) { publishTemplate(input: {name: $n,
      criteria: {version: "v1", effectiveFrom: "2025-01-01", bonusCap: "5", criteria: []}},
      options: {idempotencyKey: $k}) { version } }"""
    name = f"mau-{uuid.uuid4().hex[:8]}"
    before = await head(api, CITY_LOG, missing=0)
    found = await graphql(api, publish, {"n": name, "k": key}, bearer=city(api.dsn))
    assert "idempotencyKey" in field_refused(found, "INVALID_IDEMPOTENCY_KEY")
    assert await head(api, CITY_LOG, missing=0) == before
    # A long key made of what clients really send fits.
    retry = {"n": name, "k": str(uuid.uuid4()) * 5}
    status, body = await graphql(api, publish, retry, bearer=city(api.dsn))
    assert status == 200, body
    assert "errors" not in body, body


@pytest.mark.parametrize("code", ["cum-nl\n", "cum-nl\r\n", "\ncum-nl", "Cum-nl", "cum_nl"])
async def test_a_cluster_code_is_matched_whole(api: Api, code: str) -> None:
    # Was: INTERNAL_ERROR for a trailing newline (`$` matches before it).
    register = (
        'mutation($c: String!) { registerCluster(input: {code: $c, name: "Cụm"}) { cluster } }'
    )
    found = await graphql(api, register, {"c": code}, bearer=city(api.dsn))
    assert "không hợp lệ" in field_refused(found, "INVALID_CLUSTER_CODE")
    assert code.strip().lower() not in await clusters(api)
    # The URL's cluster too: a newline in the path names no cluster.
    response = await api.http.post(
        "/clusters/cum-xii%0A/graphql", json={"query": POSITION}, headers=headers(city(api.dsn))
    )
    assert codes(answer(response)[1]) == ["UNKNOWN_CLUSTER"]


@pytest.mark.parametrize(
    ("name", "refusal"),
    [("", "EMPTY_NAME"), ("   ", "EMPTY_NAME"), ("\t\n", "BAD_CHARACTER"), ("x" * 201, "TOO_LONG")],
)
async def test_a_cluster_needs_a_name(api: Api, name: str, refusal: str) -> None:
    # Was: INTERNAL_ERROR for "" (the database's check), and "   " was accepted.
    code = f"cum-d-{uuid.uuid4().hex[:8]}"
    register = (
        "mutation($c: String!, $n: String!) { registerCluster(input: {code: $c, name: $n})"
        " { cluster } }"
    )
    found = await graphql(api, register, {"c": code, "n": name}, bearer=city(api.dsn))
    assert "name" in field_refused(found, refusal)
    assert code not in await clusters(api)


# --- tokens -------------------------------------------------------------------------


BAD_CLAIMS = [
    ("unit", 5),
    ("unit", ["don-vi"]),
    ("unit", {"a": 1}),
    ("unit", ""),
    ("name", 5),
    ("name", {"a": 1}),
    ("name", True),
    ("sub", ""),
    ("sub", "a\x00b"),
    ("sub", "a\ud800"),
    ("sub", "x" * 201),
    ("name", "\ud800"),
    ("roles", "auditor"),
    ("roles", ["auditor", 5]),
    ("roles", [["auditor"]]),
    ("clusters", "*"),
    ("clusters", [1]),
    ("clusters", [None]),
    ("clusters", [""]),
    ("clusters", ["cum-xii\n"]),
    ("clusters", {"*": True}),
    ("exp", "mai"),
    ("exp", None),
    ("iat", "x"),
    ("nbf", [1]),
    ("iss", ["thidua"]),
    ("aud", {"thidua": 1}),
]


@pytest.mark.parametrize(("claim", "value"), BAD_CLAIMS)
async def test_a_signed_token_with_a_claim_of_another_type_is_a_401(
    api: Api, claim: str, value: Any
) -> None:
    # Was: 500 for `unit` or `name` that were not strings; 200 for a number (read as text)
    # or an empty subject; 403 for clusters [1]; INTERNAL_ERROR for a NUL in `sub`.
    bearer = sign(claims(**{claim: value}))
    response = await api.http.post("/graphql", json={"query": ME}, headers=headers(bearer))
    assert response.headers["www-authenticate"] == "Bearer"
    refused(answer(response), 401, "UNAUTHENTICATED")


async def test_a_token_too_large_or_too_deep_is_a_401(api: Api) -> None:
    deep = sign(claims(extra=nested(50_000)))
    for bearer in (deep, sign(claims(extra="x" * 20_000))):
        response = await api.http.post("/graphql", json={"query": ME}, headers=headers(bearer))
        refused(answer(response), 401, "UNAUTHENTICATED")


async def test_a_well_typed_token_is_read_whole(api: Api) -> None:
    bearer = sign(claims(name="Nguyễn Văn An", unit="bhxh-hn", exp=time.time() + 60.5))
    status, body = await graphql(api, ME, bearer=bearer)
    assert status == 200, body
    assert body["data"]["me"] == {
        "person": "kiem.toan",
        "name": "Nguyễn Văn An",
        "unit": "bhxh-hn",
        "roles": ["auditor"],
        "clusters": ["*"],
    }


# --- subscriptions ------------------------------------------------------------------


async def test_a_subscription_ends_when_its_token_expires(api: Api) -> None:
    # Was: it ran on for as long as the socket stayed open.
    code = await empty_cluster(api)
    url = f"{api.url.replace('http', 'ws')}/clusters/{code}/graphql"
    expires = int(time.time()) + 3
    short = sign(claims(clusters=[code], exp=expires))
    async with (
        httpx.AsyncClient() as client,
        socket(url, client) as ws,
    ):
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {short}"}}
        await ws.send_json(init)
        assert (await ws.receive_json(timeout=10))["type"] == "connection_ack"
        subscribe = {"query": "subscription { auditEvents { position } }"}
        await ws.send_json({"id": "a", "type": "subscribe", "payload": subscribe})
        # Until it expires, it runs: a refused read lands in the log and reaches it.
        await asyncio.sleep(0.5)
        dashboard = token(api.dsn, "bang.tin", [code], Role.DASHBOARD)
        trail = "{ cluster { auditTrail { edges { cursor } } } }"
        assert await api.refused(trail, token=dashboard, cluster=code) == "FORBIDDEN"
        message = await ws.receive_json(timeout=10)
        assert message["payload"]["data"]["auditEvents"]["position"] == 1, message
        message = await ws.receive_json(timeout=15)
        assert time.time() >= expires
        assert message["type"] == "next", message
        [error] = message["payload"]["errors"]
        assert error["extensions"]["code"] == "UNAUTHENTICATED", error
        assert error["message"] == EXPIRED
        assert await ws.receive_json(timeout=5) == {"id": "a", "type": "complete"}
        # A new subscription on the expired connection is refused the same way.
        await ws.send_json({"id": "b", "type": "subscribe", "payload": subscribe})
        message = await ws.receive_json(timeout=10)
        assert message["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


AUDIT_EVENTS = "subscription { auditEvents { position } }"
TWO_SUBSCRIPTIONS = """subscription A { auditEvents { position } }
subscription B { auditEvents { actor } }"""
SUBSCRIBE_REFUSED = {
    "surrogate in a variable": (
        {"query": "subscription($p: Int) { auditEvents(afterPosition: $p) { position } }"}
        | {"variables": {"p": "\ud800"}},
        "BAD_INPUT",
    ),
    "surrogate in the operation name": (
        {"query": AUDIT_EVENTS.replace("subscription", "subscription A")}
        | {"operationName": "A\ud800"},
        "BAD_INPUT",
    ),
    "variables over the limit": (
        {"query": AUDIT_EVENTS, "variables": {"x": "a" * (MAX_TEXT_LENGTH + 1)}},
        "BAD_INPUT",
    ),
    "two operations, no name": (
        {"query": TWO_SUBSCRIPTIONS},
        "OPERATION_NAME_REQUIRED",
    ),
    "an unknown operation name": ({"query": AUDIT_EVENTS, "operationName": "B"}, "BAD_REQUEST"),
    "no query": ({"variables": {}}, "BAD_REQUEST"),
    "variables not an object": ({"query": AUDIT_EVENTS, "variables": [1]}, "BAD_REQUEST"),
}


@pytest.mark.parametrize("why", list(SUBSCRIBE_REFUSED))
async def test_a_subscribe_message_is_checked_as_a_request_is(api: Api, why: str) -> None:
    # Was: INTERNAL_ERROR for an unknown operation name (or a lone surrogate in it), a
    # crashed connection for a payload that was not an object, the first of two operations.
    payload, code = SUBSCRIBE_REFUSED[why]
    cluster = await empty_cluster(api)
    url = f"{api.url.replace('http', 'ws')}/clusters/{cluster}/graphql"
    bearer = token(api.dsn, "kiem.toan", [cluster], Role.AUDITOR)
    async with httpx.AsyncClient() as client, socket(url, client) as ws:
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {bearer}"}}
        await ws.send_json(init)
        assert (await ws.receive_json(timeout=10))["type"] == "connection_ack"
        message = json.dumps({"id": "a", "type": "subscribe", "payload": payload})
        await ws.send_text(message)
        answered = await ws.receive_json(timeout=10)
        assert answered["type"] == "error", answered
        assert [e["extensions"]["code"] for e in answered["payload"]] == [code], answered
        # The connection goes on: a good subscription on it still runs.
        await ws.send_json({"id": "b", "type": "subscribe", "payload": {"query": AUDIT_EVENTS}})
        await ws.send_json({"type": "ping"})
        assert await ws.receive_json(timeout=10) == {"type": "pong"}
    assert await head(api, cluster) == 0


@pytest.mark.parametrize(
    "message",
    [
        '"x"',
        "[1]",
        "1" * 5_000,
        "[" * 100_000 + "]" * 100_000,
        '{"type": 5}',
        '{"id": 5, "type": "subscribe", "payload": {}}',
    ],
)
async def test_a_message_that_is_no_message_closes_the_socket_with_4400(
    api: Api, message: str
) -> None:
    # Was: the handler failed (a TypeError or a RecursionError) and the socket dropped.
    cluster = await empty_cluster(api)
    url = f"{api.url.replace('http', 'ws')}/clusters/{cluster}/graphql"
    bearer = token(api.dsn, "kiem.toan", [cluster], Role.AUDITOR)
    async with httpx.AsyncClient() as client, socket(url, client) as ws:
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {bearer}"}}
        await ws.send_json(init)
        assert (await ws.receive_json(timeout=10))["type"] == "connection_ack"
        await ws.send_text(message)
        with pytest.raises(WebSocketDisconnect) as closed:
            await ws.receive_json(timeout=10)
        assert closed.value.code == 4400


# --- properties: every query and mutation of the schema, arbitrary input ----------------


@dataclass(frozen=True)
class Operation:
    """A document reaching one field, every argument on its way a variable of its type."""

    document: str
    variables: tuple[tuple[str, GraphQLInputType], ...]

    def __repr__(self) -> str:
        return self.document


def operation(kind: str, trail: tuple[tuple[str, GraphQLField], ...]) -> Operation:
    variables: list[tuple[str, GraphQLInputType]] = []
    calls = []
    for depth, (name, reached) in enumerate(trail):
        arguments = []
        for argument, definition in reached.args.items():
            variable = f"{argument}_{depth}"
            variables.append((variable, definition.type))
            arguments.append(f"{argument}: ${variable}")
        calls.append(f"{name}({', '.join(arguments)})" if arguments else name)
    leaf = get_named_type(trail[-1][1].type)
    text = calls[-1] + (" { __typename }" if is_composite_type(leaf) else "")
    for call in reversed(calls[:-1]):
        text = f"{call} {{ {text} }}"
    definitions = ", ".join(f"${name}: {type_}" for name, type_ in variables)
    head = f"{kind}({definitions})" if variables else kind
    return Operation(f"{head} {{ {text} }}", tuple(variables))


def operations(schema: GraphQLSchema, depth: int = 5) -> list[Operation]:
    """Every mutation; every query root field, and every field below one that takes
    arguments (a type is not entered twice on one path)."""
    found: list[Operation] = []

    def walk(
        kind: str, parent: GraphQLObjectType, trail: tuple[tuple[str, GraphQLField], ...]
    ) -> None:
        entered = {get_named_type(f.type).name for _, f in trail}
        for name, child in parent.fields.items():
            here = (*trail, (name, child))
            if child.args or not trail:
                found.append(operation(kind, here))
            inner = get_named_type(child.type)
            if (
                kind == "query"
                and is_object_type(inner)
                and inner.name not in entered
                and len(here) < depth
            ):
                walk(kind, inner, here)

    assert schema.query_type is not None
    assert schema.mutation_type is not None
    walk("query", schema.query_type, ())
    walk("mutation", schema.mutation_type, ())
    return found


SCHEMA = build_schema()._schema
OPERATIONS = operations(SCHEMA)
EXPLORE = os.environ.get("THIDUA_FUZZ_EXAMPLES")


def examples(n: int) -> settings:
    return settings(
        max_examples=int(EXPLORE or n),
        derandomize=EXPLORE is None,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


HUGE = [MAX_TEXT_LENGTH, MAX_TEXT_LENGTH + 1, 300_000, MAX_BODY_BYTES + 1]


@functools.cache
def texts() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(WORDS),
        st.sampled_from(ODD_TEXT),
        st.text(st.characters(exclude_categories=()), max_size=12),
        st.sampled_from(WORDS),
        st.text(st.characters(exclude_categories=()), max_size=12),
    )


def nested(depth: int) -> str:
    """Arrays this deep, as a marker `dumps` writes out (json.dumps would overflow)."""
    return f"@@nested:{depth}@@"


def dumps(value: Any) -> bytes:
    """JSON as a client may send it: lone surrogates as escapes, NaN and Infinity as
    Python writes them, markers of deep nesting written out."""
    text = json.dumps(value)
    while "@@nested:" in text:
        start = text.index('"@@nested:')
        end = text.index('@@"', start)
        depth = int(text[start + len('"@@nested:') : end])
        text = text[:start] + "[" * depth + "]" * depth + text[end + 3 :]
    return text.encode("utf-8", "surrogatepass")


@functools.cache
def json_values() -> st.SearchStrategy[Any]:
    leaves = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(), texts(), texts(), texts()
    )
    shapes = st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts(), inner, max_size=4),
        max_leaves=10,
    )
    odd = st.one_of(
        st.sampled_from([MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 900, 50_000]).map(nested),
        st.sampled_from(HUGE).map(lambda n: "x" * n),
        st.sampled_from([MAX_ITEMS, MAX_ITEMS + 1]).map(lambda n: [1] * n),
    )
    return st.one_of(shapes, shapes, shapes, odd)


SCALARS: dict[str, Callable[[], st.SearchStrategy[Any]]] = {
    "Int": lambda: st.one_of(
        st.sampled_from([2025, 2026, 0, 1, -1, 100, 2**31, -(2**31) - 1, 2**63, 10**30]),
        st.integers(-(2**31), 2**31 - 1),
    ),
    "Float": st.floats,
    "Boolean": st.booleans,
    "String": texts,
    "ID": texts,
    "Date": lambda: st.one_of(st.dates().map(str), texts()),
    "DateTime": lambda: st.one_of(
        st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat),
        st.datetimes().map(lambda d: (d + timedelta(0)).isoformat()),  # naive
        texts(),
    ),
    "Decimal": lambda: st.one_of(
        st.decimals(allow_nan=True, allow_infinity=True).map(str), st.floats(), texts()
    ),
    "JSON": json_values,
}


@functools.cache
def typed(kind: GraphQLInputType, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values of this input type (with odd text and numbers in them), or null."""
    if is_non_null_type(kind):
        return of_type(kind.of_type, depth)
    return st.one_of(st.none(), of_type(kind, depth))


def of_type(kind: Any, depth: int) -> st.SearchStrategy[Any]:
    if depth > 6:
        return json_values()
    if is_list_type(kind):
        return st.lists(typed(kind.of_type, depth + 1), max_size=3)
    if is_input_object_type(kind):
        fields = kind.fields.items()
        required = {n: typed(f.type, depth + 1) for n, f in fields if is_required_input_field(f)}
        optional = {n: typed(f.type, depth + 1) for n, f in fields if n not in required}
        return st.fixed_dictionaries(required, optional=optional)
    if is_enum_type(kind):
        return st.sampled_from(list(kind.values))
    return SCALARS.get(kind.name, texts)()


@st.composite
def variables_for(draw: st.DrawFn, op: Operation) -> Any:
    """The operation's variables: of their types mostly, any JSON at all sometimes (per
    variable, or in place of the whole object)."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values())
    found = {}
    for name, kind in op.variables:
        choice = draw(st.integers(0, 9))
        if choice == 0:
            found[name] = draw(json_values())
        elif choice > 1:  # 1: left out
            found[name] = draw(typed(kind))
    return found


@dataclass
class Door:
    """The server as the property sees it from its thread: requests, and the log heads."""

    api: Api
    loop: asyncio.AbstractEventLoop
    code: str
    client: httpx.Client
    seen: Counter[str] = field(default_factory=Counter)  # answers by status and code

    def heads(self) -> tuple[int, ...]:
        async def read() -> tuple[int, ...]:
            found = []
            for tenant in (self.code, CITY_LOG):
                position, _ = await self.api.store.head(tenant)
                found.append(position)
            return tuple(found)

        return asyncio.run_coroutine_threadsafe(read(), self.loop).result(timeout=30)

    def send(self, request: Callable[[httpx.Client], httpx.Response]) -> tuple[int, dict[str, Any]]:
        """Any request: answered, never a 5xx nor INTERNAL_ERROR; when refused at the door
        (a 4xx other than 403, or a request error without data) the cluster's log and the
        city's stand where they were. (A 403 is a refusal the cluster's log records.)"""
        before = self.heads()
        status, body = answer(request(self.client))
        if status != 403 and (status >= 400 or "data" not in body):
            assert self.heads() == before, (status, body)
        self.seen[f"{status} {' '.join(sorted(set(codes(body)))) or 'ok'}"] += 1
        return status, body


async def door(api: Api, code: str, run: Callable[[Door], None]) -> Counter[str]:
    """Runs the property in a thread while the server answers in this event loop; what it
    saw: some answers and some refusals, or the generators are too tame or too wild."""
    loop = asyncio.get_running_loop()
    seen: Counter[str] = Counter()

    def inside() -> None:
        with httpx.Client(base_url=api.url, timeout=60) as client:
            run(Door(api, loop, code, client, seen))

    await asyncio.to_thread(inside)
    assert any(key.startswith("200 ") for key in seen), seen
    assert any(key.startswith("4") for key in seen), seen
    return seen


def test_the_operations_cover_the_schema() -> None:
    documents = [op.document for op in OPERATIONS]
    assert SCHEMA.mutation_type is not None
    for name in SCHEMA.mutation_type.fields:
        assert any(d.startswith("mutation") and f"{{ {name}" in d for d in documents), name
    assert any("auditTrail(" in d for d in documents)
    assert any("standings(" in d for d in documents)


async def test_any_variables_for_any_operation_are_answered_or_refused_with_a_code(
    dsn: str,
) -> None:
    async with serving(dsn) as api:
        code = await demo_cluster(api)
        leader = await api.ok(
            "{ cluster { year(year: 2025) { leader } } }", token=city(dsn), cluster=code
        )
        unit = leader["cluster"]["year"]["leader"]
        bearers = [
            city(dsn),
            token(dsn, "thu.ky", [code], Role.SECRETARIAT, unit=unit),
            token(dsn, "can.bo", [code], Role.MEMBER_OFFICER, unit=unit),
            token(dsn, "kiem.toan", [code], Role.AUDITOR),
        ]
        paths = [path(code), "/graphql"]

        def run(at: Door) -> None:
            @examples(150)
            @given(st.data())
            def each(data: st.DataObject) -> None:
                op = data.draw(st.sampled_from(OPERATIONS), label="operation")
                body = {"query": op.document, "variables": data.draw(variables_for(op))}
                content = dumps(body)
                bearer = data.draw(st.sampled_from(bearers))
                where = data.draw(st.sampled_from(paths))
                at.send(lambda c: c.post(where, content=content, headers=headers(bearer)))

            each()

        seen = await door(api, code, run)
        assert seen["200 ok"], seen  # some reached their resolvers and were answered


URL_TEXT = 2_000  # bytes of a GET parameter: longer URLs are the HTTP server's to refuse


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, str, dict[str, Any], bytes]:
    """Any request at all: method, content type, query string and body; the usual ones
    most often, so that some get through to run."""
    op = draw(st.sampled_from(OPERATIONS))
    request: dict[str, Any] = {
        "query": draw(st.one_of(st.just(op.document), texts(), json_values())),
        "variables": draw(st.one_of(variables_for(op), json_values())),
        "operationName": draw(st.one_of(st.none(), texts(), json_values())),
        "extensions": draw(st.one_of(st.none(), json_values())),
    }
    if draw(st.integers(0, 2)):  # the document itself, its variables or none
        request = {"query": op.document, "variables": draw(variables_for(op))}
    else:
        keys = draw(st.sets(st.sampled_from(list(request))))
        request = {k: v for k, v in request.items() if k in keys or k == "query"}
    kind = draw(st.integers(0, 9))
    if kind == 0:  # raw bytes
        content = draw(st.binary(max_size=64))
    elif kind == 1:  # numbers past what Python converts, nesting past its stack
        n = draw(st.sampled_from([5_000, 100_000]))
        content = draw(st.sampled_from([b"1" * n, b"[" * n + b"]" * n, b'{"a":' * n]))
    elif kind == 2:  # any JSON at all
        content = dumps(draw(json_values()))
    else:
        content = dumps(request)
    method = draw(st.sampled_from(["POST"] * 6 + ["GET"] * 3 + ["PUT", "DELETE"]))
    usual = ["application/json", "application/json; charset=utf-8"]
    media = draw(
        st.sampled_from(
            usual * 4
            + [
                "application/json; charset=latin-1",
                "application/graphql-response+json",
                "text/plain",
                "multipart/form-data; boundary=x",
                "application/x-www-form-urlencoded",
            ]
        )
    )
    params: dict[str, Any] = {}
    if method == "GET":
        for key, value in request.items():
            raw = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else None
            params[key] = (raw or dumps(value))[:URL_TEXT].decode("utf-8", "replace")
    return method, media, params, content


async def test_any_body_is_answered_or_refused_with_a_code(dsn: str) -> None:
    async with serving(dsn) as api:
        code = await empty_cluster(api)
        await api.ok(POSITION, token=city(dsn), cluster=code)
        auditor = token(dsn, "kiem.toan", [code], Role.AUDITOR)
        await ensure_city_log(api)

        def run(at: Door) -> None:
            @examples(150)
            @given(bodies(), st.sampled_from([path(code), "/graphql"]))
            def each(request: tuple[str, str, dict[str, Any], bytes], where: str) -> None:
                method, media, params, content = request
                sent = headers(auditor) | {"content-type": media}
                at.send(
                    lambda c: c.request(method, where, params=params, content=content, headers=sent)
                )

            each()

        await door(api, code, run)


CLAIM_NAMES = ["sub", "name", "unit", "roles", "clusters", "exp", "iat", "nbf", "iss", "aud"]


@st.composite
def tokens(draw: st.DrawFn, code: str) -> str:
    """Validly signed tokens whose claims hold anything: most claims right, a few of any
    JSON type; now and then a header or a whole payload that is not what a JWT holds."""
    roles = draw(st.lists(st.sampled_from([r.value for r in Role]), min_size=1, max_size=3))
    found = claims(roles=roles, clusters=draw(st.sampled_from([[code], ["*"], ["cum-khac"]])))
    found |= draw(st.dictionaries(st.sampled_from(CLAIM_NAMES), json_values(), max_size=3))
    unit = draw(st.one_of(st.none(), st.sampled_from(WORDS)))
    if unit is not None:
        found["unit"] = unit
    payload: Any = found if draw(st.integers(0, 9)) else draw(json_values())
    header: Any = {"alg": "HS256", "typ": "JWT"}
    if draw(st.integers(0, 9)) == 0:
        header |= {"kid": draw(json_values()), "crit": draw(json_values())}
    return sign(payload, header)


async def test_any_claims_in_a_signed_token_are_a_401_or_read_whole(dsn: str) -> None:
    async with serving(dsn) as api:
        code = await demo_cluster(api)

        def run(at: Door) -> None:
            @examples(120)
            @given(st.data())
            def each(data: st.DataObject) -> None:
                bearer = data.draw(tokens(code), label="token")
                op = data.draw(st.sampled_from(OPERATIONS), label="operation")
                body = {"query": op.document, "variables": data.draw(variables_for(op))}
                content = dumps(body)
                where = data.draw(st.sampled_from([path(code), "/graphql"]))
                status, body = at.send(
                    lambda c: c.post(where, content=content, headers=headers(bearer))
                )
                assert status in (200, 400, 401, 403, 413), status
                if status == 401:
                    assert codes(body) == ["UNAUTHENTICATED"], body

            each()

        await door(api, code, run)


async def ensure_city_log(api: Api) -> None:
    """The city's log exists, so the property can read its head."""
    with contextlib.suppress(TenantExists):
        await api.store.create_tenant(CITY_LOG, CITY_NAME)
