"""Tables for people, written as an Excel workbook (a sheet per table) or as CSV.

A table is its title rows (what it holds and the moment it reflects), a header of
Vietnamese column names, and rows. Points are exact decimals: in a workbook they are
numbers shown with two decimals (`0.00`), in CSV they are written with two decimals and a
point. Times are Hanoi's wall clock. Text is always text (never a formula), in NFC.
"""

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from thidua.api.workbooks import DAY, MOMENT, cell_text, hanoi

POINTS = "0.00"
CSV_TYPE = "text/csv; charset=utf-8"
BOM = "\ufeff"  # so Excel reads the CSV as UTF-8 and shows Vietnamese as written
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
YES, NO = "Có", "Không"


@dataclass(frozen=True)
class Column:
    header: str
    width: float = 14
    number_format: str | None = None  # POINTS for points


@dataclass
class Table:
    sheet: str  # at most 31 characters, none of []:*?/\
    title: list[tuple[str, Any]]  # one title row each: label, value
    columns: Sequence[Column]
    rows: list[list[Any]] = field(default_factory=list)


def _shown(value: Any) -> Any:
    """A value as a workbook cell holds it."""
    if isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, datetime):
        return hanoi(value)
    if isinstance(value, str):
        return cell_text(value)
    return value


def _format(value: Any, column: Column | None) -> str | None:
    if isinstance(value, Decimal):
        return POINTS
    if isinstance(value, datetime):
        return MOMENT
    if isinstance(value, date):
        return DAY
    return column.number_format if column else None


def _put(sheet: Worksheet, row: int, col: int, value: Any, column: Column | None = None) -> Cell:
    cell = sheet.cell(row=row, column=col)
    assert isinstance(cell, Cell)  # nothing here is merged
    if value is None or value == "":
        return cell
    cell.value = _shown(value)
    if isinstance(cell.value, str):
        cell.data_type = "s"  # text, even when it starts with "=": never a formula
    number_format = _format(value, column)
    if number_format:
        cell.number_format = number_format
    return cell


def write_sheet(sheet: Worksheet, table: Table) -> int:
    """Title rows, a blank row, the bold header (frozen, filtered), the rows; returns the
    header's row number."""
    bold = Font(bold=True)
    for number, (label, value) in enumerate(table.title, 1):
        _put(sheet, number, 1, label).font = bold
        _put(sheet, number, 2, value)
    header = len(table.title) + 2
    for number, column in enumerate(table.columns, 1):
        cell = _put(sheet, header, number, column.header)
        cell.font = bold
        cell.alignment = Alignment(vertical="center", wrap_text=True)
        sheet.column_dimensions[get_column_letter(number)].width = column.width
    for offset, row in enumerate(table.rows, 1):
        for number, (value, column) in enumerate(zip(row, table.columns, strict=True), 1):
            _put(sheet, header + offset, number, value, column)
    sheet.freeze_panes = f"A{header + 1}"
    last = get_column_letter(len(table.columns))
    sheet.auto_filter.ref = f"A{header}:{last}{header + len(table.rows)}"
    return header


def workbook(tables: Sequence[Table]) -> Workbook:
    book = Workbook()
    first = True
    for table in tables:
        sheet = book.active if first else book.create_sheet()
        assert isinstance(sheet, Worksheet)
        sheet.title = table.sheet
        write_sheet(sheet, table)
        first = False
    return book


def save_xlsx(tables: Sequence[Table], target: IO[bytes]) -> None:
    workbook(tables).save(target)


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, datetime):
        return f"{hanoi(value):%d/%m/%Y %H:%M:%S}"
    if isinstance(value, date):
        return f"{value:%d/%m/%Y}"
    text = cell_text(str(value))
    # A spreadsheet would run a cell starting so as a formula: the apostrophe keeps it text.
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_text(tables: Sequence[Table]) -> str:
    """One CSV: the first table's title rows, a blank line, the header, every table's
    rows (tables meant for CSV carry in their rows whatever tells them apart)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    first = tables[0]
    for label, value in first.title:
        writer.writerow([label, _csv_value(value)])
    writer.writerow([])
    writer.writerow([c.header for c in first.columns])
    for table in tables:
        writer.writerows([_csv_value(v) for v in row] for row in table.rows)
    return BOM + out.getvalue()
