"""The audit trail as an Excel workbook, for the people who read it: auditors and the
city's inspectors.

One sheet, "Nhật ký kiểm toán", holds a row per change of the cluster's log in position
order, refused attempts included, under Vietnamese headers; times are Excel datetimes in
Hanoi time. A second sheet, "Thông tin", says which cluster and year, where the log stood,
when the file was exported and by whom. openpyxl's write-only mode streams the rows to a
temporary file as they come, batch by batch, so the trail is never held whole.

Every text is written as text (never as a formula, whatever it starts with), in NFC,
without the control characters a workbook cannot hold, and cut at Excel's cell limit.
"""

import asyncio
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from thidua.domain.days import HANOI
from thidua.domain.rights import ROLE_NAMES, Role
from thidua.domain.text import nfc
from thidua.service.reads import Reads

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TRAIL_SHEET = "Nhật ký kiểm toán"
INFO_SHEET = "Thông tin"
MOMENT = "dd/mm/yyyy hh:mm:ss"
DAY = "dd/mm/yyyy"
CELL_LIMIT = 32_767  # characters Excel keeps in a cell
RECORDED = "Ghi nhận"
REFUSED = "Bị từ chối"

Row = dict[str, Any]


def hanoi(moment: datetime | None) -> datetime | None:
    """An aware moment as Hanoi's wall clock, naive: Excel datetimes have no zone."""
    return None if moment is None else moment.astimezone(HANOI).replace(tzinfo=None)


def role_label(role: str | None) -> str | None:
    """The role as people say it (`ROLE_NAMES`), capitalised; an unknown one as stored."""
    if not role:
        return None
    try:
        label = ROLE_NAMES[Role(role)]
    except ValueError:
        return role
    return label[0].upper() + label[1:]


def _refused(row: Row) -> bool:
    return bool(row["subject"] == "refusal")


def _item(row: Row) -> str | None:
    """What was changed; for a refusal, what the refused command named."""
    if not _refused(row):
        return str(row["item"])
    target = (row["after"] or {}).get("target") or {}
    return "; ".join(f"{k}: {v}" for k, v in sorted(target.items())) or None


_TEXTS = ("explanation", "text", "title", "question", "note", "reason")


def _content(row: Row) -> str | None:
    """The words the change carries: a score's explanation and evidence, an answer, a
    title, a note, a member's name; for a refusal, the message the caller was given."""
    after = row["after"] or {}
    if _refused(row):
        return after.get("message")
    found = [after[k] for k in _TEXTS if isinstance(after.get(k), str) and after[k]]
    membership = after.get("membership")
    if isinstance(membership, dict) and membership.get("name"):
        found.append(f"{membership['name']} ({membership.get('unit', '')})")
    evidence = after.get("evidence")
    if isinstance(evidence, list) and evidence:
        found.append("Minh chứng: " + "; ".join(map(str, evidence)))
    return "\n".join(found) or None


def _value(side: str) -> Callable[[Row], Any]:
    """The item's value before or after: a score's points as a number, anything else as
    compact JSON; nothing for a refusal, which changed nothing."""

    def read(row: Row) -> Any:
        value = row[side]
        if value is None or _refused(row):
            return None
        if row["subject"] == "score" and isinstance(value, dict) and "points" in value:
            try:
                return Decimal(str(value["points"]))
            except InvalidOperation:
                pass
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))

    return read


def _outcome(row: Row) -> str:
    if not _refused(row):
        return RECORDED
    return f"{REFUSED} ({(row['after'] or {}).get('code', '?')})"


@dataclass(frozen=True)
class Column:
    header: str
    width: float
    value: Callable[[Row], Any]
    number_format: str | None = None


COLUMNS = (
    Column("Vị trí", 9, lambda r: r["position"]),
    Column("Thời điểm ghi nhận", 20, lambda r: hanoi(r["recorded_at"]), MOMENT),
    Column("Ngày diễn ra", 13, lambda r: hanoi(r["occurred_at"]), DAY),
    Column("Người thực hiện", 26, lambda r: r["actor"]),
    Column("Vai trò", 30, lambda r: role_label(r["role"])),
    Column("Đơn vị người thực hiện", 20, lambda r: r["acting_unit"]),
    Column("Thao tác", 20, lambda r: r["command"]),
    Column("Sự kiện", 22, lambda r: r["event_type"]),
    Column("Đối tượng", 36, _item),
    Column("Năm", 7, lambda r: r["year"]),
    Column("Đơn vị liên quan", 20, lambda r: r["unit"]),
    Column("Tiêu chí", 12, lambda r: ", ".join(r["criteria"] or ()) or None),
    Column("Nội dung", 50, _content),
    Column("Giá trị trước", 24, _value("before")),
    Column("Giá trị sau", 24, _value("after")),
    Column("Lý do", 30, lambda r: r["reason"]),
    Column("Kết quả", 24, _outcome),
    Column("Mã tương quan", 38, lambda r: r["correlation_id"]),
    Column("Mã yêu cầu", 34, lambda r: r["request_id"]),
)
HEADERS = tuple(c.header for c in COLUMNS)


def cell_text(value: str) -> str:
    """Text a workbook can hold: NFC, no control characters, within a cell's limit."""
    found = ILLEGAL_CHARACTERS_RE.sub("", nfc(value))
    return found if len(found) <= CELL_LIMIT else found[: CELL_LIMIT - 1] + "…"


