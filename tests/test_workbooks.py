"""Workbooks and CSV, as people download them and open them, over a real server.

A cluster of three units: one has submitted its self-assessment (and the secretariat
verified a criterion of it), one still holds a draft, the leader scored nothing. What is
downloaded reads back (openpyxl, the csv module) with the figures GraphQL gives the same
token; the title rows name the cluster, the year, the layer and the log position; a member
sees no other unit's draft in a workbook, as in GraphQL; another cluster's token is refused.
"""

import asyncio
import csv
import io
import logging
import uuid
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from api_client import SECRET, Api, serving, token
from thidua.cli.main import main
from thidua.demo import CITY_BOARD, CITY_CRITERIA, TEMPLATE, YEAR, amended, ensure_template
from thidua.domain import commands as c
from thidua.domain.criteria import Kind
from thidua.domain.rights import Actor, Role
from thidua.service.emulation import CITY_LOG, Emulation
from thidua.service.envelope import HANOI, Calendar, Envelope

UNITS = {"so-tu-phap": "Sở Tư pháp", "so-y-te": "Sở Y tế", "so-gd": "Sở Giáo dục và Đào tạo"}
LEADER, SUBMITTED, DRAFT = UNITS
CLUSTER_NAME = "Cụm thi đua thử bảng tính"
SCORING_DAY = date(YEAR, 11, 20)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMULA_LIKE = "=1+1 là lời giải trình, không phải công thức"
SECRETARIAT = Actor("Văn phòng Sở Tư pháp", Role.SECRETARIAT, LEADER).caller()

STANDINGS = """
query ($year: Int!) { cluster { year(year: $year) {
  standings { layer unit rank total base bonus deductions }
} } }"""
SCORECARD = """
query ($year: Int!, $unit: String!) { cluster { year(year: $year) {
  scorecard(unit: $unit) { entries { layer criterion points explanation } }
} } }"""
RESULTS = """
query ($year: Int!) { cluster { year(year: $year) {
  results { version layers { layer totals { unit total } } }
} } }"""


def form(points: dict[str, str]) -> tuple[c.ScoreGiven, ...]:
    return tuple(
        c.ScoreGiven(code, Decimal(p), f"Tự chấm {code}", ("Báo cáo số 1/BC",))
        for code, p in points.items()
    )


@dataclass
class Cluster:
    api: Api
    code: str

    def officer(self, unit: str) -> str:
        return token(self.api.dsn, f"Cán bộ {unit}", [self.code], Role.MEMBER_OFFICER, unit)

    @property
    def auditor(self) -> str:
        return token(self.api.dsn, "Kiểm toán viên", [self.code], Role.AUDITOR)

    async def get(self, path: str, who: str | None) -> httpx.Response:
        headers = {"authorization": f"Bearer {who}"} if who else {}
        url = f"/clusters/{self.code}/years/{YEAR}/{path}"
        return await self.api.http.get(url, headers=headers)

    async def head(self) -> int:
        position, _ = await self.api.store.head(self.code)
        return position


@pytest.fixture(scope="module")
async def api(dsn: str) -> AsyncIterator[Api]:
    async with serving(dsn, Calendar(datetime.combine(SCORING_DAY, time(9), HANOI))) as api:
        await ensure_template(Emulation(api.store, api.clock))
        yield api


async def open_cluster(api: Api) -> Cluster:
    """Three units under the city's criteria: one submitted (and verified on A1), one a
    draft, the leader nothing."""
    code = f"cum-wb-{uuid.uuid4().hex[:6]}"
    service = Emulation(api.store, api.clock)
    city = CITY_BOARD.caller()
    await service.handle(Envelope(CITY_LOG, city), c.RegisterCluster(code, CLUSTER_NAME))
    members = tuple(c.MemberGiven(u, n, date(YEAR, 1, 1)) for u, n in UNITS.items())
    await service.handle(Envelope(code, city), c.OpenYear(YEAR, members, LEADER, ()))
    adopt = c.AdoptCriteria(YEAR, TEMPLATE, CITY_CRITERIA.version, CITY_CRITERIA)
    await service.handle(Envelope(code, SECRETARIAT), adopt)
    head = Actor("Thủ trưởng Sở Y tế", Role.MEMBER_HEAD, SUBMITTED).caller()
    every = {k: str(v.max_points or 0) for k, v in CITY_CRITERIA.scorable().items()}
    every = every | {"A1": "27.25", "F1": "1"}
    every = {k: v for k, v in every.items() if CITY_CRITERIA.by_code()[k].kind is not Kind.BONUS}
    await service.handle(Envelope(code, head), c.SelfScoreMany(YEAR, SUBMITTED, form(every)))
    await service.handle(Envelope(code, head), c.SubmitSelfAssessment(YEAR, SUBMITTED))
    verify = c.VerifyScore(YEAR, SUBMITTED, "A1", Decimal("25.5"), "Thiếu minh chứng quý IV")
    await service.handle(Envelope(code, SECRETARIAT), verify)
    draft = Actor("Cán bộ Sở GD", Role.MEMBER_OFFICER, DRAFT).caller()
    formula = c.ScoreGiven("B1", Decimal(7), FORMULA_LIKE, ("Kế hoạch 3/KH",))
    draft_form = (*form({"A1": "29.75", "A2": "14.5"}), formula)
    await service.handle(Envelope(code, draft), c.SelfScoreMany(YEAR, DRAFT, draft_form))
    return Cluster(api, code)


