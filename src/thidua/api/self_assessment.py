"""The self-assessment form a unit fills in Excel: handed out pre-filled for one unit,
read back as the unit's changed self scores.

The sheet "Tự chấm điểm" lists the criteria in force with their maxima and the unit's
current self points, explanation and evidence; only those three columns are editable
(the sheet is protected, without a password: it guides, the import checks). The last
column (I), hidden, holds each row's criterion code, and a very hidden sheet says which cluster,
year, unit and criteria version the form is for, so rows may be reordered and a form
for another unit, year or criteria version is recognised.

Read back, every row is checked and every bad cell named; only the rows that differ from
the unit's current self scores become scores (one `SelfScoreMany`): a form sent back
unchanged changes nothing.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.worksheet.worksheet import Worksheet

from thidua.api.exports import KIND_NAMES
from thidua.api.forms import (
    ROW_LIMIT,
    Problem,
    Problems,
    WorkbookRefused,
    checked,
    number_in,
    rows_of,
    sheet_named,
    text_in,
)
from thidua.api.tables import Column, Table, write_sheet
from thidua.domain.checks import MANY_ITEMS, TEXT, Field
from thidua.domain.commands import ScoreGiven
from thidua.domain.criteria import CriteriaSet, Criterion, Kind
from thidua.domain.errors import InvalidInput
from thidua.domain.text import nfc

FORM_SHEET = "Tự chấm điểm"
META_SHEET = "thidua"
FORMAT = "thidua/tu-cham-diem/1"
ID_HEADER = "Mã ẩn (không sửa)"
COLUMNS = (
    Column("Mã tiêu chí", 10),
    Column("Nội dung tiêu chí", 50),
    Column("Phần", 6),
    Column("Loại", 12),
    Column("Điểm tối đa", 10),
    Column("Điểm tự chấm", 12),
    Column("Giải trình", 50),
    Column("Minh chứng (mỗi tài liệu một dòng)", 40),
    Column(ID_HEADER, 12),  # hidden: the row's criterion, whatever is done to the others
)
CODE, TITLE, PART, KIND, MAXIMUM, POINTS, EXPLANATION, EVIDENCE, ID = range(9)
EDITABLE = (POINTS, EXPLANATION, EVIDENCE)
LETTERS = "ABCDEFGHI"
NAME = Field("name", 300)
HOW = (
    "Chỉ điền các cột Điểm tự chấm, Giải trình, Minh chứng (mỗi tài liệu một dòng trong ô). "
    "Điểm là số, tối đa 2 chữ số thập phân, từ 0 đến điểm tối đa. Không thêm, xoá hay sửa "
    "mã tiêu chí; có thể sắp xếp lại các dòng. Dòng để trống điểm: tiêu chí chưa chấm. Gửi "
    "lại tệp: chỉ những tiêu chí thay đổi được ghi, tất cả hoặc không gì cả."
)


@dataclass(frozen=True)
class FormFor:
    """Whose form: the cluster, the year, the unit and the criteria version."""

    cluster: str
    year: int
    unit: str
    criteria: CriteriaSet


Current = Mapping[str, Mapping[str, Any]]  # criterion -> the unit's self entry


def form_workbook(form: FormFor, title: list[tuple[str, Any]], current: Current) -> Workbook:
    rows = []
    scorable = form.criteria.scorable()
    for c in form.criteria.criteria:
        entry = current.get(c.code) or {}
        heading = c.code not in scorable
        rows.append(
            [
                c.code,
                c.title,
                c.part,
                "Nhóm" if heading else KIND_NAMES[c.kind],
                None if c.kind is Kind.DEDUCTION else c.max_points,
                entry.get("points"),
                entry.get("explanation"),
                "\n".join(entry.get("evidence") or ()) or None,
                None if heading else c.code,
            ]
        )
    book = Workbook()
    sheet = book.active
    assert isinstance(sheet, Worksheet)
    sheet.title = FORM_SHEET
    title = [*title, ("Cách điền", HOW)]
    header = write_sheet(sheet, Table(FORM_SHEET, title, COLUMNS, rows))
    _protect(sheet, header, rows, scorable)
    meta = book.create_sheet(META_SHEET)
    for pair in (
        ("format", FORMAT),
        ("cluster", form.cluster),
        ("year", form.year),
        ("unit", form.unit),
        ("criteria_version", form.criteria.version),
    ):
        meta.append(pair)
    meta.sheet_state = "veryHidden"
    return book


def _protect(sheet: Worksheet, header: int, rows: list[list[Any]], scorable: Any) -> None:
    """Editable cells unlocked and tinted, the rest protected, the ids' column hidden."""
    fill = PatternFill("solid", fgColor="FFF7D6")
    for offset, row in enumerate(rows, 1):
        if row[ID] is None:
            for cell in sheet[header + offset]:
                cell.font = Font(bold=True)
            continue
        for column in EDITABLE:
            cell = sheet.cell(row=header + offset, column=column + 1)
            cell.protection = Protection(locked=False)
            cell.fill = fill
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            if column == POINTS:
                cell.number_format = "0.00"
    sheet.column_dimensions[LETTERS[ID]].hidden = True
    sheet.protection.sheet = True
    sheet.protection.autoFilter = False
    sheet.protection.sort = False
    sheet.protection.formatColumns = False


