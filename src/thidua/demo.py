"""The demo clusters of docs/domain.md, each playing a whole year (2025) through the real commands.

Criteria from the city's template with a cluster's amendments, signed pledges, new models,
self scores, a cross-inspection that lowers a score (and an inspector refused on its own
unit), the mid-year review, finalisation, the year-end meeting and its secret ballot, the
rotation of the leadership, and the proposals. Loaded once: a registered cluster is left alone.
"""

import contextlib
import random
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal

from thidua.domain import commands as c
from thidua.domain.criteria import CriteriaSet, Criterion, Kind
from thidua.domain.errors import DomainError, NotFound
from thidua.domain.pledge import TopicKind
from thidua.domain.proposals import Award
from thidua.domain.results import RANKING_LAYER
from thidua.domain.rights import Actor, Role
from thidua.domain.scorecard import Layer
from thidua.service.emulation import CITY_LOG, Emulation
from thidua.service.envelope import Calendar, Envelope
from thidua.store import EventStore
from thidua.store.errors import TenantExists, UnknownTenant

YEAR = 2025
TEMPLATE = "tieu-chi-cum-khoi"


@dataclass(frozen=True)
class DemoCluster:
    code: str
    name: str
    units: list[tuple[str, str]]  # (code, name); the first leads, the next one or two deputise
    deputies: int = 1
    seed: str = ""  # of its scores; the code it was first given, so a copy plays the same year

    def __post_init__(self) -> None:
        if not self.seed:
            object.__setattr__(self, "seed", self.code)


DEMO = [
    DemoCluster(
        "cum-xii",
        "Cụm thi đua số XII",
        [
            ("bhxh-hn", "BHXH thành phố Hà Nội"),
            ("buu-dien-hn", "Bưu điện thành phố Hà Nội"),
            ("cuc-thue-hn", "Cục Thuế thành phố Hà Nội"),
            ("hai-quan-hn", "Cục Hải quan thành phố Hà Nội"),
            ("kho-bac-hn", "Kho Bạc Nhà nước thành phố Hà Nội"),
            ("nhnn-hn", "Ngân hàng Nhà nước Chi nhánh Hà Nội"),
            ("thong-ke-hn", "Cục Thống kê thành phố Hà Nội"),
            ("evn-hanoi", "Tổng Công ty Điện lực Thành phố Hà Nội"),
            ("vnpt-kd-hn", "Trung tâm kinh doanh VNPT - Hà Nội"),
            ("vnpt-hn", "VNPT Hà Nội"),
        ],
    ),
    DemoCluster(
        "cum-8",
        "Cụm thi đua số 8 (các quận trung tâm)",
        [
            ("hai-ba-trung", "Quận Hai Bà Trưng"),
            ("ba-dinh", "Quận Ba Đình"),
            ("hoan-kiem", "Quận Hoàn Kiếm"),
            ("dong-da", "Quận Đống Đa"),
            ("long-bien", "Quận Long Biên"),
            ("hoang-mai", "Quận Hoàng Mai"),
        ],
        deputies=2,
    ),
    DemoCluster(
        "cum-4",
        "Cụm thi đua số 4 (Mặt trận và các đoàn thể)",
        [
            ("ccb-tp", "Hội Cựu chiến binh TP"),
            ("mttq-tp", "Ủy ban MTTQ TP"),
            ("ldld-tp", "Liên đoàn Lao động TP"),
            ("hnd-tp", "Hội Nông dân TP"),
            ("doan-tn-tp", "Đoàn TNCS HCM TP"),
            ("hlhpn-tp", "Hội LHPN TP"),
        ],
    ),
]
DEMO_CLUSTERS = {c.code: c.name for c in DEMO}


def _criterion(code: str, title: str, part: str, points: int | None, kind: Kind) -> Criterion:
    return Criterion(code, title, part, None if points is None else Decimal(points), kind)