@pytest.fixture(scope="module")
async def cluster(api: Api) -> Cluster:
    return await open_cluster(api)


def title_of(sheet: Worksheet) -> dict[str, Any]:
    """The title rows: label -> value, up to the first blank row."""
    found: dict[str, Any] = {}
    for label, value, *_ in sheet.iter_rows(values_only=True):
        if label is None:
            return found
        found[str(label)] = value
    return found


def table_of(sheet: Worksheet) -> list[dict[str, Any]]:
    """The rows under the header (the first row after the title's blank row)."""
    rows = list(sheet.iter_rows(values_only=True))
    header_at = next(i for i, row in enumerate(rows) if row[0] is None) + 1
    header = [str(h) for h in rows[header_at]]
    return [dict(zip(header, row, strict=False)) for row in rows[header_at + 1 :]]


def cents(value: Any) -> str:
    return f"{Decimal(str(value)):.2f}"


async def graphql_standings(cluster: Cluster, who: str) -> dict[str, dict[str, dict[str, Any]]]:
    data = await cluster.api.ok(STANDINGS, {"year": YEAR}, token=who, cluster=cluster.code)
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for row in data["cluster"]["year"]["standings"]:
        found.setdefault(row["layer"].lower(), {})[row["unit"]] = row
    return found


async def test_standings_workbook_has_every_layer_with_graphqls_figures(cluster: Cluster) -> None:
    response = await cluster.get("standings.xlsx", cluster.auditor)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Tự chấm", "Cụm chấm", "Thành phố"]
    expected = await graphql_standings(cluster, cluster.auditor)
    head = await cluster.head()
    for sheet, layer in zip(book.worksheets, ("self", "verified", "city"), strict=True):
        title = title_of(sheet)
        assert title["Cụm thi đua"] == f"{CLUSTER_NAME} ({cluster.code})"
        assert title["Năm thi đua"] == YEAR
        assert title["Số liệu tại vị trí nhật ký"] == head
        assert isinstance(title["Vị trí ấy được ghi lúc (giờ Hà Nội)"], datetime)
        assert title["Ngày nghiệp vụ của bảng xếp hạng"].date() == SCORING_DAY
        rows = table_of(sheet)
        assert {r["Mã đơn vị"]: (r["Hạng"], cents(r["Tổng điểm"])) for r in rows} == {
            unit: (row["rank"], row["total"]) for unit, row in expected[layer].items()
        }
        number_cell = sheet.cell(row=len(title) + 3, column=7)
        assert number_cell.number_format == "0.00"
        assert isinstance(number_cell.value, int | float)
    verified = {r["Mã đơn vị"]: r for r in table_of(book["Cụm chấm"])}
    assert cents(verified[SUBMITTED]["Tổng điểm"]) == expected["verified"][SUBMITTED]["total"]
    assert title_of(book["Cụm chấm"])["Lớp điểm"] == "Cụm chấm (thẩm định)"


