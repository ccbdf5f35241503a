"""The commands of the emulation year against the real event store: a year end to end,
refusals that change nothing and are recorded, idempotency and concurrency."""

import asyncio
import contextlib
import json
import unicodedata
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from thidua.demo import CITY_CRITERIA
from thidua.domain.cluster_year import Status
from thidua.domain.errors import DomainError
from thidua.domain.membership import Membership
from thidua.domain.pledge import TopicKind
from thidua.domain.proposals import Award
from thidua.domain.rights import Action, Actor, Role, may
from thidua.domain.scorecard import Layer, Scorecard
from thidua.service.command import Calendar, Command
from thidua.service.emulation import CITY_NAME, CITY_TENANT, Emulation
from thidua.store import ConcurrencyConflict, EventStore
from thidua.store.errors import TenantExists

YEAR = 2025
UNITS = ["u1", "u2", "u3", "u4", "u5", "u6"]
CITY = Actor("Nguyễn Văn An", Role.CITY_BOARD)
DOCUMENTS = ["Tờ trình 01/TTr", "Biên bản họp", "Báo cáo thành tích"]


@dataclass
class Year:
    service: Emulation
    clock: Calendar
    tenant: str

    def as_(self, role: Role, unit: str | None = None, reason: str | None = None) -> Command:
        return Command(self.tenant, Actor(f"Cán bộ {unit or role}", role, unit), reason)

    @property
    def secretariat(self) -> Command:
        return self.as_(Role.SECRETARIAT, "u1")

    @property
    def city(self) -> Command:
        return Command(self.tenant, CITY, "Phát hiện kê khai sai")

    async def refused_codes(self) -> list[str]:
        """The codes of the refusals recorded in the cluster's log, in order."""
        log = await self.service.store.read_log(self.tenant)
        return [json.loads(e.payload)["code"] for e in log if e.stream_id.startswith("refused/")]

    async def score_all(self, unit: str, a1: Decimal = Decimal(27)) -> None:
        officer = self.as_(Role.MEMBER_OFFICER, unit)
        for code, c in CITY_CRITERIA.scorable().items():
            if c.max_points is None or c.part == "E":
                continue
            points = a1 if code == "A1" else c.max_points - Decimal("0.5")
            await self.service.self_score(
                officer, YEAR, unit, code, points, "Đạt", [f"Báo cáo {code}"]
            )


@pytest.fixture
async def year(store: EventStore, new_tenant: Callable[[], Awaitable[str]]) -> Year:
    clock = Calendar(datetime(YEAR, 1, 10, 2, tzinfo=UTC))
    service = Emulation(store, clock)
    with contextlib.suppress(TenantExists):
        await store.create_tenant(CITY_TENANT, CITY_NAME)
    template = f"mau-{uuid.uuid4().hex[:8]}"
    await service.publish_template(Command(CITY_TENANT, CITY), template, CITY_CRITERIA)
    tenant = await new_tenant()
    members = [Membership(u, f"Đơn vị {u}", date(YEAR, 1, 1)) for u in UNITS]
    y = Year(service, clock, tenant)
    await service.open_year(y.city, YEAR, members, "u1", ["u2"])
    clock.on(date(YEAR, 2, 20))
    await service.adopt_criteria(y.secretariat, YEAR, template, "2025.1", CITY_CRITERIA)
    await service.draft_pledge(y.secretariat, YEAR, ["Hoàn thành nhiệm vụ"], ["Chỉ tiêu 1"])
    return y


