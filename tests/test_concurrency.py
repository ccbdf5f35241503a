"""Optimistic concurrency and per-tenant ordering under real concurrent load."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, cast

import pytest

from thidua.store import ConcurrencyConflict, EventStore, Metadata, NewEvent, RecordedEvent

META = Metadata(actor="Nguyễn Văn A", role="secretariat", reason="kiểm thử")


def event(n: int) -> NewEvent:
    return NewEvent(event_type="tests:Appended", payload=f'{{"n":{n}}}'.encode())


async def test_fifty_appenders_same_version_exactly_one_wins(
    store: EventStore, new_tenant: Callable[[], Awaitable[str]]
) -> None:
    tenant = await new_tenant()
    stream = str(uuid.uuid4())

    async def attempt(n: int) -> int | ConcurrencyConflict:
        try:
            result = await store.append(tenant, stream, 0, [event(n)], META)
            return result.stream_version
        except ConcurrencyConflict as conflict:
            return conflict

    outcomes = await asyncio.gather(*(attempt(n) for n in range(50)))
    wins = [o for o in outcomes if isinstance(o, int)]
    conflicts = [o for o in outcomes if isinstance(o, ConcurrencyConflict)]
    assert wins == [1]
    assert len(conflicts) == 49
    assert {(c.expected, c.actual) for c in conflicts} == {(0, 1)}
    assert all(c.code == "CONCURRENCY_CONFLICT" for c in conflicts)
    assert [e.stream_version for e in await store.read_stream(tenant, stream)] == [1]


async def test_fifty_retrying_appenders_lose_no_update(
    store: EventStore, new_tenant: Callable[[], Awaitable[str]]
) -> None:
    tenant = await new_tenant()
    stream = str(uuid.uuid4())
    conflicts = 0

    async def append_until_it_lands(n: int) -> None:
        nonlocal conflicts
        while True:
            version = len(await store.read_stream(tenant, stream))
            try:
                await store.append(tenant, stream, version, [event(n)], META)
                return
            except ConcurrencyConflict:
                conflicts += 1

    await asyncio.gather(*(append_until_it_lands(n) for n in range(50)))
    recorded = await store.read_stream(tenant, stream)
    assert [e.stream_version for e in recorded] == list(range(1, 51))
    assert sorted(e.payload for e in recorded) == sorted(event(n).payload for n in range(50))
    assert conflicts > 0  # they really did race


@pytest.mark.parametrize("instances", ["same instance", "other instance"])
async def test_eight_tenants_eight_appenders_gapless_and_subscribed(
    store: EventStore,
    dsn: str,
    new_tenant: Callable[[], Awaitable[str]],
    instances: str,
) -> None:
    tenants = [await new_tenant() for _ in range(8)]
    appends_each, per_append = 20, 3
    total = 8 * appends_each * per_append
    halfway = asyncio.Event()
    done_appends = 0

    async def appender(tenant: str) -> None:
        nonlocal done_appends
        stream = str(uuid.uuid4())
        for i in range(appends_each):
            await store.append(
                tenant, stream, i * per_append, [event(n) for n in range(per_append)], META
            )
            done_appends += 1
            if done_appends == 8 * 8 * appends_each // 2:
                halfway.set()

    # Another instance hears appends only through NOTIFY: it polls too rarely to pass otherwise.
    listener = store if instances == "same instance" else await EventStore.open(dsn)
    try:
        load = asyncio.gather(*(appender(t) for t in tenants for _ in range(8)))
        half: asyncio.Future[Any] = asyncio.create_task(halfway.wait())
        await asyncio.wait(
            [cast("asyncio.Future[Any]", load), half], return_when=asyncio.FIRST_COMPLETED
        )
        if load.done():
            load.result()  # an appender failed before halfway: fail, never wait forever
        starts = {t: (await store.head(t))[0] for t in tenants}
        subscribers = {
            t: asyncio.create_task(_collect_rarely_polling(listener, t, starts[t], total))
            for t in tenants
        }
        await load
        received = {t: await asyncio.wait_for(task, 20) for t, task in subscribers.items()}
    finally:
        if listener is not store:
            await listener.close()

    for tenant in tenants:
        log = await store.read_log(tenant, 0, 10_000)
        assert [e.position for e in log] == list(range(1, total + 1))
        assert [e.position for e in received[tenant]] == list(range(starts[tenant] + 1, total + 1))
        assert 0 < starts[tenant] < total


async def _collect_rarely_polling(
    store: EventStore, tenant: str, after: int, until: int
) -> list[RecordedEvent]:
    seen: list[RecordedEvent] = []
    async for recorded in store.subscribe(tenant, after, batch=7, poll=3600):
        seen.append(recorded)
        if recorded.position >= until:
            break
    return seen
