"""The city's criteria as a workbook: a template to fill (with an example), read back as
a criteria set the city board publishes (`PublishTemplate`).

Sheet "Bộ tiêu chí": title rows name the set (its code), the version, the day it takes
effect and the bonus cap; then a row per criterion: code, title, part, the parent
criterion it belongs to (a group is a criterion with sub-criteria), kind (Cơ bản, Điểm
thưởng, Điểm trừ) and maximum (none for a deduction). Every bad cell is named.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from thidua.api.exports import KIND_NAMES
from thidua.api.forms import ROW_LIMIT, Problems, checked, number_in, rows_of, sheet_named, text_in
from thidua.api.tables import POINTS, Column, Table, write_sheet
from thidua.domain.checks import MANY_CRITERIA, Field
from thidua.domain.criteria import CriteriaSet, Criterion, Kind
from thidua.domain.errors import RuleViolation
from thidua.domain.text import nfc

SHEET = "Bộ tiêu chí"
NAME_LABEL = "Mã bộ tiêu chí"
VERSION_LABEL = "Phiên bản"
EFFECTIVE_LABEL = "Hiệu lực từ ngày"
CAP_LABEL = "Mức tối đa điểm thưởng"
COLUMNS = (
    Column("Mã tiêu chí", 12),
    Column("Nội dung tiêu chí", 60),
    Column("Phần", 8),
    Column("Thuộc tiêu chí (mã tiêu chí cha)", 16),
    Column("Loại", 14),
    Column("Điểm tối đa", 12, POINTS),
)
CODE, TITLE, PART, PARENT, KIND, MAXIMUM = range(6)
LETTERS = "ABCDEF"
KINDS = {nfc(label).lower(): kind for kind, label in KIND_NAMES.items()} | {
    kind.value: kind for kind in Kind
}
CODE_RULE = Field("code", 64)
TITLE_RULE = Field("name", 300)
HOW = (
    "Mỗi dòng một tiêu chí. Loại: Cơ bản, Điểm thưởng hoặc Điểm trừ. Điểm tối đa: số lớn hơn "
    "0, tối đa 2 chữ số thập phân; để trống với điểm trừ. Tiêu chí con ghi mã tiêu chí cha ở "
    "cột D; tiêu chí cha được chấm qua các tiêu chí con."
)


def template_workbook(
    name: str, criteria: CriteriaSet, about: list[tuple[str, Any]] | None = None
) -> Workbook:
    """The template, filled with `criteria` (an example, or a published version)."""
    title: list[tuple[str, Any]] = [
        (NAME_LABEL, name),
        (VERSION_LABEL, criteria.version),
        (EFFECTIVE_LABEL, criteria.effective_from),
        (CAP_LABEL, criteria.bonus_cap),
        *(about or []),
        ("Cách điền", HOW),
    ]
    rows = [
        [c.code, c.title, c.part, c.parent, KIND_NAMES[c.kind], c.max_points]
        for c in criteria.criteria
    ]
    book = Workbook()
    sheet = book.active
    assert isinstance(sheet, Worksheet)
    sheet.title = SHEET
    write_sheet(sheet, Table(SHEET, title, COLUMNS, rows))
    return book


def _title(sheet: Worksheet) -> tuple[dict[str, tuple[int, Any]], int | None]:
    """The title values by label (with their row), and the header's row."""
    found: dict[str, tuple[int, Any]] = {}
    for number, row in enumerate(sheet.iter_rows(max_row=60, max_col=2, values_only=True), 1):
        label = text_in(row[0]) if row else ""
        if label == COLUMNS[0].header:
            return found, number
        if label:
            found[label] = (number, row[1] if len(row) > 1 else None)
    return found, None


def _day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return datetime.strptime(text_in(value), "%d/%m/%Y").date()
    except ValueError:
        return None