async def test_a_year_end_to_end(year: Year) -> None:
    service, clock = year.service, year.clock
    for unit in UNITS:
        await service.sign_pledge(year.as_(Role.MEMBER_HEAD, unit), YEAR, unit)
    clock.on(date(YEAR, 3, 31))
    await service.register_topic(
        year.as_(Role.MEMBER_OFFICER, "u2"),
        YEAR,
        "u2",
        "mh-u2",
        TopicKind.NEW_MODEL,
        "Mô hình một cửa số",
    )
    clock.on(date(YEAR, 11, 20))
    for unit in UNITS:
        await year.score_all(unit, a1={"u1": Decimal(28), "u2": Decimal(29)}.get(unit, Decimal(27)))
        await service.submit_self_assessment(year.as_(Role.MEMBER_HEAD, unit), YEAR, unit)

    standings = await service.standings(year.tenant, YEAR)
    assert standings.layers[Layer.SELF].ranking.first == "u2"

    # The cross-inspection lowers u2's A1 below u1's: the verified view re-ranks.
    await service.assign_inspection(year.secretariat, YEAR, "kt-1", "u3", ["u2"])
    inspector = year.as_(Role.CROSS_INSPECTOR, "u3", "Kiểm tra chéo")
    await service.verify_score(inspector, YEAR, "u2", "A1", Decimal(26), "Thiếu minh chứng")
    standings = await service.standings(year.tenant, YEAR)
    verified = standings.layers[Layer.VERIFIED].totals_by_unit()
    assert verified["u2"].total == Decimal(92)  # 95 self, A1 29 -> 26
    assert standings.layers[Layer.VERIFIED].ranking.first == "u1"
    assert standings.layers[Layer.SELF].ranking.first == "u2"  # every layer is kept

    await service.mark_topic(year.secretariat, YEAR, "mh-u2", True, "Đã triển khai")
    clock.on(date(YEAR, 12, 15))
    await service.finalise(year.secretariat, YEAR)
    with pytest.raises(DomainError) as finalised:
        await service.verify_score(inspector, YEAR, "u2", "A1", Decimal(29), "Sửa lại")
    assert finalised.value.code == "YEAR_FINALISED"

    # u1 is first but has no new model: no flag for it, whatever the vote.
    await service.convene_meeting(year.secretariat, YEAR, "tk", "Tổng kết", date(YEAR, 12, 20))
    await service.record_attendance(year.secretariat, YEAR, "tk", UNITS[:4])
    await service.open_ballot(year.secretariat, YEAR, "tk", "u1", "Suy tôn")
    await service.record_tally(year.secretariat, YEAR, "tk", 4, 0, 0)
    with pytest.raises(DomainError) as no_model:
        await service.propose(year.secretariat, YEAR, "co-1", Award.FLAG, ["u1"], DOCUMENTS)
    assert no_model.value.code == "FLAG_NO_NEW_MODEL"
    await service.propose(year.secretariat, YEAR, "bk-1", Award.CERTIFICATE, ["u3"], DOCUMENTS)

    # The city reopens on a corrected appraisal: a new result version, the old one kept.
    with pytest.raises(DomainError) as not_city:
        await service.reopen(year.as_(Role.SECRETARIAT, "u1", "Sửa"), YEAR)
    assert not_city.value.code == "FORBIDDEN"
    await service.reopen(year.city, YEAR)
    await service.city_adjust(year.city, YEAR, "u2", "A1", Decimal(29), "Minh chứng bổ sung hợp lệ")
    await service.finalise(year.secretariat, YEAR)
    cluster_year = await service.year(year.tenant, YEAR)
    assert cluster_year.result_version == 2
    assert cluster_year.results[1].layers[Layer.CITY].ranking.first == "u1"
    assert cluster_year.results[2].layers[Layer.CITY].ranking.first == "u2"
    assert cluster_year.proposals["bk-1"].superseded
    assert cluster_year.reopenings == [{"reason": "Phát hiện kê khai sai", "result_version": 1}]

    # u2 now leads, won a vote and carried out its new model: the flag goes to it.
    await service.open_ballot(year.secretariat, YEAR, "tk", "u2", "Suy tôn lại")
    await service.record_tally(year.secretariat, YEAR, "tk", 4, 0, 0)
    await service.propose(year.secretariat, YEAR, "co-2", Award.FLAG, ["u2"], DOCUMENTS)
    cluster_year = await service.year(year.tenant, YEAR)
    assert cluster_year.proposals["co-2"].result_version == 2
    assert cluster_year.status is Status.FINALISED
    assert await year.refused_codes() == ["YEAR_FINALISED", "FLAG_NO_NEW_MODEL", "FORBIDDEN"]


async def test_a_refusal_changes_nothing_and_is_recorded(year: Year) -> None:
    before = await year.service.store.head(year.tenant)
    intruder = year.as_(Role.MEMBER_OFFICER, "u3")

    with pytest.raises(DomainError) as refused:
        await year.service.self_score(intruder, YEAR, "u4", "A1", Decimal(30), "Tự cho", ["x"])

    assert refused.value.code == "FORBIDDEN"
    assert "không có quyền" in refused.value.message
    card = await year.service.repo.get(year.tenant, Scorecard, Scorecard.create_id(YEAR, "u4"))
    assert card is None
    log = await year.service.store.read_log(year.tenant, before[0])
    assert [e.stream_id.split("/")[0] for e in log] == ["refused"]
    assert log[0].metadata_json["actor"] == "Cán bộ u3"
    assert log[0].metadata_json["unit"] == "u3"
    assert b'"code":"FORBIDDEN"' in log[0].payload
    assert b'"unit":"u4"' in log[0].payload