# Reading it back.


def _meta(book: Workbook) -> dict[str, str]:
    meta = sheet_named(book, META_SHEET)
    if meta is None or sheet_named(book, FORM_SHEET) is None:
        raise WorkbookRefused(
            [
                Problem(
                    "Tệp không phải biểu mẫu tự chấm điểm do hệ thống phát; hãy tải biểu mẫu "
                    "của đơn vị và điền vào đó."
                )
            ]
        )
    found = {}
    for row in meta.iter_rows(max_row=20, max_col=2, values_only=True):
        if row and row[0] is not None:
            found[str(row[0])[:40]] = text_in(row[1] if len(row) > 1 else None)[:80]
    return found


def check_form_for(book: Workbook, form: FormFor) -> None:
    """The form must be the one handed out for this cluster, year, unit and criteria."""
    meta = _meta(book)
    problems = Problems()
    if meta.get("format") != FORMAT:
        problems.add("Tệp không phải biểu mẫu tự chấm điểm do hệ thống phát.")
    else:
        given = (meta.get("cluster"), meta.get("year"), meta.get("unit"))
        if given != (form.cluster, str(form.year), form.unit):
            problems.add(
                f"Biểu mẫu này của đơn vị {given[2]}, năm {given[1]}, cụm {given[0]}; không "
                f"phải của đơn vị {form.unit}, năm {form.year}, cụm {form.cluster}."
            )
        elif meta.get("criteria_version") != form.criteria.version:
            problems.add(
                f"Biểu mẫu lập theo bộ tiêu chí phiên bản {meta.get('criteria_version')}; bộ "
                f"tiêu chí đang áp dụng là phiên bản {form.criteria.version}. Hãy tải biểu mẫu "
                "mới."
            )
    problems.raise_any()


def _header_row(sheet: Worksheet) -> int | None:
    rows = sheet.iter_rows(max_row=60, min_col=ID + 1, max_col=ID + 1, values_only=True)
    for number, row in enumerate(rows, 1):
        if row and row[0] == ID_HEADER:
            return number
    return None


def read_form(book: Workbook, form: FormFor, current: Current, step: Decimal) -> list[ScoreGiven]:
    """The self scores that differ from `current`, every row checked; a refusal names
    every bad cell."""
    check_form_for(book, form)
    sheet = sheet_named(book, FORM_SHEET)
    assert sheet is not None  # checked with the form's identity
    header = _header_row(sheet)
    problems = Problems()
    if header is None:
        problems.add(f"Không tìm thấy dòng tiêu đề của bảng (cột ẩn “{ID_HEADER}”).")
        problems.raise_any()
    assert header is not None
    scorable = form.criteria.scorable()
    seen: dict[str, int] = {}
    changed: list[ScoreGiven] = []
    last = header + ROW_LIMIT
    for number, cells, broken in rows_of(sheet, header + 1, last, len(COLUMNS), problems):
        given = _row(number, cells, scorable, seen, current, step, problems, broken)
        if given is not None:
            changed.append(given)
    for code in scorable:
        if code not in seen:
            problems.add(
                f"Thiếu dòng của tiêu chí {code}: không được xoá dòng nào của biểu mẫu "
                "(để trống điểm nếu chưa chấm)."
            )
    if sheet.max_row >= last:
        problems.add(f"Bảng dài quá {last - header} dòng; đây không phải biểu mẫu đã phát.")
    problems.raise_any()
    return changed


