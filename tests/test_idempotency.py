"""A retried command records nothing twice and gets its first result back."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from thidua.store import EventStore, Metadata, NewEvent

META = Metadata(actor="Trần Thị B", role="member_officer")


async def test_retried_key_records_nothing_twice(
    store: EventStore, new_tenant: Callable[[], Awaitable[str]]
) -> None:
    tenant = await new_tenant()
    stream = str(uuid.uuid4())
    events = [NewEvent("tests:Scored", b'{"n":1}'), NewEvent("tests:Scored", b'{"n":2}')]

    first = await store.append(tenant, stream, 0, events, META, idempotency_key="cmd-1")
    again = await store.append(tenant, stream, 0, events, META, idempotency_key="cmd-1")

    assert first.positions == again.positions == (1, 2)
    assert first.stream_version == again.stream_version == 2
    assert len(await store.read_log(tenant)) == 2


async def test_concurrent_retries_of_one_key_record_once(
    store: EventStore, new_tenant: Callable[[], Awaitable[str]]
) -> None:
    tenant = await new_tenant()
    stream = str(uuid.uuid4())
    event = [NewEvent("tests:Scored", b"{}")]

    results = await asyncio.gather(
        *(store.append(tenant, stream, 0, event, META, idempotency_key="k") for _ in range(20))
    )

    assert {r.positions for r in results} == {(1,)}
    assert len(await store.read_log(tenant)) == 1


async def test_keys_are_per_tenant(
    store: EventStore, new_tenant: Callable[[], Awaitable[str]]
) -> None:
    a, b = await new_tenant(), await new_tenant()
    event = [NewEvent("tests:Scored", b"{}")]
    await store.append(a, "s", 0, event, META, idempotency_key="same")
    await store.append(b, "s", 0, event, META, idempotency_key="same")
    assert len(await store.read_log(a)) == len(await store.read_log(b)) == 1
