"""The pages in a real browser (Debian's Chromium driven by Playwright) against the app on a
real port: what each person sees, live updates without a reload, refusals in Vietnamese,
and GraphiQL working with nothing but the server reachable. Screenshots go to
$THIDUA_ARTIFACTS (default artifacts/).

Slow, so they run on one database server only, whatever the suite's `server` fixture
offers: the pages add nothing the API tests do not already check on each server."""

import base64
import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, Route, async_playwright, expect

from api_client import SECRET, Api, serving, token
from thidua.config import SignInSettings
from thidua.demo import (
    CITY_BOARD,
    CITY_CRITERIA,
    DEMO,
    TEMPLATE,
    YEAR,
    amended,
    ensure_template,
    play_year,
)
from thidua.domain import commands as c
from thidua.domain.rights import Actor, Role
from thidua.service.emulation import Emulation
from thidua.service.envelope import Calendar, Envelope

pytestmark = pytest.mark.parametrize("server", ["embedded"], indirect=True)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("THIDUA_ARTIFACTS") or ROOT / "artifacts")
WAIT = 15_000  # ms a page may take to show what it must (a ceiling, not a timing asserted)


def two_decimals(points: str) -> str:
    """The API's exact points as the pages write them: 101.5 -> 101,50."""
    whole, _, fraction = points.partition(".")
    return f"{whole},{(fraction + '00')[:2]}"


def artifact(name: str) -> str:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return str(ARTIFACTS / name)


async def shot(page: Page, name: str, *, full: bool = True) -> None:
    await page.screenshot(path=artifact(f"{name}.png"), full_page=full)


def chromium() -> str:
    assert Path(CHROMIUM).exists(), (
        "the page tests need Debian's chromium: apt-get install chromium"
    )
    return CHROMIUM


def first_line(path: Path) -> str:
    with path.open(encoding="utf-8") as file:
        return file.readline()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium(), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        await launched.close()


@pytest.fixture(scope="module")
async def api(dsn: str) -> AsyncIterator[Api]:
    clock = Calendar(datetime(YEAR, 1, 5, 2, tzinfo=UTC))
    async with serving(dsn, clock) as running:
        yield running


@pytest.fixture(scope="module")
async def played(api: Api) -> str:
    """A demo cluster whose year 2025 was played and finalised, then reopened by the city
    (so the city may adjust a score while a dashboard watches)."""
    service = Emulation(api.store, api.clock)
    await ensure_template(service)
    cluster = replace(DEMO[0], code=f"cum-trang-{uuid.uuid4().hex[:6]}")
    await api.store.create_tenant(cluster.code, cluster.name)
    await play_year(service, api.clock, cluster)
    await service.handle(
        Envelope(cluster.code, CITY_BOARD.caller()), c.Reopen(YEAR, "Rà soát điểm thưởng")
    )
    api.clock.on(date(YEAR + 1, 1, 10))
    return cluster.code


async def open_year(api: Api) -> str:
    """A cluster whose year is open for self-assessment: members, leader, criteria."""
    api.clock.on(date(YEAR, 11, 20))
    service = Emulation(api.store, api.clock)
    await ensure_template(service)
    code = f"cum-mo-{uuid.uuid4().hex[:6]}"
    await api.store.create_tenant(code, "Cụm thi đua đang chấm điểm")
    units = DEMO[0].units[:4]
    members = tuple(c.MemberGiven(u, name, date(YEAR, 1, 1)) for u, name in units)
    city = Envelope(code, CITY_BOARD.caller())
    await service.handle(city, c.OpenYear(YEAR, members, units[0][0], (units[1][0],)))
    secretariat = Actor("Phòng Thi đua", Role.SECRETARIAT, units[0][0])
    adopt = c.AdoptCriteria(YEAR, TEMPLATE, CITY_CRITERIA.version, amended(CITY_CRITERIA))
    await service.handle(Envelope(code, secretariat.caller()), adopt)
    return code


ELSEWHERE: list[str] = []  # what a page asked of any host but the server: nothing, ever
BROKEN: list[str] = []  # errors a page's scripts threw: none, whatever the page shows


@pytest.fixture(autouse=True)
def nothing_from_elsewhere_and_no_script_errors() -> Iterator[None]:
    ELSEWHERE.clear()
    BROKEN.clear()
    yield
    assert ELSEWHERE == [], "a page reached beyond the server (an intranet has no internet)"
    assert BROKEN == [], "a page's script failed"