async def test_standings_csv_is_one_layer_in_utf8_with_a_bom(cluster: Cluster) -> None:
    response = await cluster.get("standings.csv?layer=verified", cluster.auditor)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    title = {r[0]: r[1] for r in rows[: rows.index([])]}
    assert title["Lớp điểm"] == "Cụm chấm (thẩm định)"
    assert title["Số liệu tại vị trí nhật ký"] == str(await cluster.head())
    header, *body = rows[rows.index([]) + 1 :]
    expected = (await graphql_standings(cluster, cluster.auditor))["verified"]
    got = {r[header.index("Mã đơn vị")]: r[header.index("Tổng điểm")] for r in body}
    assert got == {unit: row["total"] for unit, row in expected.items()}
    assert "Tên đơn vị" in header

    default = await cluster.get("standings.csv", cluster.auditor)
    assert "Thành phố điều chỉnh (lớp xếp hạng)" in default.content.decode("utf-8-sig")


async def test_a_member_sees_no_other_units_draft_in_a_workbook(cluster: Cluster) -> None:
    member = cluster.officer(SUBMITTED)
    expected = await graphql_standings(cluster, member)
    assert DRAFT not in expected["self"]  # GraphQL hides the draft from this member
    book = load_workbook(io.BytesIO((await cluster.get("standings.xlsx", member)).content))
    for sheet, layer in zip(book.worksheets, ("self", "verified", "city"), strict=True):
        rows = {r["Mã đơn vị"]: cents(r["Tổng điểm"]) for r in table_of(sheet)}
        assert rows == {unit: row["total"] for unit, row in expected[layer].items()}
    assert DRAFT not in {r["Mã đơn vị"] for r in table_of(book["Tự chấm"])}
    dashboard = token(cluster.api.dsn, "Màn hình phòng họp", [cluster.code], Role.DASHBOARD)
    shown = await cluster.get("standings.csv?layer=self", dashboard)
    assert shown.status_code == 200
    assert DRAFT not in shown.content.decode("utf-8-sig")
    assert (await cluster.get("scorecards.xlsx", dashboard)).status_code == 403
    draft_sees = await cluster.get("standings.csv?layer=self", cluster.officer(DRAFT))
    assert DRAFT in draft_sees.content.decode("utf-8-sig")  # its own draft, as in GraphQL

    # Another unit's scorecard is refused (and recorded), as the scorecard field is.
    before = await cluster.head()
    refused = await cluster.get(f"units/{DRAFT}/scorecard.xlsx", member)
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await cluster.head() == before + 1
    # The whole cluster's scorecards hold the member's own unit only.
    own = load_workbook(io.BytesIO((await cluster.get("scorecards.xlsx", member)).content))
    assert own.sheetnames == [SUBMITTED]


async def test_a_units_scorecard_with_its_history(cluster: Cluster) -> None:
    who = cluster.officer(SUBMITTED)
    response = await cluster.get(f"units/{SUBMITTED}/scorecard.xlsx", who)
    assert response.status_code == 200, response.text
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == [SUBMITTED, "Lịch sử"]
    title = title_of(book[SUBMITTED])
    assert title["Đơn vị"] == f"Sở Y tế ({SUBMITTED})"
    rows = {r["Mã tiêu chí"]: r for r in table_of(book[SUBMITTED])}
    data = await cluster.api.ok(
        SCORECARD, {"year": YEAR, "unit": SUBMITTED}, token=who, cluster=cluster.code
    )
    column = {"SELF": "Tự chấm", "VERIFIED": "Cụm chấm", "CITY": "Thành phố"}
    for entry in data["cluster"]["year"]["scorecard"]["entries"]:
        row = rows[entry["criterion"]]
        assert cents(row[column[entry["layer"]]]) == entry["points"]
    assert rows["A1"]["Nhận xét của cụm"] == "Thiếu minh chứng quý IV"
    assert rows["A1"]["Điểm tối đa"] == 30
    history = table_of(book["Lịch sử"])
    a1 = [h for h in history if h["Tiêu chí"] == "A1"]
    assert [(h["Lớp điểm"], h["Điểm sau"]) for h in a1] == [
        ("Tự chấm điểm", 27.25),
        ("Cụm chấm (thẩm định)", 25.5),
    ]
    assert a1[1]["Người thực hiện"] == "Văn phòng Sở Tư pháp"

    csv_response = await cluster.get(f"units/{SUBMITTED}/scorecard.csv", who)
    rows_csv = list(csv.reader(io.StringIO(csv_response.content.decode("utf-8-sig"))))
    header, *body = rows_csv[rows_csv.index([]) + 1 :]
    a1_csv = next(r for r in body if r[header.index("Mã tiêu chí")] == "A1")
    assert a1_csv[header.index("Tự chấm")] == "27.25"
    assert a1_csv[header.index("Cụm chấm")] == "25.50"