CITY_CRITERIA = CriteriaSet(
    version="2025.1",
    effective_from=date(YEAR, 1, 1),
    bonus_cap=Decimal(10),
    criteria=(
        _criterion("A1", "Hoàn thành các chỉ tiêu thành phố giao", "A", 30, Kind.BASE),
        _criterion("A2", "Cải cách hành chính, chuyển đổi số", "A", 15, Kind.BASE),
        _criterion("A3", "Nhiệm vụ thành phố giao trong năm", "A", 10, Kind.BASE),
        _criterion("B1", "Kế hoạch, phát động, thực hiện giao ước", "B", 8, Kind.BASE),
        _criterion("B2", "Chuyên đề, mô hình mới đăng ký và thực hiện", "B", 7, Kind.BASE),
        _criterion("B3", "Khen thưởng đúng, kịp thời; báo cáo đúng hạn", "B", 5, Kind.BASE),
        _criterion("C1", "Dự họp, sơ kết, tổng kết, kiểm tra chéo", "C", 5, Kind.BASE),
        _criterion("C2", "Phối hợp, hoạt động chung của cụm", "C", 5, Kind.BASE),
        _criterion("D", "Xây dựng Đảng, đoàn kết, phòng chống tham nhũng", "D", 15, Kind.BASE),
        _criterion("E1", "Mô hình được thành phố công nhận (+2 mỗi mô hình)", "E", 6, Kind.BONUS),
        _criterion("E2", "Cờ thi đua của Bộ, ngành (+3)", "E", 3, Kind.BONUS),
        _criterion("F1", "Báo cáo chậm (-1 mỗi lần)", "F", None, Kind.DEDUCTION),
        _criterion("F2", "Bị xử lý kỷ luật (-5)", "F", None, Kind.DEDUCTION),
    ),
)


def amended(criteria: CriteriaSet) -> CriteriaSet:
    """A cluster's amendment: two of the city's thirteen criteria reworded or reweighted."""
    changes = {
        "A3": replace(criteria.by_code()["A3"], title="Nhiệm vụ đặc thù của ngành trong năm"),
        "C2": replace(
            criteria.by_code()["C2"], title="Phối hợp tổ chức hoạt động chung, an sinh xã hội"
        ),
    }
    return replace(criteria, criteria=tuple(changes.get(c.code, c) for c in criteria.criteria))


CITY_BOARD = Actor("Nguyễn Văn An", Role.CITY_BOARD)


def sender(cluster: str, actor: Actor, reason: str | None = None) -> Envelope:
    return Envelope(cluster, actor.caller(), reason=reason)


async def load_demo(store: EventStore) -> list[str]:
    """Register the demo clusters that are missing and play their year; return those added."""
    clock = Calendar(datetime(YEAR, 1, 5, 2, tzinfo=UTC))
    service = Emulation(store, clock)
    await ensure_template(service)
    registered = []
    for cluster in DEMO:
        try:
            await service.handle(
                sender(CITY_LOG, CITY_BOARD), c.RegisterCluster(cluster.code, cluster.name)
            )
        except TenantExists:
            continue
        await play_year(service, clock, cluster)
        registered.append(cluster.code)
    return registered


async def ensure_template(service: Emulation) -> None:
    """The city's criteria template, published once, whoever made the city's log."""
    with contextlib.suppress(NotFound, UnknownTenant):
        if CITY_CRITERIA.version in (await service.template(TEMPLATE)).versions:
            return
    await service.handle(sender(CITY_LOG, CITY_BOARD), c.PublishTemplate(TEMPLATE, CITY_CRITERIA))


LATE = "Nhập lại hồ sơ giấy của năm thi đua"  # the reason a year entered after the fact gives


