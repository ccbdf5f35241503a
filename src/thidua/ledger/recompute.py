"""A cluster-year recomputed offline from its exported events, and what differs from what
the server published.

An auditor's evidence file holds a cluster's events (`RecordedEvent`) and what the server
published for a year: its live standings (rows written with `standing_json`) and its
frozen results (rows written with `result_json`). `recompute` folds the year's events
exactly as the standings projection does (`domain.standings.YearInputs`), decoding them
with the log's own codec, and gives:

- the standings rows the projection holds after the year's last event
  (`domain.standings.compute_standings`), as JSON;
- each frozen result, the mid-year review and every finalised version, computed again
  from the year's aggregates as they stood just before its event, on the day it was
  decided, with the function the command handlers froze it with
  (`domain.results.frozen_result`), beside what the event froze.

`compare_standings`, `check_results` and `compare_results` name each difference as a
`Difference`, in words an auditor reads. Pure: nothing here needs a database or a network.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from thidua.domain.days import local_day
from thidua.domain.errors import DomainError
from thidua.domain.results import YearResult, frozen_result
from thidua.domain.scorecard import Layer
from thidua.domain.standings import YearInputs, standing_json, standings_year
from thidua.ledger.codec import EventCodec
from thidua.ledger.records import RecordedEvent

__all__ = [
    "FINAL",
    "MID_YEAR",
    "STANDINGS",
    "Difference",
    "FrozenResult",
    "Recomputed",
    "check_results",
    "compare_results",
    "compare_standings",
    "recompute",
    "result_json",
    "standing_json",
]

STANDINGS, MID_YEAR, FINAL = "standings", "mid_year", "final"
_FREEZING = {"MidYearReviewRecorded": MID_YEAR, "Finalised": FINAL}


@dataclass(frozen=True)
class FrozenResult:
    """A result the log froze, and the same result computed again from the log."""

    kind: str  # MID_YEAR or FINAL
    version: int  # the finalised result's version; 1 for the mid-year review
    position: int  # where the log froze it
    frozen: Mapping[str, Any] = field(hash=False)  # the event's payload `result`
    recomputed: Mapping[str, Any] | None = field(hash=False)  # None: see `refusal`
    refusal: str | None = None  # why it could not be computed again

    def published(self) -> dict[str, Any]:
        """The frozen result as the server publishes it (`result_json`)."""
        return result_json(self.kind, self.version, self.frozen)


@dataclass(frozen=True)
class Recomputed:
    """A cluster-year as its events give it."""

    year: int
    position: int  # the last of the year's events folded (0: the log holds none)
    standings: list[dict[str, Any]] = field(hash=False)  # `standing_json` rows, best first
    results: tuple[FrozenResult, ...]  # in log order


def result_json(kind: str, version: int, result: YearResult | Mapping[str, Any]) -> dict[str, Any]:
    """A frozen result as the server publishes it into an evidence file."""
    body = result.to_json() if isinstance(result, YearResult) else dict(result)
    return {"kind": kind, "version": version, "result": body}


def recompute(
    records: Iterable[RecordedEvent], year: int, codec: EventCodec | None = None
) -> Recomputed:
    """Fold one cluster's events (in log order; other years' and other streams' events are
    skipped) into the year's aggregates, as the standings projection does."""
    codec = codec or EventCodec()
    inputs = YearInputs()
    results: list[FrozenResult] = []
    position, tenants = 0, set[str]()
    for record in sorted(records, key=lambda r: r.position):
        tenants.add(record.tenant)
        if standings_year(record.stream_id) != year:
            continue
        event: Any = codec.decode(record)
        kind = _FREEZING.get(type(event).__name__)
        if kind is not None and record.stream_id.startswith("year/"):
            results.append(_frozen_again(inputs, record, event, kind))
        inputs.apply(record.stream_id, event, record.occurred_at)
        position = record.position
    if len(tenants) > 1:
        raise ValueError(f"events of several clusters: {', '.join(sorted(tenants))}")
    rows = sorted(inputs.standings(), key=lambda s: (list(Layer).index(s.layer), s.rank, s.unit))
    return Recomputed(year, position, [standing_json(s) for s in rows], tuple(results))