async def test_every_scorecard_and_the_result_versions(cluster: Cluster) -> None:
    book = load_workbook(
        io.BytesIO((await cluster.get("scorecards.xlsx", cluster.auditor)).content)
    )
    assert book.sheetnames == sorted(UNITS)
    draft = {r["Mã tiêu chí"]: r for r in table_of(book[DRAFT])}
    assert draft["A2"]["Tự chấm"] == 14.5
    assert draft["B1"]["Giải trình tự chấm"] == FORMULA_LIKE  # text, never a formula
    assert book[DRAFT].cell(1, 1).data_type == "s"
    every = await cluster.get("scorecards.csv", cluster.auditor)
    rows = list(csv.reader(io.StringIO(every.content.decode("utf-8-sig"))))
    header, *body = rows[rows.index([]) + 1 :]
    assert {r[header.index("Mã đơn vị")] for r in body} == set(UNITS)
    b1 = next(r for r in body if r[:2] == [DRAFT, "B1"])
    assert b1[header.index("Giải trình tự chấm")] == "'" + FORMULA_LIKE  # kept as text

    empty = load_workbook(io.BytesIO((await cluster.get("results.xlsx", cluster.auditor)).content))
    assert title_of(empty.worksheets[0])["Tình trạng"] == "Năm thi đua chưa chốt kết quả"


async def test_refusals_are_the_downloads_refusals(cluster: Cluster, api: Api) -> None:
    other = await open_cluster(api)
    outsider = other.auditor
    before = await cluster.head()
    for path in ("standings.xlsx", "standings.csv", "results.csv", "scorecards.xlsx"):
        response = await cluster.get(path, outsider)
        assert response.status_code == 403, path
        assert response.json()["errors"][0]["extensions"]["code"] == "CLUSTER_NOT_COVERED"
    assert await cluster.head() == before  # never in the cluster's log
    assert (await cluster.get("standings.xlsx", None)).status_code == 401
    bad_layer = await cluster.get("standings.csv?layer=tong", cluster.auditor)
    assert bad_layer.status_code == 400
    assert "self, verified hoặc city" in bad_layer.json()["errors"][0]["message"]
    wrong_year = await cluster.api.http.get(
        f"/clusters/{cluster.code}/years/20x5/standings.xlsx",
        headers={"authorization": f"Bearer {cluster.auditor}"},
    )
    assert wrong_year.status_code == 400
    unopened = await cluster.api.http.get(
        f"/clusters/{cluster.code}/years/2031/results.csv",
        headers={"authorization": f"Bearer {cluster.auditor}"},
    )
    assert unopened.status_code == 404
    assert unopened.json()["errors"][0]["extensions"]["code"] == "UNKNOWN_YEAR"


# Imports: the self-assessment form and the city's criteria.

FORM = "units/{unit}/self-assessment.xlsx"
ID_HEADER = "Mã ẩn (không sửa)"


def form_rows(sheet: Worksheet) -> tuple[list[str], dict[str, int]]:
    """The header and each criterion's row number, by the hidden code in column I."""
    header_at = next(
        r[8].row for r in sheet.iter_rows(min_col=1, max_col=9) if r[8].value == ID_HEADER
    )
    header = [str(c.value) for c in sheet[header_at]]
    rows = {
        str(r[0].value): r[0].row
        for r in sheet.iter_rows(min_row=header_at + 1, min_col=9, max_col=9)
        if r[0].value
    }
    return header, rows


def saved(book: Any) -> bytes:
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


async def post(cluster: Cluster, path: str, who: str, body: bytes) -> httpx.Response:
    return await cluster.api.http.post(
        f"/clusters/{cluster.code}/years/{YEAR}/{path}",
        content=body,
        headers={"authorization": f"Bearer {who}", "content-type": XLSX},
    )


async def self_total(cluster: Cluster, who: str, unit: str) -> str:
    return str((await graphql_standings(cluster, who))["self"][unit]["total"])