async def offline(page: Page, server: str) -> None:
    """The page reaches the server and nothing else, as on an intranet."""

    async def only_the_server(route: Route) -> None:
        if route.request.url.startswith(server):
            await route.continue_()
        else:
            ELSEWHERE.append(route.request.url)
            await route.abort()

    await page.route("**/*", only_the_server)
    page.on("pageerror", lambda error: BROKEN.append(str(error)))


async def signed_in(browser: Browser, api: Api, signed: str, **viewport: int) -> Page:
    """A fresh tab, on the intranet, signed in the way a person is: the sign-in link."""
    size = {"width": 1440, "height": 900} | viewport
    page = await browser.new_page(viewport=size, locale="vi-VN")  # type: ignore[arg-type]
    await offline(page, api.url)
    await page.goto(f"{api.url}/#token={signed}")
    await expect(page.locator("#who .person")).to_be_visible(timeout=WAIT)
    return page


def link_from_cli(base: str, *args: str) -> str:
    """`thidua token … --link`, signed with the test server's secret."""
    env = {**os.environ, "THIDUA_JWT_SECRET": SECRET, "THIDUA_DATA_DIR": "/nonexistent"}
    done = subprocess.run(
        [sys.executable, "-m", "thidua", "token", *args, "--link", base],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


async def test_a_sign_in_link_keeps_the_token_out_of_every_request(
    browser: Browser, api: Api, played: str
) -> None:
    link = link_from_cli(
        api.url, "--sub", "kiem.toan", "--name", "Lê Thị Hoa", "--cluster", played,
        "--role", "auditor",
    )  # fmt: skip
    assert link.startswith(f"{api.url}/#token=")
    page = await browser.new_page(locale="vi-VN")
    await offline(page, api.url)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto(link)
    await expect(page.locator("h1")).to_contain_text("Xin chào, Lê Thị Hoa", timeout=WAIT)
    await expect(page.locator("li.cluster")).to_contain_text("Cụm thi đua số XII")
    await expect(page.locator("li.cluster")).to_contain_text("Năm 2025")
    assert page.url == f"{api.url}/", "the token is stripped from the address bar"
    kept = await page.evaluate("sessionStorage.getItem('thidua.token')")
    assert kept == link.split("#token=")[1]
    assert requested
    assert not [url for url in requested if "token=" in url or kept in url]
    await shot(page, "trang-chu")
    await page.close()


STANDINGS = """query ($year: Int!) { cluster { year(year: $year) {
  standings(layer: CITY) { unit rank total decidedBy notes { text } } } } }"""
CITY_ADJUST = """mutation ($u: String!) { cityAdjust(input: {year: 2025, unit: $u,
  criterion: "E2", points: "0", explanation: "Chưa có quyết định tặng cờ của Bộ"})
  { positions } }"""


async def test_the_dashboard_shows_the_standings_and_follows_a_write_without_reload(
    browser: Browser, api: Api, played: str
) -> None:
    screen = token(api.dsn, "Màn hình phòng họp", [played], Role.DASHBOARD)
    city = token(api.dsn, "Nguyễn Văn An", ["*"], Role.CITY_BOARD)
    read = await api.ok(STANDINGS, {"year": YEAR}, token=screen, cluster=played)
    standings = sorted(read["cluster"]["year"]["standings"], key=lambda s: s["rank"])

    page = await signed_in(browser, api, screen, width=1920, height=1080)
    await page.goto(f"{api.url}/clusters/{played}/years/{YEAR}")
    rows = page.locator("table.standings tbody tr")
    await expect(rows).to_have_count(len(standings), timeout=WAIT)
    await expect(page.locator(".live")).to_contain_text("Cập nhật trực tiếp", timeout=WAIT)
    for row, standing in zip(await rows.all(), standings, strict=True):
        assert await row.get_attribute("data-unit") == standing["unit"]
        await expect(row.locator("td.rank")).to_have_text(str(standing["rank"]))
        await expect(row.locator("td.total")).to_have_text(two_decimals(standing["total"]))
        for note in standing["notes"]:
            await expect(row.locator("ul.notes")).to_contain_text(note["text"])
    await expect(rows.first.locator("td.rule")).to_have_text("Tổng điểm")
    await expect(rows.first).to_contain_text("Dẫn đầu")
    await shot(page, "bang-xep-hang")

    leader = standings[0]["unit"]
    api.clock.on(date(YEAR + 1, 1, 10))  # after the reopening, whatever ran before
    await page.evaluate("window.stillTheSamePage = true")
    await api.ok(CITY_ADJUST, {"u": leader}, token=city, cluster=played)
    after = await api.ok(STANDINGS, {"year": YEAR}, token=screen, cluster=played)
    now = {s["unit"]: s for s in after["cluster"]["year"]["standings"]}
    assert now[leader]["total"] != standings[0]["total"]
    row = page.locator(f'table.standings tbody tr[data-unit="{leader}"]')
    await expect(row.locator("td.total")).to_have_text(
        two_decimals(now[leader]["total"]), timeout=WAIT
    )
    await expect(row.locator("td.rank")).to_have_text(str(now[leader]["rank"]))
    assert await page.evaluate("window.stillTheSamePage") is True, "the page was reloaded"
    await shot(page, "bang-xep-hang-sau-dieu-chinh")
    await page.set_viewport_size({"width": 390, "height": 844})
    await shot(page, "bang-xep-hang-dien-thoai")
    await page.close()

    elsewhere = token(api.dsn, "Màn hình cụm khác", ["cum-khac"], Role.DASHBOARD)
    refused = await api.post(STANDINGS, {"year": YEAR}, token=elsewhere, cluster=played)
    page = await signed_in(browser, api, elsewhere)
    await page.goto(f"{api.url}/clusters/{played}/years/{YEAR}")
    await expect(page.locator(".refusal")).to_have_text(
        f"Không thể hiển thị: {refused[1]['errors'][0]['message']}", timeout=WAIT
    )
    await expect(page.locator("main table")).to_have_count(0)
    await page.close()


SCORECARD = """query ($unit: String!) { cluster { year(year: 2025) { scorecard(unit: $unit) {
  entries { layer criterion points position } findings { criterion answer { text } } } } } }"""


async def test_a_scorecard_shows_its_own_unit_and_refuses_another(
    browser: Browser, api: Api, played: str
) -> None:
    inspected = DEMO[0].units[2][0]  # the demo's cross-inspection lowers its A2
    officer = token(api.dsn, "Trần Văn Bình", [played], Role.MEMBER_OFFICER, inspected)
    card = (await api.ok(SCORECARD, {"unit": inspected}, token=officer, cluster=played))["cluster"][
        "year"
    ]["scorecard"]
    latest = {(e["layer"], e["criterion"]): e["points"] for e in card["entries"]}

    page = await signed_in(browser, api, officer)
    await page.goto(f"{api.url}/clusters/{played}/years/{YEAR}/units/{inspected}")
    a2 = page.locator('table.scorecard tr[data-criterion="A2"]')
    await expect(a2).to_be_visible(timeout=WAIT)
    cells = a2.locator("td.num")  # maximum, then self, verified, city
    await expect(cells.nth(1)).to_have_text(two_decimals(latest[("SELF", "A2")]))
    await expect(cells.nth(2)).to_have_text(two_decimals(latest[("VERIFIED", "A2")]))
    await a2.locator("summary").click()
    history = a2.locator("ol.history li")
    await expect(history.first).to_contain_text(f"chấm {two_decimals(latest[('SELF', 'A2')])}")
    await expect(a2.locator("ol.history")).to_contain_text("Thẩm định")
    answer = card["findings"][0]["answer"]["text"]
    await expect(page.locator("ul.findings")).to_contain_text(answer)
    await expect(page.locator("ul.findings")).to_contain_text("Đang chờ quyết định")
    await shot(page, "phieu-cham")

    other = DEMO[0].units[0][0]
    refused = await api.post(SCORECARD, {"unit": other}, token=officer, cluster=played)
    message = refused[1]["errors"][0]["message"]
    await page.goto(f"{api.url}/clusters/{played}/years/{YEAR}/units/{other}")
    await expect(page.locator(".refusal")).to_contain_text(message, timeout=WAIT)
    await expect(page.locator("table")).to_have_count(0)
    await shot(page, "phieu-cham-don-vi-khac")
    await page.close()


async def test_the_auditors_view_for_an_auditor_and_for_a_unit(
    browser: Browser, api: Api, played: str
) -> None:
    auditor = token(api.dsn, "Lê Thị Hoa", [played], Role.AUDITOR)
    page = await signed_in(browser, api, auditor)
    await page.goto(f"{api.url}/clusters/{played}/years/{YEAR}/audit")
    trail = page.locator("table.trail tbody tr")
    await expect(trail.first).to_be_visible(timeout=WAIT)

    await page.check("input[name=refused]")
    await page.click("form.filters button[type=submit]")
    await expect(trail.first).to_contain_text("Bị từ chối", timeout=WAIT)
    await expect(trail.first).to_contain_text("Không đơn vị nào được kiểm tra")
    await page.uncheck("input[name=refused]")
    unit = DEMO[0].units[3][0]
    await page.select_option("select[name=unit]", unit)
    await page.fill("input[name=criterion]", "A1")
    await page.click("form.filters button[type=submit]")
    await expect(trail).to_have_count(1, timeout=WAIT)
    await expect(trail.first).to_contain_text(unit)

    # The standings as they stood at a position of the log (the slider), then on a day.
    slider = page.locator("input[name=position]")
    past = page.locator("section", has=slider)
    for at, on in [(60, None), (None, f"{YEAR}-12-31")]:
        then = await api.ok(PAST, {"at": at, "on": on}, token=auditor, cluster=played)
        expected = sorted(then["cluster"]["year"]["standings"], key=lambda s: s["rank"])
        if at is not None:
            await slider.fill(str(at))
        else:
            await page.fill("input[name=day]", on or "")
        totals = past.locator("tbody td.num")
        await expect(totals).to_have_text(
            [two_decimals(s["total"]) for s in expected], timeout=WAIT
        )
    await shot(page, "kiem-toan")

    async with page.expect_download() as downloading:
        await page.click("text=Tải bằng chứng")
    saved = await (await downloading.value).path()
    header = json.loads(first_line(saved))
    assert header["cluster"] == played
    await page.close()

    officer = token(api.dsn, "Trần Văn Bình", [played], Role.MEMBER_OFFICER, unit)
    refused = await api.post(TRAIL, token=officer, cluster=played)
    message = refused[1]["errors"][0]["message"]
    page = await signed_in(browser, api, officer)
    await page.goto(f"{api.url}/clusters/{played}/years/{YEAR}/audit")
    await expect(page.locator(".refusal")).to_contain_text(message, timeout=WAIT)
    await expect(page.locator("main table")).to_have_count(0)
    await shot(page, "kiem-toan-can-bo-don-vi")
    await page.close()


TRAIL = "{ cluster { auditTrail(first: 1) { edges { node { position } } } } }"
PAST = """query ($at: Int, $on: Date) { cluster { year(year: 2025) {
  standings(layer: CITY, atPosition: $at, onDay: $on) { rank total } } } }"""
OWN_CARD = """query ($unit: String!) { cluster { year(year: 2025) { scorecard(unit: $unit) {
  entries { layer criterion points explanation evidence } } } } }"""
SELF_SCORE = """mutation ($unit: String!, $points: Decimal!) { selfScore(input: {year: 2025,
  unit: $unit, criterion: "A1", points: $points, explanation: "x", evidence: []}) { version } }"""


async def test_a_self_assessment_entered_in_the_form_lands_and_a_refusal_shows_by_its_field(
    browser: Browser, api: Api
) -> None:
    code = await open_year(api)
    unit = DEMO[0].units[2][0]
    officer = token(api.dsn, "Trần Văn Bình", [code], Role.MEMBER_OFFICER, unit)
    page = await signed_in(browser, api, officer)
    await page.goto(f"{api.url}/clusters/{code}/years/{YEAR}/units/{unit}/work")
    a1 = page.locator('form.criterion[data-criterion="A1"]')
    await a1.locator("input[name=points]").fill("27,5")
    await a1.locator("textarea[name=explanation]").fill("Hoàn thành 100% chỉ tiêu")
    await a1.locator("input[name=evidence]").fill("Báo cáo số 12/BC; Quyết định 3/QĐ")
    await a1.locator("button[type=submit]").click()
    await expect(a1.locator(".saved")).to_contain_text("Đã lưu 27,50", timeout=WAIT)
    card = await api.ok(OWN_CARD, {"unit": unit}, token=officer, cluster=code)
    entries = card["cluster"]["year"]["scorecard"]["entries"]
    assert [(e["layer"], e["criterion"], e["points"]) for e in entries] == [("SELF", "A1", "27.50")]
    assert entries[0]["explanation"] == "Hoàn thành 100% chỉ tiêu"
    assert entries[0]["evidence"] == ["Báo cáo số 12/BC", "Quyết định 3/QĐ"]

    refused = await api.post(
        SELF_SCORE, {"unit": unit, "points": "31"}, token=officer, cluster=code
    )
    message = refused[1]["errors"][0]["message"]
    await a1.locator("input[name=points]").fill("31")
    await a1.locator("button[type=submit]").click()
    await expect(a1.locator(".field-refusal")).to_have_text(message, timeout=WAIT)
    await expect(a1.locator("input[name=points]")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator(".field-refusal:visible")).to_have_count(1)
    await shot(page, "tu-cham-tu-choi")
    again = await api.ok(OWN_CARD, {"unit": unit}, token=officer, cluster=code)
    assert len(again["cluster"]["year"]["scorecard"]["entries"]) == 1, "a refusal writes nothing"
    await page.close()


async def test_the_secretariat_verifies_a_unit_in_the_form(browser: Browser, api: Api) -> None:
    code = await open_year(api)
    leader, unit = DEMO[0].units[0][0], DEMO[0].units[3][0]
    secretariat = token(api.dsn, "Phòng Thi đua", [code], Role.SECRETARIAT, leader)
    page = await signed_in(browser, api, secretariat)
    await page.goto(f"{api.url}/clusters/{code}/years/{YEAR}/units/{unit}/work")
    await expect(page.locator("h1")).to_contain_text("Thẩm định", timeout=WAIT)
    b1 = page.locator('form.criterion[data-criterion="B1"]')
    await b1.locator("input[name=points]").fill("6.25")
    await b1.locator("textarea[name=explanation]").fill("Kế hoạch ban hành chậm")
    await b1.locator("button[type=submit]").click()
    await expect(b1.locator(".saved")).to_contain_text("Đã lưu 6,25", timeout=WAIT)
    card = await api.ok(OWN_CARD, {"unit": unit}, token=secretariat, cluster=code)
    entries = card["cluster"]["year"]["scorecard"]["entries"]
    assert [(e["layer"], e["criterion"], e["explanation"]) for e in entries] == [
        ("VERIFIED", "B1", "Kế hoạch ban hành chậm")
    ]
    await page.close()


async def test_graphiql_runs_from_the_package_with_nothing_else_reachable(
    browser: Browser, api: Api, played: str
) -> None:
    auditor = token(api.dsn, "Lê Thị Hoa", [played], Role.AUDITOR)
    page = await signed_in(browser, api, auditor)  # and nothing but the server reachable
    await page.goto(f"{api.url}/clusters/{played}/graphql")
    await expect(page.locator(".graphiql-container")).to_be_visible(timeout=WAIT)
    await expect(page.locator(".graphiql-container")).to_contain_text("Authorization")
    await page.locator(".graphiql-execute-button").click()
    await expect(page.locator(".result-window")).to_contain_text(
        '"person": "Lê Thị Hoa"', timeout=WAIT
    )
    await shot(page, "graphiql", full=False)
    await page.close()


async def test_oidc_sign_in_sends_the_person_to_the_provider_with_pkce(
    browser: Browser, dsn: str
) -> None:
    provider = "https://dang-nhap.example.vn/realms/thidua/protocol/openid-connect"
    sign_in = SignInSettings(f"{provider}/auth", f"{provider}/token", "thidua-trang")
    async with serving(dsn, sign_in=sign_in) as api:
        page = await browser.new_page()
        sent: list[str] = []

        async def provider_unreachable(route: Route) -> None:
            sent.append(route.request.url)
            await route.abort()

        await page.route(f"{provider}/**", provider_unreachable)
        await page.goto(f"{api.url}/")
        async with page.expect_request(f"{provider}/**"):
            await page.click("#oidc")
        await page.goto(f"{api.url}/")  # back in the same tab, whose sessionStorage holds
        kept: dict[str, Any] = json.loads(
            await page.evaluate("sessionStorage.getItem('thidua.pkce')")
        )
        await page.close()
    assert len(sent) == 1
    asked = dict(part.split("=", 1) for part in sent[0].split("?", 1)[1].split("&"))
    digest = hashlib.sha256(kept["verifier"].encode()).digest()
    assert asked["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert asked["code_challenge_method"] == "S256"
    assert asked["client_id"] == "thidua-trang"
    assert asked["state"] == kept["state"]
    assert asked["response_type"] == "code"


async def test_a_token_over_every_cluster_names_the_cluster_it_wants(
    browser: Browser, api: Api, played: str
) -> None:
    city = token(api.dsn, "Nguyễn Văn An", ["*"], Role.CITY_BOARD)
    page = await signed_in(browser, api, city)
    await expect(page.locator("h1")).to_contain_text("Xin chào, Nguyễn Văn An", timeout=WAIT)
    await expect(page.locator("ul.clusters")).to_have_count(0)  # not every cluster listed
    await page.fill("input[name=cluster]", played)
    await page.fill("input[name=year]", str(YEAR))
    await page.click("text=Xem bảng xếp hạng")
    await expect(page.locator("table.standings tbody tr")).to_have_count(
        len(DEMO[0].units), timeout=WAIT
    )
    assert page.url == f"{api.url}/clusters/{played}/years/{YEAR}"
    await page.close()
