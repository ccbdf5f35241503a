"""Reading a workbook a person sends back: bounded, opened safely, and every bad cell
named ("Dòng 7, cột G: …") so the whole file can be corrected at once.

The upload is the request's body (the workbook's bytes) or a multipart form with one
file. It is read up to `UPLOAD_LIMIT` bytes; what it unzips to is bounded before openpyxl
reads it (defusedxml guards openpyxl's XML parsing). Values are read as a spreadsheet
shows them (`data_only`: a formula's last computed value).
"""

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from email import policy
from email.parser import BytesParser
from typing import Any

from openpyxl import load_workbook
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet
from starlette.requests import Request

from thidua.api.errors import BadInput
from thidua.domain.checks import POINTS_LIMIT, POINTS_PLACES, Field, checked_text
from thidua.domain.errors import InvalidInput
from thidua.errors import ThiduaError

UPLOAD_LIMIT = 2 * 1024 * 1024  # bytes: a form of 200 criteria is about 20 kB
UNZIPPED_LIMIT = 8 * 1024 * 1024  # bytes its parts may unzip to (a form: about 60 kB)
ROW_LIMIT = 2_000  # rows of a sheet read at all


class TooLarge(ThiduaError):
    code = "REQUEST_TOO_LARGE"


@dataclass(frozen=True)
class Problem:
    """One bad cell (or row, or the file itself) and what is wrong with it."""

    message: str
    row: int | None = None
    column: str | None = None

    def text(self) -> str:
        if self.row is None:
            return self.message
        where = f"Dòng {self.row}" + (f", cột {self.column}" if self.column else "")
        return f"{where}: {self.message}"


class WorkbookRefused(ThiduaError):
    """A workbook refused for its content: every problem found, nothing written."""

    code = "WORKBOOK_INVALID"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        count = len(problems)
        super().__init__(f"Tệp có {count} lỗi; chưa ghi gì. " + problems[0].text())


@dataclass
class Problems:
    found: list[Problem] = field(default_factory=list)

    def add(self, message: str, row: int | None = None, column: str | None = None) -> None:
        self.found.append(Problem(message, row, column))

    def raise_any(self) -> None:
        if self.found:
            raise WorkbookRefused(self.found)


async def upload(request: Request) -> bytes:
    """The workbook's bytes: the body itself, or the first file of a multipart form."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > UPLOAD_LIMIT:
            raise TooLarge(f"Tệp gửi lên vượt quá {UPLOAD_LIMIT // (1024 * 1024)} MB.")
    kind = request.headers.get("content-type", "")
    if not kind.lower().startswith("multipart/form-data"):
        return bytes(body)
    try:
        return _first_file(kind, bytes(body))
    except Exception:  # the email parser's failures on a malformed form are many
        raise BadInput("Biểu mẫu gửi lên (multipart/form-data) không đọc được.") from None


def _first_file(kind: str, body: bytes) -> bytes:
    head = f"Content-Type: {kind}\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    for part in message.iter_parts() if message.is_multipart() else ():
        if part.get_filename() is not None:
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload
    raise BadInput("Biểu mẫu gửi lên không kèm tệp nào (trường file).")


def sheet_named(book: Workbook, name: str) -> Worksheet | None:
    """The worksheet of that name (not a chart sheet), if the workbook has one."""
    found = book[name] if name in book.sheetnames else None
    return found if isinstance(found, Worksheet) else None


NOT_A_WORKBOOK = "Tệp gửi lên không phải là sổ tính Excel (.xlsx) đọc được."


def open_workbook(data: bytes) -> Workbook:
    """The workbook in `data`, or a refusal saying it is not one (or too large inside)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unzipped = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        raise WorkbookRefused([Problem(NOT_A_WORKBOOK)]) from None
    if unzipped > UNZIPPED_LIMIT:
        raise WorkbookRefused([Problem("Tệp quá lớn khi giải nén; đây không phải biểu mẫu.")])
    try:
        return load_workbook(io.BytesIO(data), data_only=True)
    except Exception:  # openpyxl raises whatever its parts raise on a broken file
        raise WorkbookRefused([Problem(NOT_A_WORKBOOK)]) from None


LETTERS = "ABCDEFGHIJ"


def rows_of(
    sheet: Worksheet, first: int, last: int, width: int, problems: Problems
) -> Iterator[tuple[int, list[Any], bool]]:
    """Each row from `first` to `last` (at most ROW_LIMIT), its first `width` values, and
    whether one of them is an Excel error (#NAME?, #VALUE!…: a formula that failed), each
    such cell named."""
    last = min(last, sheet.max_row, first + ROW_LIMIT - 1)
    for number, row in enumerate(
        sheet.iter_rows(min_row=first, max_row=last, max_col=width), first
    ):
        values = [cell.value for cell in row] + [None] * (width - len(row))
        broken = False
        for column, cell in enumerate(row):
            if cell.data_type == "e":
                broken = True
                problems.add(
                    f"ô chứa lỗi công thức {text_in(cell.value)[:20]}; hãy nhập giá trị, "
                    "không nhập công thức",
                    number,
                    LETTERS[column],
                )
        yield number, values, broken


def text_in(value: Any) -> str:
    """A cell as text ("" when empty); a number typed into a text cell as written."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def checked(value: str, rule: Field, name: str) -> tuple[str | None, str | None]:
    """(the text, None), or (None, what is wrong with it)."""
    try:
        return checked_text(value, rule, name), None
    except InvalidInput as refused:
        return None, refused.message


def number_in(value: Any) -> tuple[Decimal | None, str | None]:
    """A number cell as an exact decimal of at most two places: (points, None) or (None,
    what is wrong). A float is read as the shortest decimal that is that float."""
    if isinstance(value, (bool, datetime | date)):
        return None, f"ô phải chứa một số, không phải '{text_in(value)}'"
    if isinstance(value, str):
        return None, f"ô phải chứa một số, không phải chữ '{value.strip()[:40]}'"
    if not isinstance(value, int | float):
        return None, "ô phải chứa một số"
    try:
        points = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        return None, "ô phải chứa một số"
    if not points.is_finite() or abs(points) > POINTS_LIMIT:
        return None, f"điểm phải trong khoảng ±{POINTS_LIMIT}"
    if points != points.quantize(Decimal(1).scaleb(-POINTS_PLACES)):
        return None, f"điểm {points} có nhiều hơn {POINTS_PLACES} chữ số thập phân"
    return points.quantize(Decimal("0.01")), None