async def test_the_form_round_trips_unchanged_and_a_filled_form_lands(api: Api) -> None:
    cluster = await open_cluster(api)
    who = cluster.officer(DRAFT)
    response = await cluster.get(FORM.format(unit=DRAFT), who)
    assert response.status_code == 200, response.text
    book = load_workbook(io.BytesIO(response.content))
    sheet = book["Tự chấm điểm"]
    assert sheet.protection.sheet
    assert sheet.column_dimensions["I"].hidden
    assert book["thidua"].sheet_state == "veryHidden"
    assert title_of(sheet)["Đơn vị"] == f"Sở Giáo dục và Đào tạo ({DRAFT})"
    header, rows = form_rows(sheet)
    points = header.index("Điểm tự chấm") + 1
    assert sheet.cell(rows["A1"], points).value == 29.75
    assert sheet.cell(rows["A1"], points).protection.locked is False
    assert sheet.cell(rows["A1"], 3).protection.locked is not False

    before = await cluster.head()
    unchanged = await post(cluster, FORM.format(unit=DRAFT), who, response.content)
    assert unchanged.status_code == 200, unchanged.text
    assert unchanged.json()["data"]["criteria"] == []
    assert await cluster.head() == before  # nothing written

    # The officer fills A3, lowers A1, and sorts the rows the other way round.
    sheet.protection.sheet = False
    explanation, evidence = (
        header.index("Giải trình") + 1,
        header.index("Minh chứng (mỗi tài liệu một dòng)") + 1,
    )
    sheet.cell(rows["A3"], points).value = 8.5
    sheet.cell(rows["A3"], explanation).value = "Hoàn thành nhiệm vụ thành phố giao"
    sheet.cell(rows["A3"], evidence).value = "Báo cáo 5/BC\nQuyết định 7/QĐ"
    sheet.cell(rows["A1"], points).value = 28
    first, last = min(rows.values()), max(rows.values())
    values = [[(c.value, c.data_type) for c in sheet[n]] for n in range(first, last + 1)]
    for offset, row in enumerate(reversed(values)):
        for column, (value, kind) in enumerate(row, 1):
            moved = sheet.cell(first + offset, column)
            moved.value, moved.data_type = value, kind  # a text stays text, "=" or not
    landed = await post(cluster, FORM.format(unit=DRAFT), who, saved(book))
    assert landed.status_code == 200, landed.text
    assert sorted(landed.json()["data"]["criteria"]) == ["A1", "A3"]
    assert await cluster.head() == before + 2  # one command: an entry per changed criterion
    assert await self_total(cluster, who, DRAFT) == "58.00"  # 28 + 14.5 + 8.5 + 7
    data = await cluster.api.ok(
        SCORECARD, {"year": YEAR, "unit": DRAFT}, token=who, cluster=cluster.code
    )
    a3 = next(e for e in data["cluster"]["year"]["scorecard"]["entries"] if e["criterion"] == "A3")
    assert (a3["points"], a3["explanation"]) == ("8.50", "Hoàn thành nhiệm vụ thành phố giao")