def _cell(sheet: WriteOnlyWorksheet, value: Any, number_format: str | None = None) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        cell = WriteOnlyCell(sheet, cell_text(value))
        cell.data_type = "s"  # text, even when it starts with "=": never a formula
        return cell
    if number_format is None:
        return value
    cell = WriteOnlyCell(sheet, value)
    cell.number_format = number_format
    return cell


@dataclass(frozen=True)
class Exported:
    """What the "Thông tin" sheet says about an export."""

    cluster: str
    cluster_name: str
    year: int | None
    head: int  # the log's last position when the trail was read
    through: int  # the audit history had read the log up to here
    at: datetime
    by: str
    rows: int = 0


class AuditWorkbook:
    """The workbook, written as rows come (`add`), saved once (`save`)."""

    def __init__(self) -> None:
        self._book = Workbook(write_only=True)
        self._trail: WriteOnlyWorksheet = self._book.create_sheet(TRAIL_SHEET)
        self._info: WriteOnlyWorksheet = self._book.create_sheet(INFO_SHEET)
        # Widths and the frozen header go before the first row: write-only sheets write
        # their top as the first row comes.
        for number, column in enumerate(COLUMNS, 1):
            self._trail.column_dimensions[get_column_letter(number)].width = column.width
        self._trail.freeze_panes = "A2"
        self._info.column_dimensions["A"].width = 42
        self._info.column_dimensions["B"].width = 70
        bold = Font(bold=True)
        header = []
        for title in HEADERS:
            cell = WriteOnlyCell(self._trail, title)
            cell.font = bold
            cell.alignment = Alignment(vertical="center")
            header.append(cell)
        self._trail.append(header)
        self.rows = 0

    def add(self, rows: Iterable[Row]) -> None:
        """Rows of the audit history, in position order."""
        for row in rows:
            self._trail.append([_cell(self._trail, c.value(row), c.number_format) for c in COLUMNS])
            self.rows += 1

    def save(self, about: Exported, target: IO[bytes] | Path) -> None:
        """Writes the "Thông tin" sheet, the filter over every row, and the file."""
        last = get_column_letter(len(COLUMNS))
        # Written with the sheet's tail, at save; the stubs miss the attribute.
        self._trail.auto_filter.ref = f"A1:{last}{self.rows + 1}"  # type: ignore[attr-defined]
        bold = Font(bold=True)
        for label, value, number_format in _about(about, self.rows):
            name = WriteOnlyCell(self._info, label)
            name.font = bold
            self._info.append([name, _cell(self._info, value, number_format)])
        self._book.save(target)


def _about(about: Exported, rows: int) -> list[tuple[str, Any, str | None]]:
    found: list[tuple[str, Any, str | None]] = [
        ("Cụm thi đua", f"{about.cluster_name} ({about.cluster})", None),
        ("Năm thi đua", about.year if about.year is not None else "Mọi năm", None),
        ("Vị trí cuối của nhật ký khi xuất", about.head, None),
        ("Nhật ký kiểm toán cập nhật đến vị trí", about.through, None),
    ]
    if about.through < about.head:
        found.append(
            (
                "Lưu ý",
                f"Các thay đổi sau vị trí {about.through} chưa được đưa vào nhật ký kiểm toán "
                "nên chưa có trong tệp này; vui lòng xuất lại sau ít phút.",
                None,
            )
        )
    found += [
        ("Số dòng", rows, None),
        ("Thời điểm xuất", hanoi(about.at), MOMENT),
        ("Người xuất", about.by, None),
        ("Múi giờ của các thời điểm", "Giờ Hà Nội (UTC+07:00, Asia/Ho_Chi_Minh)", None),
        (
            "Cách đọc",
            f"Mỗi dòng của trang “{TRAIL_SHEET}” là một sự kiện của nhật ký, theo thứ tự vị "
            f"trí. Dòng có kết quả “{REFUSED}” là một thao tác bị từ chối: không thay đổi dữ "
            "liệu nào, mã sau đó cho biết lý do.",
            None,
        ),
        ("Kiểm tra chuỗi băm của nhật ký", f"thidua audit verify --cluster {about.cluster}", None),
    ]
    return found


async def export_audit_trail(
    reads: Reads, cluster: str, year: int | None, by: str, target: IO[bytes] | Path
) -> Exported:
    """The audit trail of a cluster-year (None: of the whole cluster) as it stands now,
    written to `target`. openpyxl's work runs in a thread, a batch at a time."""
    snapshot = await reads.audit_snapshot(cluster)
    at = datetime.now(UTC)
    name = await reads.cluster_name(cluster)
    book = AuditWorkbook()
    async for batch in reads.audit_trail(cluster, year, snapshot.through):
        await asyncio.to_thread(book.add, batch)
    about = Exported(cluster, name, year, snapshot.head, snapshot.through, at, by, book.rows)
    await asyncio.to_thread(book.save, about, target)
    return about


def file_name(cluster: str, year: int | None) -> str:
    """nhat-ky-cum-xii-2025.xlsx (the cluster code is ASCII letters, digits and hyphens)."""
    return f"nhat-ky-{cluster}-{year}.xlsx" if year is not None else f"nhat-ky-{cluster}.xlsx"