def _frozen_again(inputs: YearInputs, record: RecordedEvent, event: Any, kind: str) -> FrozenResult:
    """The result an event froze, beside the result computed again just before it."""
    version = int(event.result_version) if kind == FINAL else 1
    frozen = event.result
    if inputs.year is None:
        refusal = "nhật ký chưa mở năm thi đua trước sự kiện này"
        return FrozenResult(kind, version, record.position, frozen, None, refusal)
    try:
        result = frozen_result(inputs.year, inputs.cards, local_day(record.occurred_at))
    except DomainError as refused:
        return FrozenResult(kind, version, record.position, frozen, None, str(refused))
    return FrozenResult(kind, version, record.position, frozen, result.to_json())


# Differences.


@dataclass(frozen=True)
class Difference:
    """One figure the server published that the log does not give.

    `published` is the server's figure (in its frozen results: what its event froze, or,
    from `compare_results`, the copy it published); `recomputed` the log's (computed
    again, or as its event froze it). Both as shown to the auditor; None when that side
    has no such row or result. `text` says it all in Vietnamese."""

    subject: str  # STANDINGS, MID_YEAR or FINAL
    version: int | None  # the result's version (1 for the mid-year review); None: standings
    layer: str | None  # "self", "verified", "city"; None: not one layer's
    unit: str | None  # the unit's code; None: not one unit's
    field: str  # "total", "rank", "parts.B"...; "row" or "result" when one side has none
    published: str | None
    recomputed: str | None
    text: str

    def __str__(self) -> str:
        return self.text


LAYER_NAMES = {
    Layer.SELF.value: "lớp tự chấm",
    Layer.VERIFIED.value: "lớp cụm chấm",
    Layer.CITY.value: "lớp thành phố điều chỉnh",
}
FIELD_NAMES = {
    "year": "năm thi đua",
    "on": "ngày chốt",
    "on_day": "ngày tính",
    "criteria_version": "phiên bản bộ tiêu chí",
    "rank": "thứ hạng",
    "decided_by": "căn cứ xếp hạng",
    "first": "dẫn đầu",
    "may_be_first": "được xếp thứ nhất",
    "floor": "lý do không được xếp thứ nhất",
    "base": "điểm cơ bản",
    "bonus": "điểm thưởng",
    "deductions": "điểm trừ",
    "total": "tổng điểm",
    "ranked_total": "tổng điểm trong bảng xếp hạng",
    "part_a": "điểm phần A xét khi bằng điểm",
    "a1_points": "điểm tiêu chí A1",
    "largest_deduction": "khoản điểm trừ lớn nhất",
    "complete": "chấm đủ tiêu chí cơ bản",
    "submitted_at": "thời điểm nộp bản tự chấm",
    "flagged": "tiêu chí phải chấm lại",
    "new_model": "có mô hình mới đã thực hiện",
    "notes": "ghi chú",
    "leader": "đơn vị dẫn đầu",
}
_DECIMALS = {
    "base",
    "bonus",
    "deductions",
    "total",
    "ranked_total",
    "part_a",
    "a1_points",
    "largest_deduction",
}
_LAYER_ORDER = {layer.value: i for i, layer in enumerate(Layer)}

Key = tuple[str | None, str | None]  # (layer, unit)
Table = dict[Key, dict[str, Any]]  # a row's figures, by field


def compare_standings(
    published: Sequence[Mapping[str, Any]], recomputed: Sequence[Mapping[str, Any]]
) -> list[Difference]:
    """Every difference between the standings the server published and those recomputed
    (both `standing_json` rows, in any order): a row on one side only, or a figure."""
    found: list[Difference] = []
    tables = []
    for side, rows in (("máy chủ công bố", published), ("tính lại", recomputed)):
        table: Table = {}
        for row in rows:
            key = (_text(row.get("layer")), _text(row.get("unit")))
            if key in table:
                layer, unit = key
                text = f"{_where(None, layer, unit)}: {side} nhiều hơn một dòng"
                found.append(Difference(STANDINGS, None, layer, unit, "row", None, None, text))
            table[key] = {k: v for k, v in row.items() if k not in ("layer", "unit")}
        tables.append(table)
    theirs, ours = tables
    return found + _differences(STANDINGS, None, theirs, ours, "máy chủ công bố", "tính lại")


