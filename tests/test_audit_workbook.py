"""The audit trail as an Excel workbook, as an auditor downloads it and opens it.

Over a real server: a unit's officer scores (a Vietnamese explanation typed with
combining marks, a correction with a reason, a text that looks like a formula) and is
refused once; the auditor downloads `/clusters/{code}/audit.xlsx?year=…` and the file,
read back with openpyxl, shows one row per change in position order under Vietnamese
headers, the refusal with its code, times as Excel datetimes in Hanoi time, and a sheet
saying which cluster, year and log position it holds, when and by whom. A member unit is
refused (and the refusal recorded), another cluster's auditor is refused and learns
nothing, a year that is not one is a 400, and `thidua audit workbook` writes the same rows.
"""

import asyncio
import io
import os
import sys
import unicodedata
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from openpyxl.cell.cell import Cell
from openpyxl.worksheet.worksheet import Worksheet

from api_client import Api, serving, token
from thidua.demo import CITY_BOARD, CITY_CRITERIA, TEMPLATE, YEAR, ensure_template
from thidua.domain.commands import AdoptCriteria, MemberGiven, OpenYear, RegisterCluster
from thidua.domain.rights import Actor, Role
from thidua.service.emulation import CITY_LOG, Emulation
from thidua.service.envelope import HANOI, Calendar, Envelope
from thidua.service.reads import Reads

UNITS = {"so-tu-phap": "Sở Tư pháp", "so-y-te": "Sở Y tế", "so-gd": "Sở Giáo dục và Đào tạo"}
LEADER, UNIT, OTHER = UNITS
CLUSTER_NAME = "Cụm thi đua thử nhật ký"
SCORING_DAY = date(YEAR, 11, 20)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADERS = (
    "Vị trí",
    "Thời điểm ghi nhận",
    "Ngày diễn ra",
    "Người thực hiện",
    "Vai trò",
    "Đơn vị người thực hiện",
    "Thao tác",
    "Sự kiện",
    "Đối tượng",
    "Năm",
    "Đơn vị liên quan",
    "Tiêu chí",
    "Nội dung",
    "Giá trị trước",
    "Giá trị sau",
    "Lý do",
    "Kết quả",
    "Mã tương quan",
    "Mã yêu cầu",
)
EXPLANATION = unicodedata.normalize("NFD", "Hoàn thành 100% chỉ tiêu về hồ sơ trực tuyến")
FORMULA_LIKE = "=SUM(A1:A9) là lời giải trình, không phải công thức"

SELF_SCORE = """
mutation ($year: Int!, $unit: String!, $criterion: String!, $points: Decimal!,
          $explanation: String!, $reason: String) {
  selfScore(input: {year: $year, unit: $unit, criterion: $criterion, points: $points,
                    explanation: $explanation, evidence: ["Báo cáo số 12/BC"]},
            options: {reason: $reason}) { version }
}"""
AUDIT = """
query ($filter: AuditFilterInput, $after: String) {
  cluster { auditTrail(filter: $filter, first: 100, after: $after) {
    edges { node {
      position year subject command actor recordedAt occurredAt correlationId after
    } }
    pageInfo { hasNextPage endCursor }
  } }
}"""