def read_criteria(book: Workbook) -> tuple[str, CriteriaSet]:
    """The set's code and the criteria set; a refusal names every bad cell."""
    problems = Problems()
    sheet = sheet_named(book, SHEET)
    if sheet is None:
        problems.add(f"Tệp không có trang “{SHEET}” của biểu mẫu bộ tiêu chí.")
        problems.raise_any()
    assert sheet is not None
    title, header = _title(sheet)
    if header is None:
        problems.add(f"Không tìm thấy dòng tiêu đề của bảng (cột A “{COLUMNS[0].header}”).")
        problems.raise_any()
    assert header is not None

    def given(label: str) -> tuple[int, Any]:
        if label not in title:
            problems.add(f"Thiếu dòng “{label}” ở phần đầu trang.")
            return 0, None
        return title[label]

    row, value = given(NAME_LABEL)
    name, wrong = checked(text_in(value), CODE_RULE, NAME_LABEL.lower())
    if row and wrong:
        problems.add(wrong, row, "B")
    row, value = given(VERSION_LABEL)
    version, wrong = checked(text_in(value), CODE_RULE, VERSION_LABEL.lower())
    if row and wrong:
        problems.add(wrong, row, "B")
    row, value = given(EFFECTIVE_LABEL)
    effective = _day(value)
    if row and effective is None:
        problems.add("ngày hiệu lực phải là một ngày, ví dụ 01/01/2026", row, "B")
    row, value = given(CAP_LABEL)
    cap, wrong = number_in(value)
    if row and (wrong or (cap is not None and cap < 0)):
        problems.add(wrong or "mức tối đa điểm thưởng không được âm", row, "B")

    criteria = _criteria(sheet, header, problems)
    problems.raise_any()
    assert name
    assert version
    assert effective
    assert cap is not None
    try:
        return name, CriteriaSet(version, effective, tuple(criteria), cap)
    except RuleViolation as refused:
        problems.add(refused.message)
        problems.raise_any()
        raise


def _criteria(sheet: Worksheet, header: int, problems: Problems) -> list[Criterion]:
    rows: list[tuple[int, list[Any]]] = []
    for number, cells, broken in rows_of(sheet, header + 1, header + ROW_LIMIT, 6, problems):
        if any(text_in(c) for c in cells) and not broken:
            rows.append((number, cells))
        if len(rows) > MANY_CRITERIA:
            problems.add(f"Bộ tiêu chí có quá {MANY_CRITERIA} tiêu chí.")
            return []
    if not rows:
        problems.add("Bộ tiêu chí chưa có tiêu chí nào.")
    codes: dict[str, int] = {}
    for number, cells in rows:
        code = text_in(cells[CODE])
        if code in codes:
            problems.add(f"mã tiêu chí {code} đã có ở dòng {codes[code]}", number, "A")
        codes.setdefault(code, number)
    parents = {text_in(cells[PARENT]) for _, cells in rows} - {""}
    found = []
    for number, cells in rows:
        criterion = _criterion(number, cells, codes, parents, problems)
        if criterion is not None:
            found.append(criterion)
    return found


def _criterion(
    number: int, cells: list[Any], codes: dict[str, int], parents: set[str], problems: Problems
) -> Criterion | None:
    before = len(problems.found)
    code, wrong = checked(text_in(cells[CODE]), CODE_RULE, "mã tiêu chí")
    if wrong:
        problems.add(wrong, number, "A")
    title, wrong = checked(text_in(cells[TITLE]), TITLE_RULE, "nội dung tiêu chí")
    if wrong:
        problems.add(wrong, number, "B")
    part, wrong = checked(text_in(cells[PART]), CODE_RULE, "phần")
    if wrong:
        problems.add(wrong, number, "C")
    parent = text_in(cells[PARENT]) or None
    if parent is not None and (parent not in codes or parent == code):
        problems.add(f"tiêu chí cha {parent[:40]} không có trong bảng", number, "D")
    kind = KINDS.get(nfc(text_in(cells[KIND])).lower())
    if kind is None:
        problems.add("loại phải là Cơ bản, Điểm thưởng hoặc Điểm trừ", number, "E")
    maximum: Decimal | None = None
    if text_in(cells[MAXIMUM]):
        maximum, wrong = number_in(cells[MAXIMUM])
        if wrong:
            problems.add(wrong, number, "F")
        elif kind is Kind.DEDUCTION:
            problems.add("điểm trừ không có điểm tối đa; để trống ô này", number, "F")
        elif maximum is not None and maximum <= 0:
            problems.add("điểm tối đa phải lớn hơn 0", number, "F")
    elif kind is not Kind.DEDUCTION and code not in parents:
        problems.add(f"tiêu chí {code} cần có điểm tối đa", number, "F")
    if len(problems.found) > before:
        return None
    assert code
    assert title
    assert part
    assert kind
    return Criterion(code, title, part, maximum, kind, parent)
