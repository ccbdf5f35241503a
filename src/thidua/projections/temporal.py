"""Dated rows: each valid from the position that set it until the one that replaced it.

A row still standing has valid_to = STANDING, so "as of position p" is
valid_from <= p < valid_to, and "now" is valid_to = STANDING.
"""

from collections.abc import Hashable, Sequence
from typing import Any

from thidua.projections.sql import Columns, insert_rows
from thidua.store.eventstore import Connection

STANDING = 2**63 - 1  # the largest bigint: not replaced yet

Key = tuple[Hashable, ...]


class Temporal:
    """The pending writes of one dated table, and which row of each key stands.

    `keys` name the columns that identify a thing (a unit's score on one criterion in one
    layer); `values` what it was. What stands is memory the projection keeps; the rows
    set or closed since the last flush are written by `flush`.
    """

    def __init__(self, table: str, keys: Columns, values: Columns) -> None:
        self.table = table
        self.keys = tuple(keys)
        self.columns = (*keys, *values, ("valid_from", "int8"), ("valid_to", "int8"))
        self.standing: dict[Key, int] = {}  # key -> valid_from of its standing row
        self._new: dict[tuple[Key, int], list[Any]] = {}  # rows set since the last flush
        self._closed: list[tuple[Key, int, int]] = []  # flushed rows replaced since

    def set(self, key: Key, values: Sequence[Any], position: int) -> None:
        self.end(key, position)
        self._new[(key, position)] = [*key, *values, position, STANDING]
        self.standing[key] = position

    def end(self, key: Key, position: int) -> None:
        """The thing stops being true at this position (replaced or withdrawn)."""
        since = self.standing.pop(key, None)
        if since is None:
            return
        pending = self._new.get((key, since))
        if pending is not None:
            pending[-1] = position
        else:
            self._closed.append((key, since, position))

    def discard(self) -> None:
        """Forget pending writes: the rows are already in the table (a warm-up replay)."""
        self._new.clear()
        self._closed.clear()

    async def flush(self, conn: Connection, tenant: str, generation: int) -> None:
        if self._closed:
            await self._close(conn, tenant, generation)
        await insert_rows(
            conn, self.table, self.columns, list(self._new.values()), tenant, generation
        )
        self.discard()

    async def _close(self, conn: Connection, tenant: str, generation: int) -> None:
        keys = [name for name, _ in self.keys]
        casts = [f"${i + 3}::{pg_type}[]" for i, (_, pg_type) in enumerate(self.keys)]
        n = len(keys)
        arrays = [list(column) for column in zip(*(key for key, _, _ in self._closed), strict=True)]
        matches = " AND ".join(f"t.{k} = c.{k}" for k in keys)
        await conn.execute(
            f"UPDATE {self.table} AS t SET valid_to = c.valid_to"
            f" FROM unnest({', '.join(casts)}, ${n + 3}::int8[], ${n + 4}::int8[])"
            f" AS c({', '.join(keys)}, valid_from, valid_to)"
            f" WHERE t.tenant_id = $1 AND t.generation = $2 AND {matches}"
            # Only a standing row is ever closed; saying so lets the index find it at once.
            f" AND t.valid_from = c.valid_from AND t.valid_to = {STANDING}",
            tenant,
            generation,
            *arrays,
            [since for _, since, _ in self._closed],
            [until for _, _, until in self._closed],
        )