def check_results(results: Sequence[FrozenResult]) -> list[Difference]:
    """Every difference between what each event froze and the result computed again."""
    found: list[Difference] = []
    for result in results:
        title = _title(result.kind, result.version)
        if result.recomputed is None:
            text = f"{title}: không tính lại được kết quả đã chốt ({result.refusal})"
            found.append(
                Difference(result.kind, result.version, None, None, "result", None, None, text)
            )
            continue
        found += _result_differences(
            result.kind,
            result.version,
            result.frozen,
            result.recomputed,
            "máy chủ đã chốt",
            "tính lại",
        )
    return found


def compare_results(
    published: Sequence[Mapping[str, Any]], results: Sequence[FrozenResult]
) -> list[Difference]:
    """The frozen results the server published (`result_json` rows) against the log: each
    published copy against what its event froze, a result on one side only, then
    `check_results` (each frozen result against its recomputation)."""
    found: list[Difference] = []
    given: dict[tuple[str, int], Mapping[str, Any]] = {}
    for entry in published:
        given[(str(entry.get("kind")), _int(entry.get("version")))] = entry.get("result") or {}
    for result in results:
        kind, version = result.kind, result.version
        copy = given.pop((kind, version), None)
        if copy is None:
            text = (
                f"{_title(kind, version)}: máy chủ không công bố kết quả này,"
                f" nhật ký đã chốt ở vị trí {result.position}"
            )
            found.append(Difference(kind, version, None, None, "result", None, "có", text))
        else:
            said, against = "máy chủ công bố", "nhật ký đã chốt"
            found += _result_differences(kind, version, copy, result.frozen, said, against)
    for (kind, version), _ in sorted(given.items()):
        text = (
            f"{_title(kind, version)}: máy chủ công bố kết quả này,"
            " nhật ký không chốt kết quả nào như vậy"
        )
        found.append(Difference(kind, version, None, None, "result", "có", None, text))
    return found + check_results(results)


def _result_differences(
    kind: str,
    version: int,
    theirs: Mapping[str, Any],
    ours: Mapping[str, Any],
    said: str,
    against: str,
) -> list[Difference]:
    tables = []
    for side, data in ((said, theirs), (against, ours)):
        try:
            tables.append(_result_table(data))
        except (KeyError, TypeError, ValueError, AttributeError) as broken:
            title = _title(kind, version)
            text = f"{title}: không đọc được kết quả {side} ({type(broken).__name__}: {broken})"
            return [Difference(kind, version, None, None, "result", None, None, text)]
    return _differences(kind, version, tables[0], tables[1], said, against)


def _result_table(data: Mapping[str, Any]) -> Table:
    """A result's figures by (layer, unit): the whole result's, each layer's, each unit's
    in each layer (totals and place), and each unit's criteria to re-score."""
    table: Table = {(None, None): {"on": data["on"], "criteria_version": data["criteria_version"]}}
    for layer, found in data["layers"].items():
        table[(layer, None)] = {"leader": found["ranking"].get("first")}
        for totals in found["totals"]:
            row = {k: v for k, v in totals.items() if k != "unit"}
            table[(layer, totals["unit"])] = row
        for place in found["ranking"]["places"]:
            row = table.setdefault((layer, place["unit"]), {})
            row |= {
                "rank": place["rank"],
                "ranked_total": place["total"],
                "decided_by": place["decided_by"],
                "floor": place["floor"],
                "may_be_first": place["may_be_first"],
            }
    for unit, codes in data["flagged"].items():
        table[(None, unit)] = {"flagged": codes}
    return table


