"""Writing many rows in one statement: column arrays unnested into INSERT or UPDATE.

Row-level security refuses COPY FROM, so a batch is one INSERT ... SELECT FROM unnest(...),
a round trip for thousands of rows."""

from collections.abc import Sequence
from typing import Any

from thidua.store.eventstore import Connection

Columns = Sequence[tuple[str, str]]  # (name, PostgreSQL type); "text[]" travels joined
_SEPARATOR = "\x1f"  # unit separator: joins a text[] value, never inside a code


def _array(values: list[Any], pg_type: str) -> tuple[list[Any], str]:
    if pg_type == "text[]":
        return [_SEPARATOR.join(v) for v in values], "text"
    return values, pg_type


def _select(name: str, pg_type: str) -> str:
    return f"string_to_array(u.{name}, E'\\x1f')" if pg_type == "text[]" else f"u.{name}"


async def insert_rows(
    conn: Connection,
    table: str,
    columns: Columns,
    rows: Sequence[Sequence[Any]],
    tenant: str,
    generation: int,
    *,
    replacing: Sequence[str] = (),
) -> None:
    """Insert rows (values in `columns` order) for a tenant's generation; with `replacing`
    (the table's key after tenant and generation), a row with the same key is replaced."""
    if not rows:
        return
    arrays, casts = [], []
    for index, ((_, pg_type), values) in enumerate(
        zip(columns, zip(*rows, strict=True), strict=True)
    ):
        array, element = _array(list(values), pg_type)
        arrays.append(array)
        casts.append(f"${index + 3}::{element}[]")
    names = ", ".join(name for name, _ in columns)
    selects = ", ".join(_select(name, pg_type) for name, pg_type in columns)
    await conn.execute(
        f"INSERT INTO {table} (tenant_id, generation, {names})"
        f" SELECT $1, $2, {selects} FROM unnest({', '.join(casts)}) AS u({names})"
        f"{_on_conflict(columns, replacing)}",
        tenant,
        generation,
        *arrays,
    )


def _on_conflict(columns: Columns, key: Sequence[str]) -> str:
    if not key:
        return ""
    values = ", ".join(f"{name} = EXCLUDED.{name}" for name, _ in columns if name not in key)
    return f" ON CONFLICT (tenant_id, generation, {', '.join(key)}) DO UPDATE SET {values}"


async def delete_generation(conn: Connection, table: str, tenant: str, keep: int) -> int:
    """Drop a tenant's rows of every generation but `keep`; returns how many went."""
    status = await conn.execute(
        f"DELETE FROM {table} WHERE tenant_id = $1 AND generation <> $2", tenant, keep
    )
    return int(status.split()[-1])