async def test_a_form_with_errors_names_every_cell_and_writes_nothing(api: Api) -> None:
    cluster = await open_cluster(api)
    who = cluster.officer(DRAFT)
    pristine = (await cluster.get(FORM.format(unit=DRAFT), who)).content
    book = load_workbook(io.BytesIO(pristine))
    sheet = book["Tự chấm điểm"]
    header, rows = form_rows(sheet)
    points = header.index("Điểm tự chấm") + 1
    explanation = header.index("Giải trình") + 1
    evidence = explanation + 1
    letter = "ABCDEFGHI"
    sheet.cell(rows["A2"], points).value = 16  # over 15
    sheet.cell(rows["A3"], points).value = "tám"  # text
    sheet.cell(rows["A3"], explanation).value = "x"
    sheet.cell(rows["A3"], evidence).value = "y"
    sheet.cell(rows["B1"], points).value = 7.125  # three decimals
    sheet.cell(rows["C2"], points).value = "#DIV/0!"  # a formula Excel could not compute
    sheet.cell(rows["B2"], points).value = 5  # no explanation nor evidence
    sheet.cell(rows["C1"], 1).value = "C9"  # a criterion's code changed
    sheet.delete_rows(rows["D"])  # a criterion's row removed
    before = await cluster.head()
    response = await post(cluster, FORM.format(unit=DRAFT), who, saved(book))
    assert response.status_code == 400, response.text
    errors = response.json()["errors"]
    assert {e["extensions"]["code"] for e in errors} == {"WORKBOOK_INVALID"}
    messages = [e["message"] for e in errors]
    p = letter[points - 1]
    assert (
        f"Dòng {rows['A2']}, cột {p}: điểm 16.00 vượt điểm tối đa 15.00 của tiêu chí A2" in messages
    )
    assert f"Dòng {rows['A3']}, cột {p}: ô phải chứa một số, không phải chữ 'tám'" in messages
    assert f"Dòng {rows['B1']}, cột {p}: điểm 7.125 có nhiều hơn 2 chữ số thập phân" in messages
    assert (
        f"Dòng {rows['B2']}, cột {letter[explanation - 1]}: tiêu chí B2 cần có giải trình"
        in messages
    )
    assert (
        f"Dòng {rows['B2']}, cột {letter[evidence - 1]}: tiêu chí B2 cần có tài liệu minh chứng"
        in messages
    )
    assert any(m.startswith(f"Dòng {rows['C1']}, cột A: mã tiêu chí đã bị sửa") for m in messages)
    assert any(m.startswith("Thiếu dòng của tiêu chí D") for m in messages)
    assert (
        f"Dòng {rows['C2']}, cột {p}: ô chứa lỗi công thức #DIV/0!; hãy nhập giá trị, không "
        "nhập công thức" in messages
    )
    assert len(errors) == 8, messages
    assert await cluster.head() == before

    # Another unit's form, a file that is no workbook, another unit's officer: refused.
    other = await post(
        cluster, FORM.format(unit=SUBMITTED), cluster.officer(SUBMITTED), saved(book)
    )
    assert other.status_code == 400
    assert f"không phải của đơn vị {SUBMITTED}" in other.json()["errors"][0]["message"]
    junk = await post(cluster, FORM.format(unit=DRAFT), who, b"PK\x03\x04 not a zip")
    assert (
        junk.json()["errors"][0]["message"]
        == "Tệp gửi lên không phải là sổ tính Excel (.xlsx) đọc được."
    )
    assert await cluster.head() == before
    forbidden = await post(
        cluster, FORM.format(unit=DRAFT), cluster.officer(SUBMITTED), saved(book)
    )
    assert forbidden.status_code == 403
    assert await cluster.head() == before + 1  # the refusal recorded, nothing else

    # The criteria changed since the form was handed out: it is refused whole.
    newer = replace(amended(CITY_CRITERIA), version="2025.2", effective_from=date(YEAR, 11, 1))
    adopt = c.AdoptCriteria(YEAR, TEMPLATE, CITY_CRITERIA.version, newer)
    await Emulation(api.store, api.clock).handle(Envelope(cluster.code, SECRETARIAT), adopt)
    stale = await post(cluster, FORM.format(unit=DRAFT), who, pristine)
    assert stale.status_code == 400
    assert stale.json()["errors"][0]["message"] == (
        "Biểu mẫu lập theo bộ tiêu chí phiên bản 2025.1; bộ tiêu chí đang áp dụng là phiên bản "
        "2025.2. Hãy tải biểu mẫu mới."
    )


async def test_the_city_board_publishes_criteria_from_a_workbook(api: Api) -> None:
    city = token(api.dsn, "Ban TĐKT", ["*"], Role.CITY_BOARD)
    template = await api.http.get(
        "/city/criteria.xlsx", headers={"authorization": f"Bearer {city}"}
    )
    assert template.status_code == 200
    book = load_workbook(io.BytesIO(template.content))
    sheet = book["Bộ tiêu chí"]
    name = f"tieu-chi-{uuid.uuid4().hex[:6]}"
    sheet["B1"], sheet["B2"] = name, "2026.1"
    url, headers = "/city/criteria.xlsx", {"authorization": f"Bearer {city}", "content-type": XLSX}
    service = Emulation(api.store, api.clock)
    files = {"file": ("bo-tieu-chi.xlsx", saved(book), XLSX)}  # a browser's form upload
    auth = {"authorization": f"Bearer {city}"}
    landed = await api.http.post(url, files=files, headers=auth)
    assert landed.status_code == 200, landed.text
    published = (await service.template(name)).published("2026.1")
    assert published.criteria == CITY_CRITERIA.criteria
    assert published.bonus_cap == CITY_CRITERIA.bonus_cap
    again = await api.http.get(f"{url}?template={name}&version=2026.1", headers=auth)
    assert (
        title_of(load_workbook(io.BytesIO(again.content))["Bộ tiêu chí"])["Phiên bản"] == "2026.1"
    )

    header_at = next(r[0].row for r in sheet.iter_rows(max_col=1) if r[0].value == "Mã tiêu chí")
    sheet["B2"] = "2026.2"
    sheet.cell(header_at + 1, 5).value = "Quan trọng"  # no such kind
    sheet.cell(header_at + 2, 6).value = None  # A2 without a maximum
    sheet.cell(header_at + 3, 1).value = "A1"  # A3 renamed to a code already used
    city_head, _ = await api.store.head(CITY_LOG)
    refused = await api.http.post(url, content=saved(book), headers=headers)
    assert refused.status_code == 400, refused.text
    messages = [e["message"] for e in refused.json()["errors"]]
    assert messages == [
        f"Dòng {header_at + 3}, cột A: mã tiêu chí A1 đã có ở dòng {header_at + 1}",
        f"Dòng {header_at + 1}, cột E: loại phải là Cơ bản, Điểm thưởng hoặc Điểm trừ",
        f"Dòng {header_at + 2}, cột F: tiêu chí A2 cần có điểm tối đa",
    ]
    assert (await api.store.head(CITY_LOG))[0] == city_head
    member = token(api.dsn, "Cán bộ", ["*"], Role.MEMBER_OFFICER, "so-y-te")
    headers["authorization"] = f"Bearer {member}"
    assert (await api.http.post(url, content=saved(book), headers=headers)).status_code == 403