async def test_a_finalised_year_refuses_scores_until_the_city_reopens_it(year: Year) -> None:
    year.clock.on(date(YEAR, 11, 1))
    for unit in UNITS:
        await year.score_all(unit)
    await year.service.finalise(year.secretariat, YEAR)
    secretariat = year.secretariat

    with pytest.raises(DomainError) as locked:
        await year.service.verify_score(secretariat, YEAR, "u3", "A1", Decimal(20), "Sai")
    assert locked.value.code == "YEAR_FINALISED"
    with pytest.raises(DomainError) as no_reason:
        await year.service.reopen(Command(year.tenant, CITY, reason="  "), YEAR)
    assert no_reason.value.code == "REASON_REQUIRED"

    await year.service.reopen(year.city, YEAR)
    await year.service.verify_score(secretariat, YEAR, "u3", "A1", Decimal(20), "Sai")
    card = await year.service.scorecard(year.tenant, YEAR, "u3")
    assert card.points(Layer.VERIFIED)["A1"] == Decimal(20)


async def test_changed_criteria_flag_scores_and_block_finalisation(year: Year) -> None:
    year.clock.on(date(YEAR, 7, 1))
    for unit in UNITS:
        await year.score_all(unit)
    await year.service.record_mid_year_review(year.secretariat, YEAR)
    template = (await year.service.year(year.tenant, YEAR)).criteria[0]["template_name"]
    a2 = replace(CITY_CRITERIA.by_code()["A2"], max_points=Decimal(20))
    v2 = replace(
        CITY_CRITERIA,
        version="2025.2",
        effective_from=date(YEAR, 8, 1),
        criteria=tuple(a2 if c.code == "A2" else c for c in CITY_CRITERIA.criteria),
    )
    await year.service.adopt_criteria(year.secretariat, YEAR, template, "2025.1", v2)
    year.clock.on(date(YEAR, 8, 2))

    with pytest.raises(DomainError) as flagged:
        await year.service.finalise(year.secretariat, YEAR)
    assert flagged.value.code == "CRITERIA_FLAGGED"
    card = await year.service.scorecard(year.tenant, YEAR, "u1")
    assert card.points(Layer.SELF)["A2"] == Decimal("14.5")  # kept, never rescaled
    review = (await year.service.year(year.tenant, YEAR)).mid_year_review
    assert review is not None
    assert review.criteria_version == "2025.1"
    assert review.on == date(YEAR, 7, 1)

    for unit in UNITS:
        officer = year.as_(Role.MEMBER_OFFICER, unit)
        await year.service.self_score(officer, YEAR, unit, "A2", Decimal(19), "Chấm lại", ["BC"])
    await year.service.finalise(year.secretariat, YEAR)
    result = (await year.service.year(year.tenant, YEAR)).results[1]
    assert result.criteria_version == "2025.2"
    assert not any(result.flagged.values())  # every unit scored A2 again
    review = (await year.service.year(year.tenant, YEAR)).mid_year_review
    assert review is not None
    assert review.criteria_version == "2025.1"


async def test_a_retried_command_records_nothing_twice(year: Year) -> None:
    head = year.as_(Role.MEMBER_HEAD, "u2")
    retried = replace(head, idempotency_key="ky-giao-uoc-u2")

    first = await year.service.sign_pledge(retried, YEAR, "u2")
    again = await year.service.sign_pledge(retried, YEAR, "u2")

    assert first == again
    log = await year.service.store.read_log(year.tenant, first.positions[0] - 1)
    assert len(log) == 1  # one signature, and no refusal for the retry
    with pytest.raises(DomainError) as twice:
        await year.service.sign_pledge(head, YEAR, "u2")  # a new command, not a retry
    assert twice.value.code == "ALREADY_SIGNED"


async def test_concurrent_scores_on_one_card_all_land(year: Year) -> None:
    year.clock.on(date(YEAR, 11, 1))
    officer = year.as_(Role.MEMBER_OFFICER, "u5")
    codes = ["A1", "A2", "A3", "B1", "B2", "B3", "C1", "C2", "D"]
    await asyncio.gather(
        *(
            year.service.self_score(officer, YEAR, "u5", code, Decimal(5), "Đạt", ["BC"])
            for code in codes
        )
    )
    card = await year.service.scorecard(year.tenant, YEAR, "u5")
    assert sorted(card.points(Layer.SELF)) == sorted(codes)
    assert card.version == 1 + len(codes)