def _row(
    number: int,
    cells: list[Any],
    scorable: Mapping[str, Any],
    seen: dict[str, int],
    current: Current,
    step: Decimal,
    problems: Problems,
    broken: bool,
) -> ScoreGiven | None:
    code = text_in(cells[ID])
    filled = any(text_in(cells[c]) for c in EDITABLE)
    if not code:
        if filled:
            problems.add(
                "dòng này không thuộc biểu mẫu (không có mã tiêu chí ẩn); hãy điền vào dòng "
                "của tiêu chí",
                number,
            )
        return None
    criterion = scorable.get(code)
    if criterion is None:
        problems.add(f"tiêu chí ẩn '{code[:40]}' không có trong bộ tiêu chí", number, LETTERS[ID])
        return None
    if code in seen:
        problems.add(f"tiêu chí {code} đã có ở dòng {seen[code]}", number)
        return None
    seen[code] = number
    if text_in(cells[CODE]) != code:
        problems.add(
            f"mã tiêu chí đã bị sửa thành '{text_in(cells[CODE])[:40]}' (phải là {code})",
            number,
            LETTERS[CODE],
        )
    if broken:
        return None  # its failed formula is named; the rest of the row waits for a value
    maximum = None if criterion.kind is Kind.DEDUCTION else criterion.max_points
    entry = current.get(code)
    if entry is not None and Criterion.from_json(entry["criterion"]) != criterion:
        entry = None  # scored against another definition: flagged, so scored again as given
    if cells[POINTS] is None or text_in(cells[POINTS]) == "":
        if entry is not None:
            problems.add(
                f"đã chấm {entry['points']:.2f} điểm cho tiêu chí {code}; không thể xoá điểm, "
                "hãy nhập lại điểm",
                number,
                LETTERS[POINTS],
            )
        elif filled:
            problems.add(f"chưa nhập điểm cho tiêu chí {code}", number, LETTERS[POINTS])
        return None
    return _scored(number, code, cells, maximum, entry, step, problems)


def _scored(
    number: int,
    code: str,
    cells: list[Any],
    maximum: Decimal | None,
    entry: Mapping[str, Any] | None,
    step: Decimal,
    problems: Problems,
) -> ScoreGiven | None:
    before = len(problems.found)
    points, wrong = number_in(cells[POINTS])
    if wrong:
        problems.add(wrong, number, LETTERS[POINTS])
    elif points is not None:
        if points < 0:
            problems.add(f"điểm {points} không được âm", number, LETTERS[POINTS])
        elif maximum is not None and points > maximum:
            problems.add(
                f"điểm {points} vượt điểm tối đa {maximum:.2f} của tiêu chí {code}",
                number,
                LETTERS[POINTS],
            )
        elif points % step:
            problems.add(f"điểm {points} phải là bội số của {step}", number, LETTERS[POINTS])
    explanation, wrong = checked(text_in(cells[EXPLANATION]), TEXT, "giải trình")
    if wrong:
        problems.add(wrong, number, LETTERS[EXPLANATION])
    elif not (explanation or "").strip():
        problems.add(f"tiêu chí {code} cần có giải trình", number, LETTERS[EXPLANATION])
    evidence = _evidence(number, text_in(cells[EVIDENCE]), code, problems)
    if len(problems.found) > before or points is None or explanation is None:
        return None
    if entry is not None and _same(entry, points, explanation, evidence):
        return None
    try:
        return ScoreGiven(code, points, explanation, evidence)
    except InvalidInput as refused:
        problems.add(refused.message, number)
        return None


def _evidence(number: int, text: str, code: str, problems: Problems) -> tuple[str, ...]:
    items = tuple(line.strip() for line in text.replace("\r", "\n").split("\n") if line.strip())
    column = LETTERS[EVIDENCE]
    if not items:
        problems.add(f"tiêu chí {code} cần có tài liệu minh chứng", number, column)
    if len(items) > MANY_ITEMS:
        problems.add(f"nhiều hơn {MANY_ITEMS} tài liệu minh chứng", number, column)
    found = []
    for item in items:
        text_ok, wrong = checked(item, NAME, "minh chứng")
        if wrong:
            problems.add(wrong, number, column)
        elif text_ok:
            found.append(text_ok)
    return tuple(found)


def _same(
    entry: Mapping[str, Any], points: Decimal, explanation: str, evidence: tuple[str, ...]
) -> bool:
    """Whether the row says what the entry holds, as the form showed it (text trimmed)."""
    return (
        Decimal(entry["points"]) == points
        and nfc(entry["explanation"]).strip() == explanation.strip()
        and tuple(nfc(e).strip() for e in entry.get("evidence") or ()) == evidence
    )
