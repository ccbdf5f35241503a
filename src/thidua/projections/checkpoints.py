"""The projections' checkpoints (`projection_checkpoints`): how far each projection has
read each cluster's log, in which generation of its rows and at which code version.

The projections own this table: nothing else reads or writes it. The log and its heads
are the store's; what the projections need of them they ask the store for.
"""

from dataclasses import dataclass

import asyncpg

from thidua.errors import UnknownTenant
from thidua.store.eventstore import Connection, EventStore


@dataclass(frozen=True)
class Checkpoint:
    version: int
    generation: int
    position: int


async def lock_checkpoint(
    conn: Connection, tenant: str, projection: str, version: int, *, lock: bool = True
) -> Checkpoint:
    """The tenant's checkpoint for the projection (made on first use, at this code
    version), locked for update unless `lock` is false."""
    row = await conn.fetchrow(
        "INSERT INTO projection_checkpoints AS c (tenant_id, projection, version)"
        " VALUES ($1, $2, $3) ON CONFLICT (tenant_id, projection) DO "
        + ("UPDATE SET version = c.version" if lock else "NOTHING")
        + " RETURNING version, generation, position",
        tenant,
        projection,
        version,
    )
    if row is None:  # it existed and was not locked
        row = await conn.fetchrow(
            "SELECT version, generation, position FROM projection_checkpoints"
            " WHERE tenant_id = $1 AND projection = $2",
            tenant,
            projection,
        )
    assert row is not None
    return Checkpoint(row["version"], row["generation"], row["position"])


async def move_checkpoint(
    conn: Connection, tenant: str, projection: str, generation: int, position: int
) -> None:
    """The generation's rows now reflect the log up to this position."""
    await conn.execute(
        "UPDATE projection_checkpoints SET position = $4, updated_at = now()"
        " WHERE tenant_id = $1 AND projection = $2 AND generation = $3",
        tenant,
        projection,
        generation,
        position,
    )


async def serve_generation(
    conn: Connection, tenant: str, projection: str, checkpoint: Checkpoint
) -> None:
    """Readers see the checkpoint's generation from this transaction's commit on."""
    await conn.execute(
        "UPDATE projection_checkpoints SET generation = $3, position = $4, version = $5,"
        " updated_at = now() WHERE tenant_id = $1 AND projection = $2",
        tenant,
        projection,
        checkpoint.generation,
        checkpoint.position,
        checkpoint.version,
    )


async def mark_building(
    conn: Connection, tenant: str, projection: str, generation: int | None
) -> None:
    """A rebuild begins this generation (None: no rows but the serving generation's are
    left); committed before its rows land, so an interrupted rebuild is found."""
    await conn.execute(
        "UPDATE projection_checkpoints SET building = $3 WHERE tenant_id = $1 AND projection = $2",
        tenant,
        projection,
        generation,
    )


async def building(store: EventStore) -> list[asyncpg.Record]:
    """The (cluster, projection) pairs with a generation begun and not cleaned: a rebuild
    running, or one interrupted (only these, not every cluster)."""
    return await store.report("projections_building")


async def log_version(store: EventStore, tenant: str) -> tuple[int, ...]:
    """The tenant's head and its projections' (version, generation, checkpoint), in one
    round trip: every read model derives from the log, so while this is unchanged, so
    is every answer about the tenant."""
    rows = await store.report("log_version", tenant)
    if not rows:
        raise UnknownTenant(tenant)
    checkpoints = (r[k] or 0 for r in rows for k in ("version", "generation", "position"))
    return (rows[0]["head"], *checkpoints)


async def reached(store: EventStore, tenant: str, projection: str) -> tuple[int, int]:
    """The tenant's head and the position one projection has read it to (0 if never),
    in one round trip."""
    rows = await store.report("log_version", tenant)
    if not rows:
        raise UnknownTenant(tenant)
    found = next((r["position"] for r in rows if r["projection"] == projection), None)
    return rows[0]["head"], found or 0


async def progress(store: EventStore) -> list[asyncpg.Record]:
    """Every cluster's head position and its projections' checkpoints (no data): a row
    per cluster and projection, or one with no projection for a cluster never projected."""
    return await store.report("projection_progress")


async def behind(store: EventStore, versions: dict[str, int]) -> list[asyncpg.Record]:
    """The (cluster, projection) pairs behind their log or of another version, only them."""
    return await store.report("projections_behind", list(versions), list(versions.values()))
