"""Live dashboards over graphql-transport-ws, across two app instances: a score written
through one instance reaches a subscriber of the other (LISTEN/NOTIFY), as new standings
and as an audit entry."""

import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws

from api_client import serving, token
from thidua.demo import CITY_BOARD, DEMO, YEAR, ensure_template, play_year
from thidua.domain.commands import Reopen
from thidua.domain.rights import Role
from thidua.service.emulation import Emulation
from thidua.service.envelope import Calendar, Envelope

STANDINGS = """subscription { standingsChanged(year: 2025, layer: CITY) {
  position standings { unit total } } }"""
AUDIT = "subscription { auditEvents { position subject unit actor after } }"
CITY_ADJUST = """mutation ($u: String!) { cityAdjust(input: {year: 2025, unit: $u,
  criterion: "E2", points: "0", explanation: "Chưa có quyết định tặng cờ của Bộ"})
  { positions } }"""


def socket(
    url: str, client: httpx.AsyncClient
) -> AbstractAsyncContextManager[AsyncWebSocketSession]:
    return aconnect_ws(url, client, subprotocols=["graphql-transport-ws"])


async def subscribe(ws: AsyncWebSocketSession, who: str, query: str, sid: str) -> None:
    await ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {who}"}})
    assert (await ws.receive_json(timeout=10))["type"] == "connection_ack"
    await ws.send_json({"id": sid, "type": "subscribe", "payload": {"query": query}})


async def next_payload(ws: AsyncWebSocketSession) -> dict[str, Any]:
    message = await ws.receive_json(timeout=10)
    assert message["type"] == "next", message
    data: dict[str, Any] = message["payload"]["data"]
    return data


async def test_a_write_on_one_instance_reaches_subscribers_of_another(dsn: str) -> None:
    clock = Calendar(datetime(YEAR, 1, 5, 2, tzinfo=UTC))
    async with serving(dsn, clock) as writer, serving(dsn, clock) as reader:
        service = Emulation(writer.store, clock)
        await ensure_template(service)
        cluster = replace(DEMO[0], code=f"cum-live-{uuid.uuid4().hex[:6]}")
        await writer.store.create_tenant(cluster.code, cluster.name)
        await play_year(service, clock, cluster)
        city_board = Envelope(cluster.code, CITY_BOARD.caller())
        reopening = Reopen(YEAR, "Rà soát điểm thưởng")
        await service.handle(city_board, reopening)  # reopened, so the city may adjust
        clock.on(date(YEAR + 1, 1, 10))
        auditor = token(dsn, "Kiểm toán viên", [cluster.code], Role.AUDITOR)
        city = token(dsn, "Nguyễn Văn An", ["*"], Role.CITY_BOARD)
        url = f"{reader.url.replace('http', 'ws')}/clusters/{cluster.code}/graphql"
        async with (
            httpx.AsyncClient() as client,
            socket(url, client) as live,
            socket(url, client) as trail,
        ):
            await subscribe(live, auditor, STANDINGS, "s")
            await subscribe(trail, auditor, AUDIT, "a")
            first = (await next_payload(live))["standingsChanged"]
            leader = first["standings"][0]["unit"]

            done = await writer.ok(CITY_ADJUST, {"u": leader}, token=city, cluster=cluster.code)
            position = done["cityAdjust"]["positions"][-1]

            changed = (await next_payload(live))["standingsChanged"]
            assert changed["position"] == position
            assert changed["standings"] != first["standings"]
            entry = (await next_payload(trail))["auditEvents"]
            assert (entry["position"], entry["subject"], entry["unit"]) == (
                position,
                "score",
                leader,
            )
            assert entry["actor"] == "Nguyễn Văn An"


async def test_a_subscription_is_refused_without_the_right(dsn: str) -> None:
    async with serving(dsn) as api:
        code = f"cum-live-{uuid.uuid4().hex[:6]}"
        await api.store.create_tenant(code, "Cụm thử")
        url = f"{api.url.replace('http', 'ws')}/clusters/{code}/graphql"
        other = token(api.dsn, "Người cụm khác", ["cum-khac"], Role.AUDITOR)
        dashboard = token(api.dsn, "Màn hình", [code], Role.DASHBOARD)
        async with httpx.AsyncClient() as client:
            async with socket(url, client) as ws:
                await ws.send_json(
                    {"type": "connection_init", "payload": {"authorization": f"Bearer {other}"}}
                )
                with pytest.raises(WebSocketDisconnect) as closed:
                    await ws.receive_json(timeout=10)
                assert closed.value.code == 4403
            async with socket(url, client) as ws:
                await subscribe(ws, dashboard, AUDIT, "a")  # dashboards read no audit trail
                message = await ws.receive_json(timeout=10)
                assert message["type"] == "next"  # refused as it starts: its only result
                assert message["payload"]["data"] is None
                assert message["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