async def test_a_stale_expected_version_is_refused_not_retried(year: Year) -> None:
    year.clock.on(date(YEAR, 11, 1))
    officer = year.as_(Role.MEMBER_OFFICER, "u5")
    await year.service.self_score(officer, YEAR, "u5", "A1", Decimal(20), "Đạt", ["BC"])
    stale = replace(officer, expected_version=0)

    with pytest.raises(ConcurrencyConflict) as conflict:
        await year.service.self_score(stale, YEAR, "u5", "A1", Decimal(25), "Sửa", ["BC"])

    assert (conflict.value.expected, conflict.value.actual) == (0, 2)
    card = await year.service.scorecard(year.tenant, YEAR, "u5")
    assert card.points(Layer.SELF)["A1"] == Decimal(20)


async def test_a_score_decided_before_finalisation_cannot_land_after_it(year: Year) -> None:
    year.clock.on(date(YEAR, 11, 1))
    for unit in UNITS:
        await year.score_all(unit)
    cluster_year = await year.service.year(year.tenant, YEAR)
    card = await year.service.scorecard(year.tenant, YEAR, "u3")
    card.score(
        Layer.VERIFIED,
        cluster_year.criteria_on(date(YEAR, 11, 1)),
        "A1",
        Decimal(10),
        "Quyết định trước khi chốt",
        [],
        year.clock(),
        cluster_year.rules,
    )

    await year.service.finalise(year.secretariat, YEAR)

    with pytest.raises(ConcurrencyConflict) as late:
        await year.service.repo.save(
            year.secretariat, card, [(cluster_year.id, cluster_year.version)]
        )
    assert late.value.stream_id == cluster_year.id
    final = await year.service.scorecard(year.tenant, YEAR, "u3")
    assert Layer.VERIFIED not in {layer for layer in Layer if final.entries[layer]}


async def test_a_member_who_left_is_out_of_the_bases(year: Year) -> None:
    await year.service.leave_member(year.secretariat, YEAR, "u6", date(YEAR, 7, 1), "u5")
    year.clock.on(date(YEAR, 12, 20))
    await year.service.convene_meeting(year.secretariat, YEAR, "tk", "Tổng kết", date(YEAR, 12, 20))
    await year.service.record_attendance(year.secretariat, YEAR, "tk", ["u1", "u2", "u3"])
    with pytest.raises(DomainError) as no_quorum:
        await year.service.open_ballot(year.secretariat, YEAR, "tk", "u1", "Suy tôn")
    assert no_quorum.value.code == "NO_QUORUM"  # 3 of 5 is below 2/3
    with pytest.raises(DomainError) as outsider:
        await year.service.sign_pledge(year.as_(Role.MEMBER_HEAD, "u6"), YEAR, "u6")
    assert outsider.value.code == "FORBIDDEN"
    standings = await year.service.standings(year.tenant, YEAR)
    assert [t.unit for t in standings.layers[Layer.SELF].totals] == UNITS[:5]


async def test_text_is_stored_in_nfc(year: Year) -> None:
    decomposed = unicodedata.normalize("NFD", "Mô hình Dân vận khéo")
    year.clock.on(date(YEAR, 3, 1))
    officer = year.as_(Role.MEMBER_OFFICER, "u4")
    await year.service.register_topic(officer, YEAR, "u4", "mh", TopicKind.NEW_MODEL, decomposed)
    pledge = await year.service.pledge(year.tenant, YEAR)
    assert pledge.topics["mh"]["title"] == unicodedata.normalize("NFC", decomposed)


async def test_next_year_is_opened_by_the_new_leader_and_the_old_one_reads_only_its_year(
    year: Year,
) -> None:
    year.clock.on(date(YEAR, 12, 22))
    await year.service.rotate_leadership(year.secretariat, YEAR, "u2", ["u3"], date(YEAR, 12, 22))
    members = [Membership(u, f"Đơn vị {u}", date(YEAR + 1, 1, 1)) for u in UNITS]

    with pytest.raises(DomainError) as old_leader:
        await year.service.open_year(year.secretariat, YEAR + 1, members, "u2", ["u3"])
    assert old_leader.value.code == "NOT_THE_LEADER"
    new_secretariat = year.as_(Role.SECRETARIAT, "u2")
    await year.service.open_year(new_secretariat, YEAR + 1, members, "u2", ["u3"])

    last_year = await year.service.year(year.tenant, YEAR)
    next_year = await year.service.year(year.tenant, YEAR + 1)
    old = Actor("Cán bộ u1", Role.SECRETARIAT, "u1")
    assert may(old, Action.READ_YEAR, last_year.context(date(YEAR + 1, 1, 5)))
    assert not may(old, Action.MANAGE_YEAR, last_year.context(date(YEAR + 1, 1, 5)))
    assert not may(old, Action.READ_YEAR, next_year.context(date(YEAR + 1, 1, 5)))