def _differences(
    subject: str, version: int | None, theirs: Table, ours: Table, said: str, against: str
) -> list[Difference]:
    found: list[Difference] = []
    for key in sorted(theirs.keys() | ours.keys(), key=_order):
        layer, unit = key
        where = _where(_title(subject, version), layer, unit)
        mine, other = theirs.get(key), ours.get(key)
        if mine is None or other is None:
            present = mine if other is None else other
            shown = _summary(present or {})
            if mine is None:
                text = f"{where}: {said} không có, {against} có{shown}"
            else:
                text = f"{where}: {said} có{shown}, {against} không có"
            has = "có" if mine is not None else None
            lacks = "có" if other is not None else None
            found.append(Difference(subject, version, layer, unit, "row", has, lacks, text))
            continue
        for name in _fields(mine, other):
            a, b = mine.get(name), other.get(name)
            if name == "parts":
                found += _part_differences(subject, version, where, key, a, b, said, against)
            elif not _same(name, a, b):
                text = (
                    f"{where}: {_label(name)} {said} {_shown(name, a)}, {against} {_shown(name, b)}"
                )
                found.append(
                    Difference(
                        subject, version, layer, unit, name, _shown(name, a), _shown(name, b), text
                    )
                )
    return found


def _part_differences(
    subject: str,
    version: int | None,
    where: str,
    key: Key,
    theirs: Any,
    ours: Any,
    said: str,
    against: str,
) -> list[Difference]:
    """Each part's points (A, B...) compared by itself."""
    theirs = theirs if isinstance(theirs, Mapping) else {}
    ours = ours if isinstance(ours, Mapping) else {}
    found = []
    for part in sorted(theirs.keys() | ours.keys()):
        a, b = theirs.get(part), ours.get(part)
        if _same("total", a, b):
            continue
        shown_a, shown_b = _shown("total", a), _shown("total", b)
        text = f"{where}: điểm phần {part} {said} {shown_a}, {against} {shown_b}"
        name = f"parts.{part}"
        found.append(Difference(subject, version, key[0], key[1], name, shown_a, shown_b, text))
    return found


def _fields(theirs: Mapping[str, Any], ours: Mapping[str, Any]) -> list[str]:
    """The fields of two rows, the ones named first in FIELD_NAMES's order."""
    names = [*theirs, *(k for k in ours if k not in theirs)]
    order = list(FIELD_NAMES)
    return sorted(names, key=lambda n: (order.index(n) if n in order else len(order), n))


def _same(name: str, a: Any, b: Any) -> bool:
    """Equal figures: decimals by value ("85.5" is "85.50"), moments by instant."""
    if a == b:
        return True
    if a is None or b is None:
        return False
    try:
        if name in _DECIMALS:
            return Decimal(str(a)) == Decimal(str(b))
        if name == "submitted_at":
            return datetime.fromisoformat(str(a)) == datetime.fromisoformat(str(b))
    except (InvalidOperation, ValueError):
        return False
    return False


def _shown(name: str, value: Any) -> str:
    if value is None:
        return "không có"
    if isinstance(value, bool):
        return "có" if value else "không"
    if name == "notes" and isinstance(value, list):
        texts = [n.get("text", "") if isinstance(n, Mapping) else str(n) for n in value]
        return "; ".join(texts) or "không có"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "không có"
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {v}" for k, v in value.items()) or "không có"
    return str(value)


def _summary(row: Mapping[str, Any]) -> str:
    """A row's place and total, to say which row one side lacks."""
    said = [
        f"{_label(name)} {_shown(name, row[name])}" for name in ("rank", "total") if name in row
    ]
    return f" ({', '.join(said)})" if said else ""


def _label(name: str) -> str:
    return FIELD_NAMES.get(name, name)


def _title(subject: str, version: int | None) -> str:
    if subject == MID_YEAR:
        return "Sơ kết 6 tháng"
    if subject == FINAL:
        return f"Kết quả chốt phiên bản {version}"
    return ""


def _where(title: str | None, layer: str | None, unit: str | None) -> str:
    """Which figure: the result, its layer, its unit; "Lớp tự chấm, đơn vị dv-3"."""
    said = [
        *([title] if title else []),
        *([LAYER_NAMES.get(layer, f"lớp {layer}")] if layer is not None else []),
        *([f"đơn vị {unit}"] if unit is not None else []),
    ]
    text = ", ".join(said) or "Bảng xếp hạng"
    return text[0].upper() + text[1:]


def _order(key: Key) -> tuple[int, str]:
    layer, unit = key
    rank = -1 if layer is None else _LAYER_ORDER.get(layer, len(_LAYER_ORDER))
    return (rank, unit or "")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1