@dataclass
class Cluster:
    api: Api
    code: str

    def officer(self, unit: str) -> str:
        return token(self.api.dsn, f"Cán bộ {unit}", [self.code], Role.MEMBER_OFFICER, unit)

    @property
    def auditor(self) -> str:
        return token(self.api.dsn, "Kiểm toán viên Trần Thị Bình", [self.code], Role.AUDITOR)

    async def self_score(
        self, who: str, unit: str, criterion: str, points: str, text: str, **more: Any
    ) -> dict[str, Any]:
        variables = {
            "year": YEAR,
            "unit": unit,
            "criterion": criterion,
            "points": points,
            "explanation": text,
        }
        _, body = await self.api.post(SELF_SCORE, variables | more, token=who, cluster=self.code)
        return body

    async def trail(self, **where: Any) -> list[dict[str, Any]]:
        """The whole audit trail as GraphQL pages it."""
        found: list[dict[str, Any]] = []
        after = None
        while True:
            data = await self.api.ok(
                AUDIT, {"filter": where, "after": after}, token=self.auditor, cluster=self.code
            )
            page = data["cluster"]["auditTrail"]
            found += [e["node"] for e in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                return found
            after = page["pageInfo"]["endCursor"]

    async def head(self) -> int:
        position, _ = await self.api.store.head(self.code)
        return position

    async def download(self, who: str | None, query: str = f"?year={YEAR}") -> httpx.Response:
        headers = {"authorization": f"Bearer {who}"} if who else {}
        return await self.api.http.get(f"/clusters/{self.code}/audit.xlsx{query}", headers=headers)


@pytest.fixture(scope="module")
async def api(dsn: str) -> AsyncIterator[Api]:
    async with serving(dsn, Calendar(datetime.combine(SCORING_DAY, time(9), HANOI))) as api:
        await ensure_template(Emulation(api.store, api.clock))
        yield api


async def open_cluster(api: Api) -> Cluster:
    """A cluster of three units whose year has the city's criteria, through the service."""
    code = f"cum-xlsx-{uuid.uuid4().hex[:6]}"
    service = Emulation(api.store, api.clock)
    city = CITY_BOARD.caller()
    await service.handle(Envelope(CITY_LOG, city), RegisterCluster(code, CLUSTER_NAME))
    members = tuple(MemberGiven(u, n, date(YEAR, 1, 1)) for u, n in UNITS.items())
    await service.handle(Envelope(code, city), OpenYear(YEAR, members, LEADER, (UNIT,)))
    secretariat = Actor("Văn phòng Sở Tư pháp", Role.SECRETARIAT, LEADER).caller()
    adopt = AdoptCriteria(YEAR, TEMPLATE, CITY_CRITERIA.version, CITY_CRITERIA)
    await service.handle(Envelope(code, secretariat), adopt)
    return Cluster(api, code)


@pytest.fixture
async def cluster(api: Api) -> Cluster:
    return await open_cluster(api)


@dataclass
class Played:
    refusal_code: str
    refusal_message: str


async def play(cluster: Cluster) -> Played:
    """The officer's changes, a correction with a reason, and one refused attempt."""
    officer = cluster.officer(UNIT)
    for body in (
        await cluster.self_score(officer, UNIT, "A1", "27", EXPLANATION),
        await cluster.self_score(
            officer, UNIT, "A1", "26.5", "Điều chỉnh theo minh chứng", reason="Rà soát lại"
        ),
        await cluster.self_score(officer, UNIT, "A2", "5", FORMULA_LIKE),
    ):
        assert "errors" not in body, body
    refused = await cluster.self_score(officer, OTHER, "A1", "30", "Chấm hộ đơn vị khác")
    [error] = refused["errors"]
    return Played(error["extensions"]["code"], error["message"])


def sheet_rows(sheet: Worksheet) -> list[tuple[Any, ...]]:
    return list(sheet.iter_rows(values_only=True))


def hanoi(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(HANOI).replace(tzinfo=None)


def same_moment(cell: Any, text: str) -> bool:
    """Excel keeps a datetime to the millisecond."""
    return isinstance(cell, datetime) and abs(cell - hanoi(text)) < timedelta(milliseconds=1)


async def test_the_auditor_downloads_the_years_trail(cluster: Cluster) -> None:
    played = await play(cluster)
    head = await cluster.head()

    response = await cluster.download(cluster.auditor)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX
    assert response.headers["content-disposition"] == (
        f'attachment; filename="nhat-ky-{cluster.code}-{YEAR}.xlsx"'
    )
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Nhật ký kiểm toán", "Thông tin"]
    trail = book["Nhật ký kiểm toán"]
    rows = sheet_rows(trail)
    assert rows[0] == HEADERS
    assert trail.freeze_panes == "A2"
    assert trail.auto_filter.ref == f"A1:S{len(rows)}"
    assert trail.column_dimensions["M"].width == 50  # the content has room

    # One row per change of the year, in position order: what GraphQL pages through.
    expected = [e for e in await cluster.trail() if e["year"] == YEAR]
    by_position = {e["position"]: e for e in expected}
    column = {title: i for i, title in enumerate(HEADERS)}
    positions = [r[column["Vị trí"]] for r in rows[1:]]
    assert positions == [e["position"] for e in expected] == sorted(positions)
    assert positions[-1] == head  # the refusal is the last thing recorded
    for row in rows[1:]:
        change = by_position[row[column["Vị trí"]]]
        assert same_moment(row[column["Thời điểm ghi nhận"]], change["recordedAt"])
        assert row[column["Mã tương quan"]] == change["correlationId"]
        assert row[column["Thao tác"]] == change["command"]

    def one(**where: Any) -> tuple[Any, ...]:
        [found] = [r for r in rows[1:] if all(r[column[k]] == v for k, v in where.items())]
        return found

    # The first score: the explanation typed with combining marks reads back in NFC.
    first, correction = [
        r for r in rows[1:] if r[column["Đối tượng"]] == f"score/{YEAR}/{UNIT}/self/A1"
    ]
    content = first[column["Nội dung"]]
    assert content == unicodedata.normalize("NFC", EXPLANATION) + "\nMinh chứng: Báo cáo số 12/BC"
    assert content != unicodedata.normalize("NFD", content)
    assert first[column["Người thực hiện"]] == f"Cán bộ {UNIT}"
    assert first[column["Vai trò"]] == "Cán bộ thi đua của đơn vị"
    assert first[column["Đơn vị người thực hiện"]] == UNIT
    assert first[column["Đơn vị liên quan"]] == UNIT
    assert (first[column["Năm"]], first[column["Tiêu chí"]]) == (YEAR, "A1")
    assert (first[column["Thao tác"]], first[column["Sự kiện"]]) == ("selfScore", "Scored")
    assert first[column["Kết quả"]] == "Ghi nhận"
    # Nine in the morning in Hanoi, the server's day: not two o'clock UTC.
    assert first[column["Ngày diễn ra"]] == datetime.combine(SCORING_DAY, time(9))
    # The correction: points before and after as numbers, and its reason.
    assert (correction[column["Giá trị trước"]], correction[column["Giá trị sau"]]) == (27, 26.5)
    assert correction[column["Lý do"]] == "Rà soát lại"

    # A text that looks like a formula is text.
    [formula_row] = [
        cells
        for cells in trail.iter_rows(min_row=2)
        if cells[column["Tiêu chí"]].value == "A2" and cells[column["Sự kiện"]].value == "Scored"
    ]
    cell = formula_row[column["Nội dung"]]
    assert cell.data_type == "s"
    assert cell.value == f"{FORMULA_LIKE}\nMinh chứng: Báo cáo số 12/BC"

    # The refused attempt, with its code and the message the officer was given.
    refusal = one(**{"Kết quả": f"Bị từ chối ({played.refusal_code})"})
    assert played.refusal_code == "FORBIDDEN"
    assert refusal[column["Thao tác"]] == "selfScore"
    assert refusal[column["Người thực hiện"]] == f"Cán bộ {UNIT}"
    assert refusal[column["Đơn vị liên quan"]] == OTHER
    assert refusal[column["Nội dung"]] == played.refusal_message
    assert f"unit: {OTHER}" in refusal[column["Đối tượng"]]
    assert refusal[column["Giá trị sau"]] is None  # it changed nothing

    # Times are Excel datetimes with a format people read.
    recorded = next(trail.iter_rows(min_row=2))[column["Thời điểm ghi nhận"]]
    assert isinstance(recorded, Cell)
    assert recorded.is_date
    assert recorded.number_format == "dd/mm/yyyy hh:mm:ss"

    info = dict(sheet_rows(book["Thông tin"]))
    assert info["Cụm thi đua"] == f"{CLUSTER_NAME} ({cluster.code})"
    assert info["Năm thi đua"] == YEAR
    assert info["Vị trí cuối của nhật ký khi xuất"] == head
    assert info["Nhật ký kiểm toán cập nhật đến vị trí"] == head
    assert info["Số dòng"] == len(rows) - 1
    assert info["Người xuất"] == "Kiểm toán viên Trần Thị Bình, Kiểm toán viên"
    exported = info["Thời điểm xuất"]
    assert isinstance(exported, datetime)
    now = datetime.now(HANOI).replace(tzinfo=None)
    assert now - timedelta(minutes=5) < exported <= now


async def test_the_trail_is_read_in_bounded_batches_up_to_where_the_log_stood(
    cluster: Cluster,
) -> None:
    await play(cluster)
    reads = Reads(cluster.api.store)
    snapshot = await reads.audit_snapshot(cluster.code)
    assert snapshot.head == snapshot.through == await cluster.head()
    everything = [e["position"] for e in await cluster.trail()]

    await play(cluster)  # recorded after the snapshot: not in what it reads
    batches = [b async for b in reads.audit_trail(cluster.code, None, snapshot.through, batch=7)]

    assert all(1 <= len(b) <= 7 for b in batches)
    assert len(batches) == -(-len(everything) // 7)
    assert [r["position"] for b in batches for r in b] == everything
    refusals = [r for b in batches for r in b if r["subject"] == "refusal"]
    assert [r["after"]["code"] for r in refusals] == ["FORBIDDEN"]


async def test_the_whole_clusters_trail_without_a_year(cluster: Cluster) -> None:
    await play(cluster)
    response = await cluster.download(cluster.auditor, "")
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == (
        f'attachment; filename="nhat-ky-{cluster.code}.xlsx"'
    )
    book = load_workbook(io.BytesIO(response.content))
    rows = sheet_rows(book["Nhật ký kiểm toán"])[1:]
    assert [r[0] for r in rows] == list(range(1, await cluster.head() + 1))
    assert dict(sheet_rows(book["Thông tin"]))["Năm thi đua"] == "Mọi năm"


async def test_a_member_unit_is_refused_and_the_refusal_recorded(cluster: Cluster) -> None:
    head = await cluster.head()
    for who in (
        cluster.officer(UNIT),
        token(cluster.api.dsn, "Sở Y tế", [cluster.code], Role.MEMBER_HEAD, UNIT),
    ):
        response = await cluster.download(who)
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("application/json")
        [error] = response.json()["errors"]
        assert error["extensions"] == {"code": "FORBIDDEN", "kind": "FORBIDDEN"}
        assert error["message"]
    # Recorded in the cluster's log, as any refused read is, under the read's name.
    assert await cluster.head() == head + 2
    refusals = await cluster.trail(subject="refusal")
    assert [(r["command"], r["year"]) for r in refusals] == [("auditWorkbook", YEAR)] * 2

    missing = await cluster.download(None)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    forged = await cluster.download("not-a-token")
    assert forged.status_code == 401


async def test_another_clusters_auditor_is_refused_and_sees_nothing(api: Api) -> None:
    ours, theirs = await open_cluster(api), await open_cluster(api)
    await play(ours)
    head = await ours.head()

    response = await ours.download(theirs.auditor)

    assert response.status_code == 403
    assert response.json() == {
        "errors": [
            {
                "message": f"Tài khoản của bạn không có quyền với cụm thi đua '{ours.code}'.",
                "extensions": {"code": "CLUSTER_NOT_COVERED", "kind": "FORBIDDEN"},
            }
        ]
    }
    assert await ours.head() == head  # counted for the deployment, not in our log
    # Their own workbook holds nothing of ours.
    own = await theirs.download(theirs.auditor)
    assert own.status_code == 200
    book = load_workbook(io.BytesIO(own.content))
    cells = {v for row in sheet_rows(book["Nhật ký kiểm toán"]) for v in row}
    ours_trail = await ours.trail()
    assert not cells & {e["correlationId"] for e in ours_trail}
    assert f"Cán bộ {UNIT}" not in cells


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("?year=hai-nghin", "BAD_VALUE"),
        ("?year=20255", "BAD_VALUE"),
        ("?year=1999", "OUT_OF_RANGE"),
        (f"?year={YEAR}&year={YEAR + 1}", "BAD_VALUE"),
    ],
)
async def test_a_year_that_is_not_one_is_a_400(cluster: Cluster, query: str, code: str) -> None:
    head = await cluster.head()
    response = await cluster.download(cluster.auditor, query)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": code, "kind": "BAD_INPUT"}
    assert "năm thi đua (year)" in error["message"].lower()
    assert await cluster.head() == head  # bad input is not an attempt on anything


async def test_an_unknown_cluster_is_a_404(api: Api) -> None:
    city_auditor = token(api.dsn, "Kiểm toán nhà nước", ["*"], Role.AUDITOR)
    response = await api.http.get(
        "/clusters/cum-khong-co/audit.xlsx", headers={"authorization": f"Bearer {city_auditor}"}
    )
    assert response.status_code == 404
    assert response.json()["errors"][0]["extensions"]["code"] == "UNKNOWN_CLUSTER"


async def test_the_command_line_writes_the_same_rows(cluster: Cluster, tmp_path: Path) -> None:
    await play(cluster)
    response = await cluster.download(cluster.auditor)
    assert response.status_code == 200
    downloaded = load_workbook(io.BytesIO(response.content))
    out = tmp_path / "nhat-ky.xlsx"

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "thidua",
        "audit",
        "workbook",
        "--cluster",
        cluster.code,
        "--year",
        str(YEAR),
        "--out",
        str(out),
        env={**os.environ, "DATABASE_URL": cluster.api.dsn},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, stderr.decode()
    assert str(out) in stdout.decode()

    written = load_workbook(out)
    assert sheet_rows(written["Nhật ký kiểm toán"]) == sheet_rows(downloaded["Nhật ký kiểm toán"])
    info = dict(sheet_rows(written["Thông tin"]))
    assert info["Cụm thi đua"] == f"{CLUSTER_NAME} ({cluster.code})"
    assert info["Vị trí cuối của nhật ký khi xuất"] == await cluster.head()
    assert "dòng lệnh" in info["Người xuất"]
    left = await asyncio.to_thread(os.listdir, tmp_path)
    assert left == [out.name]  # nothing half-written left beside it