async def test_result_versions_as_each_reader_may_see_them(api: Api) -> None:
    cluster = await open_cluster(api)
    service = Emulation(api.store, api.clock)
    await service.handle(Envelope(cluster.code, SECRETARIAT), c.Finalise(YEAR))
    city = CITY_BOARD.caller()
    reopen = c.Reopen(YEAR, "Rà soát lại điểm kiểm tra chéo")
    await service.handle(Envelope(cluster.code, city), reopen)
    await service.handle(Envelope(cluster.code, SECRETARIAT), c.Finalise(YEAR))

    for who, auditor in ((cluster.auditor, True), (cluster.officer(SUBMITTED), False)):
        data = await api.ok(RESULTS, {"year": YEAR}, token=who, cluster=cluster.code)
        expected = {
            (r["version"], layer["layer"].lower(), t["unit"]): t["total"]
            for r in data["cluster"]["year"]["results"]
            for layer in r["layers"]
            for t in layer["totals"]
        }
        response = await cluster.get("results.xlsx", who)
        assert response.status_code == 200, response.text
        book = load_workbook(io.BytesIO(response.content))
        assert book.sheetnames == ["Phiên bản 1", "Phiên bản 2"]
        first = title_of(book["Phiên bản 1"])
        assert first["Tình trạng"] == "Đã mở lại: Rà soát lại điểm kiểm tra chéo"
        assert title_of(book["Phiên bản 2"])["Tình trạng"] == "Đang có hiệu lực"
        layer_of = {"Tự chấm điểm": "self", "Cụm chấm (thẩm định)": "verified"}
        layer_of["Thành phố điều chỉnh (lớp xếp hạng)"] = "city"
        got = {
            (row["Phiên bản"], layer_of[row["Lớp điểm"]], row["Mã đơn vị"]): cents(row["Tổng điểm"])
            for sheet in book.worksheets
            for row in table_of(sheet)
        }
        assert got == expected
        csv_body = (await cluster.get("results.csv", who)).content.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(csv_body)))
        header, *body = rows[rows.index([]) + 1 :]
        assert header[:3] == ["Phiên bản", "Lớp điểm", "Hạng"]
        assert len(body) == len(expected)
        shown_draft = (2, "self", DRAFT) in got
        assert shown_draft == auditor  # the member never sees the draft