async def play_year(
    service: Emulation, clock: Calendar, cluster: DemoCluster, after_the_fact: bool = False
) -> None:
    """The year played live (the clock moves with it), or entered after the fact: the
    clock stays where it is and every command carries the day it happened, and a reason."""
    rng = random.Random(cluster.seed)
    units = [code for code, _ in cluster.units]
    leader, deputies = units[0], units[1 : 1 + cluster.deputies]
    secretary = Actor("Phòng Thi đua cơ quan thường trực", Role.SECRETARIAT, leader)
    days = Calendar(clock()) if after_the_fact else clock  # the day things happen

    async def run(command: c.Command, actor: Actor = secretary, reason: str | None = None) -> None:
        if after_the_fact:
            command = replace(command, occurred_on=days().date())
            reason = reason or LATE
        await service.handle(sender(cluster.code, actor, reason), command)

    def unit_as(unit: str, role: Role) -> Actor:
        return Actor(f"Cán bộ {unit}", role, unit)

    days.on(date(YEAR, 1, 10))
    members = tuple(c.MemberGiven(code, name, date(YEAR, 1, 1)) for code, name in cluster.units)
    await run(c.OpenYear(YEAR, members, leader, tuple(deputies)), CITY_BOARD)

    days.on(date(YEAR, 2, 20))  # the conference: criteria and pledge
    await run(c.AdoptCriteria(YEAR, TEMPLATE, "2025.1", amended(CITY_CRITERIA)))
    commitments = ("Hoàn thành xuất sắc nhiệm vụ chính trị được giao", "Đẩy mạnh chuyển đổi số")
    targets = (
        "100% thủ tục hành chính trực tuyến mức độ toàn trình",
        "Không có cán bộ vi phạm kỷ luật",
    )
    await run(c.DraftPledge(YEAR, commitments, targets))
    for unit in units:
        await run(c.SignPledge(YEAR, unit), unit_as(unit, Role.MEMBER_HEAD))

    days.on(date(YEAR, 3, 25))  # registration of topics and new models
    for unit in units:
        title = f"Mô hình mới: số hoá hồ sơ thi đua tại {unit}"
        topic = c.RegisterTopic(YEAR, unit, f"mo-hinh-{unit}", TopicKind.NEW_MODEL, title)
        await run(topic, unit_as(unit, Role.MEMBER_OFFICER))

    days.on(date(YEAR, 7, 15))
    await run(c.RecordMidYearReview(YEAR))

    days.on(date(YEAR, 11, 25))  # self-assessment
    criteria = amended(CITY_CRITERIA)
    for position, unit in enumerate(units):
        for criterion in criteria.scorable().values():
            points = _demo_points(rng, criterion, strength=1 - position * 0.04)
            if points is None:
                continue
            code = criterion.code
            evidence = (f"Báo cáo số {rng.randint(10, 99)}/BC-{unit.upper()}",)
            scored = c.SelfScore(YEAR, unit, code, points, f"Tự đánh giá tiêu chí {code}", evidence)
            await run(scored, unit_as(unit, Role.MEMBER_OFFICER))
        await run(c.SubmitSelfAssessment(YEAR, unit), unit_as(unit, Role.MEMBER_HEAD))

    days.on(date(YEAR, 12, 5))  # cross-inspection: the second unit checks the third
    inspector, inspected = units[1], units[2]
    await run(c.AssignInspection(YEAR, "kiem-tra-cheo-2025", inspector, (inspected,)))
    checker = unit_as(inspector, Role.CROSS_INSPECTOR)
    card = await service.scorecard(cluster.code, YEAR, inspected)
    claimed = card.points(Layer.SELF)["A2"]
    finding = "Minh chứng chưa thể hiện đủ tỷ lệ hồ sơ trực tuyến toàn trình"
    lowered = c.VerifyScore(YEAR, inspected, "A2", claimed - Decimal(2), finding)
    await run(lowered, checker, "Kiểm tra chéo năm 2025")
    # An inspector may never score its own unit: refused, and the attempt recorded.
    with contextlib.suppress(DomainError):
        await run(c.VerifyScore(YEAR, inspector, "A2", Decimal(15), "Tự xác nhận"), checker)
    answer = "Đơn vị đã bổ sung danh mục thủ tục trực tuyến toàn trình"
    await run(
        c.AnswerFinding(YEAR, inspected, "A2", answer), unit_as(inspected, Role.MEMBER_OFFICER)
    )

    days.on(date(YEAR, 12, 15))
    for unit in units:
        note = "Đã triển khai và đánh giá hiệu quả"
        await run(c.MarkTopic(YEAR, f"mo-hinh-{unit}", unit != units[-1], note))
    await run(c.Finalise(YEAR))

    days.on(date(YEAR, 12, 22))  # the year-end meeting: attendance, secret ballot, rotation
    result = await service.year(cluster.code, YEAR)
    first = result.current_result().layers[RANKING_LAYER].ranking.first
    assert first is not None, "the demo's scores leave one unit first"
    meeting = "tong-ket-2025"
    await run(c.ConveneMeeting(YEAR, meeting, "Hội nghị tổng kết năm 2025", days().date()))
    present = tuple(units[:-1])
    await run(c.RecordAttendance(YEAR, meeting, present))
    await run(c.OpenBallot(YEAR, meeting, first, "Suy tôn đơn vị dẫn đầu cụm"))
    await run(c.RecordTally(YEAR, meeting, len(present) - 1, 1, 0))

    days.on(date(YEAR + 1, 1, 8))  # proposals to the city, from the finalised result
    ranking = result.current_result().layers[RANKING_LAYER].ranking.places
    others = tuple(p.unit for p in ranking if p.unit != first)
    quota = len(units) * 3 // 10
    documents = ("Tờ trình số 01/TTr-CTĐ", "Biên bản hội nghị tổng kết", "Báo cáo thành tích")
    await run(c.Propose(YEAR, "co-thi-dua-2025", Award.FLAG, (first,), documents))
    await run(c.Propose(YEAR, "bang-khen-2025", Award.CERTIFICATE, others[:quota], documents))
    await run(c.RotateLeadership(YEAR, deputies[0], days().date(), (units[2],)))


def _demo_points(rng: random.Random, c: Criterion, strength: float) -> Decimal | None:
    """Plausible points on the 0.25 step: strong units near the maximum."""
    if c.kind is Kind.DEDUCTION:
        return Decimal(1) if rng.random() < 0.3 else None
    assert c.max_points is not None
    quarters = int(c.max_points * 4)
    share = min(1.0, strength * rng.uniform(0.9, 1.0))
    return Decimal(max(0, round(quarters * share))) / 4
