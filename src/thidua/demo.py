"""The demo clusters of DOMAIN.md, each playing a whole year (2025) through the real commands.

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

from thidua.domain.criteria import CriteriaSet, Criterion, Kind
from thidua.domain.errors import DomainError, NotFound
from thidua.domain.membership import Membership
from thidua.domain.pledge import TopicKind
from thidua.domain.proposals import Award
from thidua.domain.results import RANKING_LAYER
from thidua.domain.rights import Actor, Role
from thidua.domain.scorecard import Layer
from thidua.service.command import Calendar, Command
from thidua.service.emulation import CITY_NAME, CITY_TENANT, Emulation
from thidua.store import EventStore
from thidua.store.errors import TenantExists

YEAR = 2025
TEMPLATE = "tieu-chi-cum-khoi"


@dataclass(frozen=True)
class DemoCluster:
    code: str
    name: str
    units: list[tuple[str, str]]  # (code, name); the first leads, the next one or two deputise
    deputies: int = 1


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


async def load_demo(store: EventStore) -> list[str]:
    """Register the demo clusters that are missing and play their year; return those added."""
    clock = Calendar(datetime(YEAR, 1, 5, 2, tzinfo=UTC))
    service = Emulation(store, clock)
    await ensure_template(store, service)
    registered = []
    for cluster in DEMO:
        try:
            await service.register_cluster(CITY_BOARD, cluster.code, cluster.name)
        except TenantExists:
            continue
        await play_year(service, clock, cluster)
        registered.append(cluster.code)
    return registered


async def ensure_template(store: EventStore, service: Emulation) -> None:
    """The city's criteria template, published once, whoever made the city's log."""
    with contextlib.suppress(TenantExists):
        await store.create_tenant(CITY_TENANT, CITY_NAME)
    with contextlib.suppress(NotFound):
        if CITY_CRITERIA.version in (await service.template(TEMPLATE)).versions:
            return
    await service.publish_template(Command(CITY_TENANT, CITY_BOARD), TEMPLATE, CITY_CRITERIA)


async def play_year(service: Emulation, clock: Calendar, cluster: DemoCluster) -> None:
    rng = random.Random(cluster.code)
    units = [code for code, _ in cluster.units]
    leader, deputies = units[0], units[1 : 1 + cluster.deputies]
    city = Command(cluster.code, CITY_BOARD)
    secretariat = Command(
        cluster.code, Actor("Phòng Thi đua cơ quan thường trực", Role.SECRETARIAT, leader)
    )

    def as_unit(unit: str, role: Role, reason: str | None = None) -> Command:
        return Command(cluster.code, Actor(f"Cán bộ {unit}", role, unit), reason)

    clock.on(date(YEAR, 1, 10))
    members = [Membership(code, name, date(YEAR, 1, 1)) for code, name in cluster.units]
    await service.open_year(city, YEAR, members, leader, deputies)

    clock.on(date(YEAR, 2, 20))  # the conference: criteria and pledge
    await service.adopt_criteria(secretariat, YEAR, TEMPLATE, "2025.1", amended(CITY_CRITERIA))
    await service.draft_pledge(
        secretariat,
        YEAR,
        ["Hoàn thành xuất sắc nhiệm vụ chính trị được giao", "Đẩy mạnh chuyển đổi số"],
        ["100% thủ tục hành chính trực tuyến mức độ toàn trình", "Không có cán bộ vi phạm kỷ luật"],
    )
    for unit in units:
        await service.sign_pledge(as_unit(unit, Role.MEMBER_HEAD), YEAR, unit)

    clock.on(date(YEAR, 3, 25))  # registration of topics and new models
    for unit in units:
        await service.register_topic(
            as_unit(unit, Role.MEMBER_OFFICER),
            YEAR,
            unit,
            f"mo-hinh-{unit}",
            TopicKind.NEW_MODEL,
            f"Mô hình mới: số hoá hồ sơ thi đua tại {unit}",
        )

    clock.on(date(YEAR, 7, 15))
    await service.record_mid_year_review(secretariat, YEAR)

    clock.on(date(YEAR, 11, 25))  # self-assessment
    criteria = amended(CITY_CRITERIA)
    for position, unit in enumerate(units):
        officer = as_unit(unit, Role.MEMBER_OFFICER)
        for c in criteria.scorable().values():
            points = _demo_points(rng, c, strength=1 - position * 0.04)
            if points is None:
                continue
            await service.self_score(
                officer,
                YEAR,
                unit,
                c.code,
                points,
                f"Tự đánh giá tiêu chí {c.code}",
                [f"Báo cáo số {rng.randint(10, 99)}/BC-{unit.upper()}"],
            )
        await service.submit_self_assessment(as_unit(unit, Role.MEMBER_HEAD), YEAR, unit)

    clock.on(date(YEAR, 12, 5))  # cross-inspection: the second unit checks the third
    inspector, inspected = units[1], units[2]
    await service.assign_inspection(secretariat, YEAR, "kiem-tra-cheo-2025", inspector, [inspected])
    checker = as_unit(inspector, Role.CROSS_INSPECTOR, "Kiểm tra chéo năm 2025")
    card = await service.scorecard(cluster.code, YEAR, inspected)
    claimed = card.points(Layer.SELF)["A2"]
    await service.verify_score(
        checker,
        YEAR,
        inspected,
        "A2",
        claimed - Decimal(2),
        "Minh chứng chưa thể hiện đủ tỷ lệ hồ sơ trực tuyến toàn trình",
    )
    # An inspector may never score its own unit: refused, and the attempt recorded.
    with contextlib.suppress(DomainError):
        await service.verify_score(checker, YEAR, inspector, "A2", Decimal(15), "Tự xác nhận")
    await service.answer_finding(
        as_unit(inspected, Role.MEMBER_OFFICER),
        YEAR,
        inspected,
        "A2",
        "Đơn vị đã bổ sung danh mục thủ tục trực tuyến toàn trình",
    )

    clock.on(date(YEAR, 12, 15))
    for unit in units:
        await service.mark_topic(
            secretariat,
            YEAR,
            f"mo-hinh-{unit}",
            unit != units[-1],
            "Đã triển khai và đánh giá hiệu quả",
        )
    await service.finalise(secretariat, YEAR)

    clock.on(date(YEAR, 12, 22))  # the year-end meeting: attendance, secret ballot, rotation
    result = await service.year(cluster.code, YEAR)
    first = result.current_result().layers[RANKING_LAYER].ranking.first
    assert first is not None, "the demo's scores leave one unit first"
    await service.convene_meeting(
        secretariat, YEAR, "tong-ket-2025", "Hội nghị tổng kết năm 2025", clock().date()
    )
    present = units[:-1]
    await service.record_attendance(secretariat, YEAR, "tong-ket-2025", present)
    await service.open_ballot(
        secretariat, YEAR, "tong-ket-2025", first, "Suy tôn đơn vị dẫn đầu cụm"
    )
    await service.record_tally(secretariat, YEAR, "tong-ket-2025", len(present) - 1, 1, 0)

    clock.on(date(YEAR + 1, 1, 8))  # proposals to the city, from the finalised result
    ranking = result.current_result().layers[RANKING_LAYER].ranking.places
    others = [p.unit for p in ranking if p.unit != first]
    quota = len(units) * 3 // 10
    documents = ["Tờ trình số 01/TTr-CTĐ", "Biên bản hội nghị tổng kết", "Báo cáo thành tích"]
    await service.propose(secretariat, YEAR, "co-thi-dua-2025", Award.FLAG, [first], documents)
    await service.propose(
        secretariat, YEAR, "bang-khen-2025", Award.CERTIFICATE, others[:quota], documents
    )
    await service.rotate_leadership(secretariat, YEAR, deputies[0], [units[2]], clock().date())


def _demo_points(rng: random.Random, c: Criterion, strength: float) -> Decimal | None:
    """Plausible points on the 0.25 step: strong units near the maximum."""
    if c.kind is Kind.DEDUCTION:
        return Decimal(1) if rng.random() < 0.3 else None
    assert c.max_points is not None
    quarters = int(c.max_points * 4)
    share = min(1.0, strength * rng.uniform(0.9, 1.0))
    return Decimal(max(0, round(quarters * share))) / 4
