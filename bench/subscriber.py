"""A subscribed client, in its own process: `auditEvents` on each cluster over
graphql-transport-ws (aiohttp), for a while; then one JSON line on stdout with the lag of
every message: its arrival minus the event's recorded time (when its append began, so
the figure includes the append's own transaction).

    python -m bench.subscriber PLAN.json

PLAN: {"url": ..., "seconds": ..., "subscriptions": [{"path": ..., "token": ...}]}
"""

import asyncio
import json
import time
from datetime import datetime
from typing import Any

import aiohttp

from bench.figures import percentiles_ms, run_plan

QUERY = "subscription { auditEvents { position recordedAt } }"


async def subscribe(
    http: aiohttp.ClientSession, path: str, token: str, until: float, lags: list[float]
) -> None:
    async with http.ws_connect(path, protocols=["graphql-transport-ws"]) as ws:
        await ws.send_json(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        )
        ack = await ws.receive_json()
        assert ack["type"] == "connection_ack", ack
        await ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": QUERY}})
        while (left := until - time.perf_counter()) > 0:
            try:
                message = await ws.receive(timeout=left)
            except TimeoutError:
                break
            arrived = time.time()
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(message.data)
            if data["type"] != "next":
                raise RuntimeError(f"subscription ended: {data}")
            payload = data["payload"]
            if payload.get("errors"):
                raise RuntimeError(f"subscription refused: {payload['errors']}")
            recorded = datetime.fromisoformat(payload["data"]["auditEvents"]["recordedAt"])
            lags.append(arrived - recorded.timestamp())


async def run(plan: dict[str, Any]) -> dict[str, Any]:
    lags: list[float] = []
    until = time.perf_counter() + plan["seconds"]
    async with aiohttp.ClientSession(plan["url"]) as http:
        await asyncio.gather(
            *(subscribe(http, s["path"], s["token"], until, lags) for s in plan["subscriptions"])
        )
    p50, p99 = percentiles_ms(lags)
    return {"messages": len(lags), "p50_ms": p50, "p99_ms": p99}


if __name__ == "__main__":
    run_plan(run)
