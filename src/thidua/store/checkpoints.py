"""Signed checkpoints of a cluster's tree, the witnesses' cosignatures, and the queue of
clusters whose log grew since their last checkpoint (filled by append_events)."""

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from thidua.store.eventstore import Connection, EventStore


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str  # as the log signed it
    signed_at: datetime
    cosignatures: tuple[str, ...] = ()  # the witnesses' signature lines

    @property
    def cosigned(self) -> str:
        """The note with the witnesses' cosignatures as further signature lines."""
        return self.note + "".join(self.cosignatures)


async def lock_signing(conn: Connection, tenant: str) -> None:
    """Hold the cluster's signing until the transaction ends: signers in other processes
    (or a finalisation's) then sign in turn, each seeing what the one before saved."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"sign:{tenant}")


async def latest(conn: Connection, tenant: str) -> StoredCheckpoint | None:
    row = await conn.fetchrow(
        "SELECT size, root, note, signed_at FROM log_checkpoints WHERE tenant_id = $1"
        " ORDER BY size DESC LIMIT 1",
        tenant,
    )
    return None if row is None else await _with_cosignatures(conn, tenant, row)


async def at_size(conn: Connection, tenant: str, size: int) -> StoredCheckpoint | None:
    row = await conn.fetchrow(
        "SELECT size, root, note, signed_at FROM log_checkpoints"
        " WHERE tenant_id = $1 AND size = $2",
        tenant,
        size,
    )
    return None if row is None else await _with_cosignatures(conn, tenant, row)


async def _with_cosignatures(
    conn: Connection, tenant: str, row: asyncpg.Record
) -> StoredCheckpoint:
    lines = await conn.fetch(
        "SELECT line FROM log_cosignatures WHERE tenant_id = $1 AND size = $2 ORDER BY witness",
        tenant,
        row["size"],
    )
    return StoredCheckpoint(
        row["size"],
        bytes(row["root"]),
        row["note"],
        row["signed_at"],
        tuple(r["line"] for r in lines),
    )


async def save(conn: Connection, tenant: str, size: int, root: bytes, note: str) -> None:
    """Keep a signed checkpoint (a second signer of the same size keeps the first), and take
    the cluster off the queue unless its log has grown past it meanwhile."""
    await conn.execute(
        "INSERT INTO log_checkpoints (tenant_id, size, root, note) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING",
        tenant,
        size,
        root,
        note,
    )
    await conn.execute("DELETE FROM checkpoints_due WHERE tenant_id = $1", tenant)
    await conn.execute(
        "INSERT INTO checkpoints_due (tenant_id) SELECT tenant_id FROM event_log_heads"
        " WHERE tenant_id = $1 AND position > $2 ON CONFLICT DO NOTHING",
        tenant,
        size,
    )


async def save_cosignature(
    conn: Connection, tenant: str, size: int, witness: str, line: str
) -> None:
    await conn.execute(
        "INSERT INTO log_cosignatures (tenant_id, size, witness, line) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING",
        tenant,
        size,
        witness,
        line,
    )


async def last_cosigned(conn: Connection, tenant: str, witness: str) -> int:
    """The largest size this witness has cosigned for the cluster (0: none)."""
    size: int | None = await conn.fetchval(
        "SELECT max(size) FROM log_cosignatures WHERE tenant_id = $1 AND witness = $2",
        tenant,
        witness,
    )
    return size or 0


async def sizes(conn: Connection, tenant: str) -> list[int]:
    rows = await conn.fetch(
        "SELECT size FROM log_checkpoints WHERE tenant_id = $1 ORDER BY size", tenant
    )
    return [r["size"] for r in rows]


async def due(store: EventStore, limit: int) -> list[str]:
    """Clusters whose log grew since their last checkpoint, oldest first."""
    return [r["tenant_id"] for r in await store.report("due_checkpoints", limit)]