@pytest.fixture
def thidua(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Awaitable[tuple[int, str, str]]]:
    """The `thidua` command against the test database, as the server's operator runs it
    (its own event loop, in a thread: no new interpreter to start)."""
    monkeypatch.setenv("DATABASE_URL", api.dsn)
    monkeypatch.setenv("THIDUA_JWT_SECRET", SECRET)
    root = logging.getLogger()  # the command configures logging: put it back afterwards
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)

    async def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = await asyncio.to_thread(main, list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


async def test_the_command_line_exports_and_imports(
    api: Api, tmp_path: Path, thidua: Callable[..., Awaitable[tuple[int, str, str]]]
) -> None:
    cluster = await open_cluster(api)
    out = tmp_path / "xep-hang.csv"
    where = ("--cluster", cluster.code, "--year", str(YEAR))
    code, _, stderr = await thidua("export", "standings", *where, "--out", str(out))
    assert code == 0, stderr
    written = await asyncio.to_thread(out.read_bytes)
    rows = list(csv.reader(io.StringIO(written.decode("utf-8-sig"))))
    title = {r[0]: r[1] for r in rows[: rows.index([])]}
    assert title["Lớp điểm"] == "Thành phố điều chỉnh (lớp xếp hạng)"
    assert "dòng lệnh" in title["Người xuất"]
    header, *body = rows[rows.index([]) + 1 :]
    expected = (await graphql_standings(cluster, cluster.auditor))["city"]
    got = {r[header.index("Mã đơn vị")]: r[header.index("Tổng điểm")] for r in body}
    assert got == {unit: row["total"] for unit, row in expected.items()}

    who = cluster.officer(DRAFT)
    book = load_workbook(io.BytesIO((await cluster.get(FORM.format(unit=DRAFT), who)).content))
    sheet = book["Tự chấm điểm"]
    header_row, rows_at = form_rows(sheet)
    sheet.cell(rows_at["A1"], header_row.index("Điểm tự chấm") + 1).value = 31  # over 30
    form_file = tmp_path / "tu-cham.xlsx"
    await asyncio.to_thread(book.save, form_file)
    before = await cluster.head()
    unit = ("--unit", DRAFT, "--token", who, "--file", str(form_file))
    code, _, stderr = await thidua("import", "self-assessment", *where, *unit)
    assert code == 1
    assert "điểm 31.00 vượt điểm tối đa 30.00 của tiêu chí A1" in stderr
    assert await cluster.head() == before

    # The city's criteria land from the command line (self scores would meet the real
    # clock's deadline: the server's clock is the test's, the command line's the machine's).
    city = token(api.dsn, "Ban TĐKT", ["*"], Role.CITY_BOARD)
    template = await api.http.get(
        "/city/criteria.xlsx", headers={"authorization": f"Bearer {city}"}
    )
    criteria = load_workbook(io.BytesIO(template.content))
    name = f"tieu-chi-{uuid.uuid4().hex[:6]}"
    criteria["Bộ tiêu chí"]["B1"] = name
    criteria_file = tmp_path / "bo-tieu-chi.xlsx"
    await asyncio.to_thread(criteria.save, criteria_file)
    given = ("--token", city, "--file", str(criteria_file))
    code, stdout, stderr = await thidua("import", "criteria", *given)
    assert code == 0, stderr
    assert f"Đã ban hành bộ tiêu chí {name}, phiên bản 2025.1" in stdout
    published = await Emulation(api.store, api.clock).template(name)
    assert published.published("2025.1").criteria == CITY_CRITERIA.criteria


def zipped(**parts: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"", XLSX),
        (b"\x00\xff" * 100, XLSX),
        (zipped(hello=b"world"), XLSX),
        (zipped(**{"[Content_Types].xml": b"<Types"}), XLSX),
        (
            b"--x\r\nContent-Disposition: form-data; name=file\r\n\r\nno file--",
            "multipart/form-data; boundary=x",
        ),
        (b"\r\n\r\n--", "multipart/form-data"),
    ],
)
async def test_what_is_not_a_form_is_a_400_and_writes_nothing(
    cluster: Cluster, body: bytes, kind: str
) -> None:
    before = await cluster.head()
    who = cluster.officer(DRAFT)
    response = await cluster.api.http.post(
        f"/clusters/{cluster.code}/years/{YEAR}/{FORM.format(unit=DRAFT)}",
        content=body,
        headers={"authorization": f"Bearer {who}", "content-type": kind},
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["message"]
    assert await cluster.head() == before


async def test_odd_urls_and_other_clusters_are_refused_with_their_codes(
    cluster: Cluster, api: Api
) -> None:
    before = await cluster.head()
    for unit in ("a" * 65, "đơn-vị", "-x"):
        response = await cluster.get(FORM.format(unit=unit), cluster.auditor)
        assert response.status_code == 400, unit
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_CODE"
    outsider = token(api.dsn, "Cán bộ cụm khác", ["cum-khac"], Role.MEMBER_OFFICER, DRAFT)
    response = await cluster.get(FORM.format(unit=DRAFT), outsider)
    assert response.status_code == 403
    posted = await post(cluster, FORM.format(unit=DRAFT), outsider, b"")
    assert posted.json()["errors"][0]["extensions"]["code"] == "CLUSTER_NOT_COVERED"
    too_big = await post(cluster, FORM.format(unit=DRAFT), cluster.officer(DRAFT), b"x" * (3 << 20))
    assert too_big.status_code == 413
    assert await cluster.head() == before
