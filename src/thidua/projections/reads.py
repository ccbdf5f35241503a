"""Reading the projections: live standings, standings and scorecards as of a position or
a time, and the audit history. Each query reads the serving generation only."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from thidua.domain.cluster_year import ClusterYear
from thidua.domain.days import HANOI
from thidua.domain.drafts import Reader, hidden, hidden_in, published_result
from thidua.domain.entity import Entity
from thidua.domain.pledge import Pledge
from thidua.domain.results import YearResult
from thidua.domain.scorecard import CardView, Layer, Scorecard
from thidua.domain.standings import Standing, compute_standings
from thidua.projections.audit import AuditProjection
from thidua.projections.facts import Fact
from thidua.projections.standings import NAME, json_object, standing_from_record
from thidua.projections.temporal import STANDING
from thidua.store import eventstore
from thidua.store.eventstore import Connection, read_stream_upto

_SERVING = (
    "(SELECT generation FROM projection_checkpoints WHERE tenant_id = $1 AND projection = '{}')"
)
_STANDINGS_GENERATION = _SERVING.format(NAME)
_AUDIT_GENERATION = _SERVING.format(AuditProjection.name)
_ORDER = "ORDER BY layer, rank, unit"

T = TypeVar("T", bound=Entity)


async def standings(
    conn: Connection, tenant: str, year: int, reader: Reader | None = None
) -> list[Standing]:
    """The live standings of a cluster-year, every layer, best first; with a reader, as
    it may see them (`drafts.published_result`)."""
    rows = await conn.fetch(
        f"SELECT * FROM standings WHERE tenant_id = $1 AND generation = {_STANDINGS_GENERATION}"
        f" AND year = $2 {_ORDER}",
        tenant,
        year,
    )
    found = [standing_from_record(r) for r in rows]
    if not hidden({s.unit: s.submitted_at for s in found}, reader):
        return found
    # Drafts the reader may not read stand behind these rows: the standings are computed
    # again without them, from the inputs at the position the rows were computed at.
    position = await conn.fetchval(
        "SELECT position FROM projection_checkpoints WHERE tenant_id = $1 AND projection = $2",
        tenant,
        NAME,
    )
    return await standings_at(conn, tenant, year, position, reader)


async def standings_reached(conn: Connection, tenant: str) -> tuple[int, datetime | None]:
    """How far the standings have read the log, and when that position was recorded: the
    moment every standings and scorecard read at that position reflects."""
    position = await conn.fetchval(
        "SELECT position FROM projection_checkpoints WHERE tenant_id = $1 AND projection = $2",
        tenant,
        NAME,
    )
    position = int(position or 0)
    return position, await eventstore.recorded_at(conn, tenant, position)


async def position_at(conn: Connection, tenant: str, moment: datetime) -> int:
    """The last position the log had taken at this moment (0 before the first event)."""
    return await eventstore.position_at(conn, tenant, moment)


async def _replay(
    conn: Connection, tenant: str, stream_id: str, position: int, kind: type[T]
) -> T | None:
    aggregate: Any = None
    for record in await read_stream_upto(conn, tenant, stream_id, position):
        aggregate = Fact.of(record).event.mutate(aggregate)
    return aggregate if isinstance(aggregate, kind) else None


async def standings_at(
    conn: Connection, tenant: str, year: int, position: int, reader: Reader | None = None
) -> list[Standing]:
    """The standings as they were at a position: what the live projection showed then
    (with a reader, as it may see them: whose self-assessment was a draft then)."""
    cluster_year = await _replay(conn, tenant, ClusterYear.create_id(year), position, ClusterYear)
    if cluster_year is None:
        return []
    day = await conn.fetchval(
        "SELECT on_day FROM year_days"
        f" WHERE tenant_id = $1 AND generation = {_STANDINGS_GENERATION} AND year = $2"
        " AND valid_from <= $3 AND valid_to > $3",
        tenant,
        year,
        position,
    )
    if day is None:  # the standings projection has not reached this position
        return []
    pledge = await _replay(conn, tenant, Pledge.create_id(year), position, Pledge)
    cards = await _cards_at(conn, tenant, year, position)
    rows = compute_standings(cluster_year, cards, pledge, day, reader)
    return sorted(rows, key=lambda r: (r.layer, r.rank, r.unit))


async def standings_on_day(
    conn: Connection, tenant: str, year: int, day: date, reader: Reader | None = None
) -> list[Standing]:
    """The standings as of a business day: what had happened by the end of that day,
    whenever it was recorded (a year typed in later shows the same as one played live)."""
    head = STANDING - 1
    cluster_year = await _replay(conn, tenant, ClusterYear.create_id(year), head, ClusterYear)
    if cluster_year is None:
        return []
    pledge = await _replay(conn, tenant, Pledge.create_id(year), head, Pledge)
    cards = await _cards_on(conn, tenant, year, datetime.combine(day + timedelta(1), time(), HANOI))
    rows = compute_standings(cluster_year, cards, pledge, day, reader)
    return sorted(rows, key=lambda r: (r.layer, r.rank, r.unit))


async def _cards_on(
    conn: Connection, tenant: str, year: int, before: datetime
) -> dict[str, CardView]:
    """Each criterion's latest entry that happened before this moment, in every layer, and
    each unit's submission then (withdrawn by a self score after it, as the domain says)."""
    entries: dict[str, dict[Layer, dict[str, dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    last_self: dict[str, datetime] = {}
    for row in await conn.fetch(
        "SELECT DISTINCT ON (unit, layer, code) unit, layer, code, points, criterion, scored_at"
        " FROM score_entries"
        f" WHERE tenant_id = $1 AND generation = {_STANDINGS_GENERATION} AND year = $2"
        " AND scored_at < $3 ORDER BY unit, layer, code, scored_at DESC, valid_from DESC",
        tenant,
        year,
        before,
    ):
        entry = {"points": row["points"], "criterion": json_object(row["criterion"])}
        entries[row["unit"]][Layer(row["layer"])][row["code"]] = entry
        if row["layer"] == Layer.SELF.value:
            last_self[row["unit"]] = max(
                row["scored_at"], last_self.get(row["unit"], row["scored_at"])
            )
    submitted: dict[str, datetime] = {}
    for row in await conn.fetch(
        "SELECT DISTINCT ON (unit) unit, submitted_at FROM submissions"
        f" WHERE tenant_id = $1 AND generation = {_STANDINGS_GENERATION} AND year = $2"
        " AND submitted_at < $3 ORDER BY unit, submitted_at DESC, valid_from DESC",
        tenant,
        year,
        before,
    ):
        if row["unit"] not in last_self or last_self[row["unit"]] <= row["submitted_at"]:
            submitted[row["unit"]] = row["submitted_at"]
    units = entries.keys() | submitted.keys()
    return {u: CardView(entries.get(u, {}), submitted.get(u)) for u in units}


async def recorded_result(
    conn: Connection, tenant: str, year: int, kind: str, version: int, reader: Reader | None
) -> YearResult | None:
    """A recorded result (`kind` mid_year or final, its version) as the reader may see it:
    computed again, with the same function, from the year and the scores as they stood
    where it was recorded, without the drafts the reader may not read (those of units
    that had not submitted then). None when the projection has not recorded it yet."""
    row = await conn.fetchrow(
        "SELECT result, position FROM year_results"
        f" WHERE tenant_id = $1 AND generation = {_STANDINGS_GENERATION}"
        " AND year = $2 AND kind = $3 AND version = $4",
        tenant,
        year,
        kind,
        version,
    )
    if row is None:
        return None
    recorded = YearResult.from_json(json_object(row["result"]))
    if not hidden_in(recorded, reader):
        return recorded
    position = row["position"]
    cluster_year = await _replay(conn, tenant, ClusterYear.create_id(year), position, ClusterYear)
    if cluster_year is None:
        return None
    cards = await _cards_at(conn, tenant, year, position)
    every = {u: cards.get(u) or CardView({}) for u in cluster_year.members_on(recorded.on)}
    return published_result(cluster_year, every, recorded.on, reader)


async def _cards_at(conn: Connection, tenant: str, year: int, position: int) -> dict[str, CardView]:
    entries: dict[str, dict[Layer, dict[str, dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for row in await conn.fetch(
        "SELECT unit, layer, code, points, criterion FROM score_entries"
        f" WHERE tenant_id = $1 AND generation = {_STANDINGS_GENERATION} AND year = $2"
        " AND valid_from <= $3 AND valid_to > $3",
        tenant,
        year,
        position,
    ):
        entry = {"points": row["points"], "criterion": json_object(row["criterion"])}
        entries[row["unit"]][Layer(row["layer"])][row["code"]] = entry
    submitted: dict[str, datetime] = dict(
        await conn.fetch(  # type: ignore[arg-type]
            "SELECT unit, submitted_at FROM submissions"
            f" WHERE tenant_id = $1 AND generation = {_STANDINGS_GENERATION} AND year = $2"
            " AND valid_from <= $3 AND valid_to > $3",
            tenant,
            year,
            position,
        )
    )
    units = entries.keys() | submitted.keys()
    return {u: CardView(entries.get(u, {}), submitted.get(u)) for u in units}


@dataclass(frozen=True)
class ScoreEntry:
    layer: str
    code: str
    points: Decimal
    explanation: str
    evidence: list[str]
    criteria_version: str
    scored_at: datetime
    position: int  # where it was set


@dataclass(frozen=True)
class ScorecardAt:
    year: int
    unit: str
    entries: list[ScoreEntry]
    submitted_at: datetime | None


async def scorecard_at(
    conn: Connection, tenant: str, year: int, unit: str, position: int | None = None
) -> ScorecardAt:
    """A unit's scorecard, every layer, as it stood at a position (None: now)."""
    return (await scorecards_at(conn, tenant, year, [unit], position))[0]


async def scorecards_at(
    conn: Connection, tenant: str, year: int, units: list[str], position: int | None = None
) -> list[ScorecardAt]:
    """Several units' scorecards at once (two statements, whatever their number)."""
    at = STANDING - 1 if position is None else position
    rows = await conn.fetch(
        "SELECT unit, layer, code, points, explanation, evidence, criteria_version, scored_at,"
        " valid_from FROM score_entries"
        f" WHERE tenant_id = $1 AND generation = {_STANDINGS_GENERATION}"
        " AND year = $2 AND unit = ANY($3::text[]) AND valid_from <= $4 AND valid_to > $4"
        " ORDER BY unit, layer, code",
        tenant,
        year,
        units,
        at,
    )
    submitted: dict[str, datetime] = dict(
        await conn.fetch(  # type: ignore[arg-type]
            "SELECT unit, submitted_at FROM submissions"
            f" WHERE tenant_id = $1 AND generation = {_STANDINGS_GENERATION}"
            " AND year = $2 AND unit = ANY($3::text[]) AND valid_from <= $4 AND valid_to > $4",
            tenant,
            year,
            units,
            at,
        )
    )
    entries: dict[str, list[ScoreEntry]] = defaultdict(list)
    for r in rows:
        entries[r["unit"]].append(
            ScoreEntry(
                layer=r["layer"],
                code=r["code"],
                points=r["points"],
                explanation=r["explanation"],
                evidence=json_object(r["evidence"]),  # type: ignore[arg-type]
                criteria_version=r["criteria_version"],
                scored_at=r["scored_at"],
                position=r["valid_from"],
            )
        )
    return [ScorecardAt(year, u, entries.get(u, []), submitted.get(u)) for u in units]


@dataclass(frozen=True)
class AuditFilter:
    unit: str | None = None
    criterion: str | None = None
    actor: str | None = None
    subject: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_position: int = 0  # a page continues after the last position it saw
    before_position: int | None = None  # positions below this one only
    year: int | None = None
    units: tuple[str, ...] | None = None  # any of these units


async def audit_history(
    conn: Connection, tenant: str, where: AuditFilter, limit: int = 100
) -> list[dict[str, Any]]:
    """Changes in log order, filtered; page through with after_position."""
    rows = await conn.fetch(
        "SELECT * FROM audit_history"
        f" WHERE tenant_id = $1 AND generation = {_AUDIT_GENERATION} AND position > $2"
        " AND ($3::text IS NULL OR unit = $3)"
        " AND ($4::text IS NULL OR criteria @> ARRAY[$4::text])"
        " AND ($5::text IS NULL OR actor = $5)"
        " AND ($6::text IS NULL OR subject = $6)"
        " AND ($7::timestamptz IS NULL OR recorded_at >= $7)"
        " AND ($8::timestamptz IS NULL OR recorded_at < $8)"
        " AND ($10::int8 IS NULL OR position < $10)"
        " AND ($11::int4 IS NULL OR year = $11)"
        " AND ($12::text[] IS NULL OR unit = ANY($12::text[]))"
        " ORDER BY position LIMIT $9",
        tenant,
        where.after_position,
        where.unit,
        where.criterion,
        where.actor,
        where.subject,
        where.since,
        where.until,
        limit,
        where.before_position,
        where.year,
        None if where.units is None else list(where.units),
    )
    return [_audit_row(r) for r in rows]


async def finalised_positions(conn: Connection, tenant: str, year: int) -> dict[int, int]:
    """Where each finalised result version of a year was recorded: version -> position."""
    rows = await conn.fetch(
        "SELECT version, position FROM year_results"
        f" WHERE tenant_id = $1 AND generation = {_STANDINGS_GENERATION} AND year = $2"
        " AND kind = 'final'",
        tenant,
        year,
    )
    return {r["version"]: r["position"] for r in rows}


LAST_POSITION = 2**63 - 1


async def scorecards_replayed(
    conn: Connection, tenant: str, year: int, units: list[str], position: int | None = None
) -> list[Scorecard]:
    """Units' scorecard aggregates as they stood at a position (None: now), in units'
    order; a unit that has none yet gets an empty card."""
    at = LAST_POSITION if position is None else position
    found = []
    for unit in units:
        stream = Scorecard.create_id(year, unit)
        card = await _replay(conn, tenant, stream, at, Scorecard)
        found.append(card or Scorecard(year=year, unit=unit))
    return found


def _audit_row(row: Any) -> dict[str, Any]:
    found = dict(row)
    del found["tenant_id"], found["generation"]
    for side in ("before", "after"):
        found[side] = None if found[side] is None else json_object(found[side])
    return found
