"""What the pages show, as tables to download: a cluster-year's standings (each layer),
a unit's scorecard with its history, every scorecard of the year, the finalised result
versions. Each table's title rows name the cluster, the year, the layer or unit, and the
moment the figures reflect (the log position, when it was recorded, the business day).

The figures come from the service's reads, shaped by the reader's right to drafts exactly
as GraphQL shapes them (`reader`: None reads everything, as the server's own CLI does);
who may ask is the caller's business (`api/sheets.py`).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from thidua.api.tables import POINTS, Column, Table
from thidua.api.workbooks import role_label
from thidua.domain.cluster_year import ClusterYear
from thidua.domain.criteria import CriteriaSet, Criterion, Kind
from thidua.domain.days import HANOI
from thidua.domain.drafts import Reader
from thidua.domain.errors import InvalidState
from thidua.domain.ranking import DecidedBy, Floor
from thidua.domain.results import YearResult
from thidua.domain.scorecard import Layer
from thidua.domain.standings import Standing
from thidua.projections.reads import ScorecardAt
from thidua.service.emulation import Emulation
from thidua.service.reads import Moment, Reads

LAYER_NAMES = {
    Layer.SELF: "Tự chấm điểm",
    Layer.VERIFIED: "Cụm chấm (thẩm định)",
    Layer.CITY: "Thành phố điều chỉnh (lớp xếp hạng)",
}
SHEET_NAMES = {Layer.SELF: "Tự chấm", Layer.VERIFIED: "Cụm chấm", Layer.CITY: "Thành phố"}
KIND_NAMES = {Kind.BASE: "Cơ bản", Kind.BONUS: "Điểm thưởng", Kind.DEDUCTION: "Điểm trừ"}
DECIDED = {
    DecidedBy.TOTAL: "Tổng điểm",
    DecidedBy.PART_A: "Điểm phần A cao hơn",
    DecidedBy.DEDUCTIONS: "Ít điểm trừ hơn",
    DecidedBy.SUBMISSION: "Nộp bản tự chấm đầy đủ sớm hơn",
    DecidedBy.TIED: "Đồng hạng: cần bỏ phiếu",
    DecidedBy.FLOOR: "Điều kiện tối thiểu",
    DecidedBy.ALONE: "Không có đơn vị để so sánh",
}
FLOORS = {
    Floor.A1_BELOW_SHARE: "Điểm A1 dưới tỷ lệ quy định",
    Floor.DEDUCTION_TOO_LARGE: "Có khoản điểm trừ từ mức quy định trở lên",
}


def layer_named(text: str) -> Layer:
    """A layer as a URL or a command line names it: self, verified, city (any case)."""
    return Layer(text.strip().lower())


@dataclass
class Export:
    """Who exports which cluster-year, when."""

    reads: Reads
    emulation: Emulation
    cluster: str
    year: int
    reader: Reader | None  # whose drafts the reader may read; None: every unit's
    by: str
    at: datetime
    name: str | None = None  # the cluster's, read once

    async def title(self, moment: Moment | None, **more: Any) -> list[tuple[str, Any]]:
        if self.name is None:
            self.name = await self.reads.cluster_name(self.cluster)
        name = self.name
        rows: list[tuple[str, Any]] = [
            ("Cụm thi đua", f"{name} ({self.cluster})"),
            ("Năm thi đua", self.year),
        ]
        rows += [(label, value) for label, value in more.values() if value is not None]
        if moment is not None:
            rows += [
                ("Số liệu tại vị trí nhật ký", moment.position),
                ("Vị trí ấy được ghi lúc (giờ Hà Nội)", moment.recorded_at),
            ]
        return [*rows, ("Thời điểm xuất (giờ Hà Nội)", self.at), ("Người xuất", self.by)]


def _names(year: ClusterYear) -> dict[str, str]:
    return {unit: m.name for unit, m in year.members.items()}


def _notes(row: Standing) -> str:
    return "\n".join(note.text for note in row.notes)


def _standings_table(
    layer: Layer, rows: list[Standing], names: dict[str, str], title: list[tuple[str, Any]]
) -> Table:
    parts = sorted({p for r in rows for p in r.parts})
    columns = [
        Column("Hạng", 7),
        Column("Mã đơn vị", 16),
        Column("Tên đơn vị", 36),
        Column("Điểm cơ bản", 12, POINTS),
        Column("Điểm thưởng", 12, POINTS),
        Column("Điểm trừ", 10, POINTS),
        Column("Tổng điểm", 11, POINTS),
        *(Column(f"Phần {p}", 10, POINTS) for p in parts),
        Column("Quy tắc phân định thứ hạng", 26),
        Column("Đứng thứ nhất", 10),
        Column("Lý do không được xếp thứ nhất", 30),
        Column("Đã chấm đủ tiêu chí", 10),
        Column("Nộp bản tự chấm lúc", 20),
        Column("Tiêu chí phải chấm lại", 16),
        Column("Ghi chú", 60),
    ]
    table = Table(SHEET_NAMES[layer], title, columns)
    for r in rows:
        table.rows.append(
            [
                r.rank,
                r.unit,
                names.get(r.unit, r.unit),
                r.base,
                r.bonus,
                r.deductions,
                r.total,
                *(r.parts.get(p, Decimal(0)) for p in parts),
                DECIDED.get(r.decided_by, r.decided_by.value),
                r.first,
                "; ".join(FLOORS.get(f, f.value) for f in r.floor) or None,
                r.complete,
                r.submitted_at,
                ", ".join(r.flagged) or None,
                _notes(r) or None,
            ]
        )
    return table


async def standings(export: Export, layers: Sequence[Layer]) -> list[Table]:
    """A table per layer asked for, best first, as the reader may see them."""
    year = await export.emulation.year(export.cluster, export.year)
    moment, rows = await export.reads.standings_then(export.cluster, export.year, export.reader)
    day = rows[0].on_day if rows else None
    tables = []
    for layer in layers:
        title = await export.title(
            moment,
            layer=("Lớp điểm", LAYER_NAMES[layer]),
            day=("Ngày nghiệp vụ của bảng xếp hạng", day),
            criteria=("Phiên bản bộ tiêu chí", rows[0].criteria_version if rows else None),
        )
        mine = [r for r in rows if r.layer == layer]
        tables.append(_standings_table(layer, mine, _names(year), title))
    return tables


# Scorecards.

CARD_COLUMNS = (
    Column("Mã đơn vị", 14),
    Column("Mã tiêu chí", 10),
    Column("Nội dung tiêu chí", 44),
    Column("Phần", 6),
    Column("Loại", 12),
    Column("Điểm tối đa", 10, POINTS),
    Column("Tự chấm", 10, POINTS),
    Column("Giải trình tự chấm", 36),
    Column("Minh chứng", 30),
    Column("Cụm chấm", 10, POINTS),
    Column("Nhận xét của cụm", 36),
    Column("Thành phố", 10, POINTS),
    Column("Lý do điều chỉnh của thành phố", 36),
    Column("Phiên bản tiêu chí khi chấm", 14),
)

HISTORY_COLUMNS = (
    Column("Vị trí", 9),
    Column("Thời điểm ghi nhận", 20),
    Column("Ngày diễn ra", 13),
    Column("Tiêu chí", 10),
    Column("Lớp điểm", 22),
    Column("Điểm trước", 11, POINTS),
    Column("Điểm sau", 11, POINTS),
    Column("Giải trình, nhận xét", 44),
    Column("Người thực hiện", 26),
    Column("Vai trò", 26),
    Column("Lý do", 30),
)


def _criteria(year: ClusterYear, on: date) -> CriteriaSet | None:
    """The version in force on the day; before any takes effect, the latest adopted."""
    if not year.criteria:
        return None
    try:
        return year.criteria_on(on)
    except InvalidState:
        return year.latest_criteria()


def _card_rows(card: ScorecardAt, criteria: CriteriaSet | None) -> list[list[Any]]:
    """A row per criterion in force (parents as headings), then any scored criterion the
    version in force no longer has."""
    by_layer: dict[tuple[str, str], Any] = {(e.code, e.layer): e for e in card.entries}
    known: list[Criterion] = list(criteria.criteria) if criteria else []
    scorable = criteria.scorable() if criteria else {}
    codes = {c.code for c in known}
    gone = sorted({e.code for e in card.entries} - codes)
    rows = []
    for c in known:
        maximum = None if c.kind is Kind.DEDUCTION else c.max_points
        rows.append(_card_row(card, c.code, c.title, c.part, KIND_NAMES[c.kind], maximum, by_layer))
        if c.code not in scorable:
            rows[-1][4] = "Nhóm (chấm qua tiêu chí con)"
    for code in gone:
        rows.append(
            _card_row(card, code, "(không còn trong bộ tiêu chí)", None, None, None, by_layer)
        )
    return rows


def _card_row(
    card: ScorecardAt,
    code: str,
    title: str,
    part: str | None,
    kind: str | None,
    maximum: Decimal | None,
    by_layer: dict[tuple[str, str], Any],
) -> list[Any]:
    own, verified, city = (by_layer.get((code, layer.value)) for layer in Layer)
    versions = sorted({e.criteria_version for e in (own, verified, city) if e is not None})
    return [
        card.unit,
        code,
        title,
        part,
        kind,
        maximum,
        own.points if own else None,
        own.explanation if own else None,
        "\n".join(own.evidence) if own else None,
        verified.points if verified else None,
        verified.explanation if verified else None,
        city.points if city else None,
        city.explanation if city else None,
        ", ".join(versions) or None,
    ]


def _points_of(value: Any) -> Decimal | None:
    if isinstance(value, dict) and value.get("points") is not None:
        return Decimal(str(value["points"]))
    return None


def _history_rows(history: list[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for h in history:
        after = h["after"] or {}
        layer = after.get("layer")
        rows.append(
            [
                h["position"],
                h["recorded_at"],
                h["occurred_at"].astimezone(HANOI).date() if h["occurred_at"] else None,
                ", ".join(h["criteria"] or ()) or None,
                LAYER_NAMES[Layer(layer)] if layer in set(Layer) else layer,
                _points_of(h["before"]),
                _points_of(after),
                after.get("explanation"),
                h["actor"],
                role_label(h["role"]),
                h["reason"],
            ]
        )
    return rows


async def scorecards(export: Export, units: list[str], history: bool) -> list[Table]:
    """A sheet per unit (its criteria and every layer), and with `history` one sheet of
    every score change of those units, all as of one moment."""
    year = await export.emulation.year(export.cluster, export.year)
    then = await export.reads.scorecards_then(export.cluster, export.year, units, history)
    criteria = _criteria(year, export.emulation.today())
    names = _names(year)
    tables = []
    for card in then.cards:
        title = await export.title(
            then.moment,
            unit=("Đơn vị", f"{names.get(card.unit, card.unit)} ({card.unit})"),
            criteria=("Phiên bản bộ tiêu chí đang áp dụng", criteria.version if criteria else None),
            submitted=("Nộp bản tự chấm lúc", card.submitted_at or "Chưa nộp"),
        )
        tables.append(Table(card.unit[:31], title, CARD_COLUMNS, _card_rows(card, criteria)))
    if history:
        title = await export.title(then.moment, units=("Đơn vị", ", ".join(units)))
        tables.append(Table("Lịch sử", title, HISTORY_COLUMNS, _history_rows(then.history)))
    return tables


# Result versions.

RESULT_COLUMNS = (
    Column("Phiên bản", 9),
    Column("Lớp điểm", 24),
    Column("Hạng", 7),
    Column("Mã đơn vị", 16),
    Column("Tên đơn vị", 36),
    Column("Điểm cơ bản", 12, POINTS),
    Column("Điểm thưởng", 12, POINTS),
    Column("Điểm trừ", 10, POINTS),
    Column("Tổng điểm", 11, POINTS),
    Column("Quy tắc phân định thứ hạng", 26),
    Column("Đứng thứ nhất", 10),
    Column("Lý do không được xếp thứ nhất", 30),
    Column("Tiêu chí phải chấm lại", 16),
)


def _result_rows(version: int, result: YearResult, names: dict[str, str]) -> list[list[Any]]:
    rows = []
    for layer, found in result.layers.items():
        totals = {t.unit: t for t in found.totals}
        for place in found.ranking.places:
            t = totals[place.unit]
            rows.append(
                [
                    version,
                    LAYER_NAMES[layer],
                    place.rank,
                    place.unit,
                    names.get(place.unit, place.unit),
                    t.base,
                    t.bonus,
                    t.deductions,
                    t.total,
                    DECIDED.get(place.decided_by, place.decided_by.value),
                    found.ranking.first == place.unit,
                    "; ".join(FLOORS.get(f, f.value) for f in place.floor) or None,
                    ", ".join(result.flagged.get(place.unit, ())) or None,
                ]
            )
    return rows


async def results(export: Export) -> list[Table]:
    """A sheet per finalised result version, as the reader may see it (the title says
    which version a reopening superseded, and why)."""
    year = await export.emulation.year(export.cluster, export.year)
    moment = await export.reads.moment(export.cluster)
    superseded = {r["result_version"]: r["reason"] for r in year.reopenings}
    names = _names(year)
    tables = []
    for version, recorded in sorted(year.results.items()):
        shown = await export.reads.result(
            export.cluster, export.year, "final", version, recorded, export.reader
        )
        state = superseded.get(version)
        title = await export.title(
            moment,
            version=("Phiên bản kết quả", version),
            day=("Ngày của kết quả", shown.on),
            criteria=("Phiên bản bộ tiêu chí", shown.criteria_version),
            state=("Tình trạng", f"Đã mở lại: {state}" if state else "Đang có hiệu lực"),
        )
        tables.append(
            Table(
                f"Phiên bản {version}", title, RESULT_COLUMNS, _result_rows(version, shown, names)
            )
        )
    if not tables:
        title = await export.title(moment, state=("Tình trạng", "Năm thi đua chưa chốt kết quả"))
        tables.append(Table("Kết quả", title, RESULT_COLUMNS))
    return tables
