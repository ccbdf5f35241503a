"""The commands of the emulation year against the real event store: a year end to end,
refusals that change nothing and are recorded, idempotency and concurrency."""

import asyncio
import json
import unicodedata
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from thidua.demo import CITY_CRITERIA
from thidua.domain import commands as c
from thidua.domain.cluster_year import Status
from thidua.domain.errors import DomainError, InvalidInput
from thidua.domain.pledge import TopicKind
from thidua.domain.proposals import Award
from thidua.domain.rights import Action, Actor, Caller, Role, may
from thidua.domain.scorecard import Layer, Scorecard
from thidua.ledger.records import RecordedEvent
from thidua.service.emulation import CITY_LOG, Emulation
from thidua.service.envelope import Calendar, Envelope, Recorded
from thidua.store import ConcurrencyConflict, EventStore

YEAR = 2025
UNITS = ["u1", "u2", "u3", "u4", "u5", "u6"]
CITY = Actor("Nguyễn Văn An", Role.CITY_BOARD)
DOCUMENTS = ("Tờ trình 01/TTr", "Biên bản họp", "Báo cáo thành tích")


def members(year: int) -> tuple[c.MemberGiven, ...]:
    return tuple(c.MemberGiven(u, f"Đơn vị {u}", date(year, 1, 1)) for u in UNITS)


@dataclass
class Year:
    service: Emulation
    clock: Calendar
    tenant: str

    def as_(self, role: Role, unit: str | None = None, reason: str | None = None) -> Envelope:
        return Envelope(self.tenant, Actor(f"Cán bộ {unit or role}", role, unit).caller(), reason)

    def holding(self, unit: str, *roles: Role, reason: str | None = None) -> Envelope:
        """One person of the unit whose token gives it several roles."""
        return Envelope(self.tenant, Caller(f"Cán bộ {unit}", roles, unit), reason)

    @property
    def secretariat(self) -> Envelope:
        return self.as_(Role.SECRETARIAT, "u1")

    @property
    def city(self) -> Envelope:
        return Envelope(self.tenant, CITY.caller(), "Phát hiện kê khai sai")

    async def run(self, envelope: Envelope, command: c.Command) -> Recorded:
        return await self.service.handle(envelope, command)

    async def refused_codes(self) -> list[str]:
        """The codes of the refusals recorded in the cluster's log, in order."""
        log = await self.service.store.read_log(self.tenant)
        return [json.loads(e.payload)["code"] for e in log if e.stream_id.startswith("refused/")]

    async def events_of(self, recorded: Recorded) -> list[RecordedEvent]:
        """The events one command appended."""
        log = await self.service.store.read_log(self.tenant, recorded.positions[0] - 1)
        return [e for e in log if e.position in recorded.positions]

    async def score_all(
        self, unit: str, a1: Decimal = Decimal(27), by: Envelope | None = None
    ) -> list[Recorded]:
        officer = by or self.as_(Role.MEMBER_OFFICER, unit)
        recorded = []
        for code, criterion in CITY_CRITERIA.scorable().items():
            if criterion.max_points is None or criterion.part == "E":
                continue
            points = a1 if code == "A1" else criterion.max_points - Decimal("0.5")
            scored = c.SelfScore(YEAR, unit, code, points, "Đạt", (f"Báo cáo {code}",))
            recorded.append(await self.run(officer, scored))
        return recorded


@pytest.fixture
async def year(store: EventStore, new_tenant: Callable[[], Awaitable[str]]) -> Year:
    clock = Calendar(datetime(YEAR, 1, 10, 2, tzinfo=UTC))
    service = Emulation(store, clock)
    template = f"mau-{uuid.uuid4().hex[:8]}"
    board = Envelope(CITY_LOG, CITY.caller())
    await service.handle(board, c.PublishTemplate(template, CITY_CRITERIA))  # the city's log
    tenant = await new_tenant()
    y = Year(service, clock, tenant)
    await y.run(y.city, c.OpenYear(YEAR, members(YEAR), "u1", ("u2",)))
    clock.on(date(YEAR, 2, 20))
    await y.run(y.secretariat, c.AdoptCriteria(YEAR, template, "2025.1", CITY_CRITERIA))
    pledge = c.DraftPledge(YEAR, ("Hoàn thành nhiệm vụ",), ("Chỉ tiêu 1",))
    await y.run(y.secretariat, pledge)
    return y


async def test_a_year_end_to_end(year: Year) -> None:
    service, clock, run, secretariat = year.service, year.clock, year.run, year.secretariat
    for unit in UNITS:
        await run(year.as_(Role.MEMBER_HEAD, unit), c.SignPledge(YEAR, unit))
    clock.on(date(YEAR, 3, 31))
    topic = c.RegisterTopic(YEAR, "u2", "mh-u2", TopicKind.NEW_MODEL, "Mô hình một cửa số")
    await run(year.as_(Role.MEMBER_OFFICER, "u2"), topic)
    clock.on(date(YEAR, 11, 20))
    for unit in UNITS:
        await year.score_all(unit, a1={"u1": Decimal(28), "u2": Decimal(29)}.get(unit, Decimal(27)))
        await run(year.as_(Role.MEMBER_HEAD, unit), c.SubmitSelfAssessment(YEAR, unit))

    standings = await service.standings(year.tenant, YEAR)
    assert standings.layers[Layer.SELF].ranking.first == "u2"

    # The cross-inspection lowers u2's A1 below u1's: the verified view re-ranks.
    await run(secretariat, c.AssignInspection(YEAR, "kt-1", "u3", ("u2",)))
    inspector = year.as_(Role.CROSS_INSPECTOR, "u3", "Kiểm tra chéo")
    await run(inspector, c.VerifyScore(YEAR, "u2", "A1", Decimal(26), "Thiếu minh chứng"))
    standings = await service.standings(year.tenant, YEAR)
    verified = standings.layers[Layer.VERIFIED].totals_by_unit()
    assert verified["u2"].total == Decimal(92)  # 95 self, A1 29 -> 26
    assert standings.layers[Layer.VERIFIED].ranking.first == "u1"
    assert standings.layers[Layer.SELF].ranking.first == "u2"  # every layer is kept

    await run(secretariat, c.MarkTopic(YEAR, "mh-u2", True, "Đã triển khai"))
    clock.on(date(YEAR, 12, 15))
    await run(secretariat, c.Finalise(YEAR))
    with pytest.raises(DomainError) as finalised:
        await run(inspector, c.VerifyScore(YEAR, "u2", "A1", Decimal(29), "Sửa lại"))
    assert finalised.value.code == "YEAR_FINALISED"

    # u1 is first but has no new model: no flag for it, whatever the vote.
    await run(secretariat, c.ConveneMeeting(YEAR, "tk", "Tổng kết", date(YEAR, 12, 20)))
    clock.on(date(YEAR, 12, 20))  # attendance and the ballot on the meeting's day
    await run(secretariat, c.RecordAttendance(YEAR, "tk", tuple(UNITS[:4])))
    await run(secretariat, c.OpenBallot(YEAR, "tk", "u1", "Suy tôn"))
    await run(secretariat, c.RecordTally(YEAR, "tk", 4, 0, 0))
    with pytest.raises(DomainError) as no_model:
        await run(secretariat, c.Propose(YEAR, "co-1", Award.FLAG, ("u1",), DOCUMENTS))
    assert no_model.value.code == "FLAG_NO_NEW_MODEL"
    await run(secretariat, c.Propose(YEAR, "bk-1", Award.CERTIFICATE, ("u3",), DOCUMENTS))

    # The city reopens on a corrected appraisal: a new result version, the old one kept.
    with pytest.raises(DomainError) as not_city:
        await run(year.as_(Role.SECRETARIAT, "u1"), c.Reopen(YEAR, "Sửa"))
    assert not_city.value.code == "FORBIDDEN"
    await run(year.city, c.Reopen(YEAR, "Phát hiện kê khai sai"))
    adjusted = c.CityAdjust(YEAR, "u2", "A1", Decimal(29), "Minh chứng bổ sung hợp lệ")
    await run(year.city, adjusted)
    await run(secretariat, c.Finalise(YEAR))
    cluster_year = await service.year(year.tenant, YEAR)
    assert cluster_year.result_version == 2
    assert cluster_year.results[1].layers[Layer.CITY].ranking.first == "u1"
    assert cluster_year.results[2].layers[Layer.CITY].ranking.first == "u2"
    assert cluster_year.proposals["bk-1"].superseded
    assert cluster_year.reopenings == [{"reason": "Phát hiện kê khai sai", "result_version": 1}]

    # u2 now leads, won a vote and carried out its new model: the flag goes to it.
    await run(secretariat, c.OpenBallot(YEAR, "tk", "u2", "Suy tôn lại"))
    await run(secretariat, c.RecordTally(YEAR, "tk", 4, 0, 0))
    await run(secretariat, c.Propose(YEAR, "co-2", Award.FLAG, ("u2",), DOCUMENTS))
    cluster_year = await service.year(year.tenant, YEAR)
    assert cluster_year.proposals["co-2"].result_version == 2
    assert cluster_year.status is Status.FINALISED
    assert await year.refused_codes() == ["YEAR_FINALISED", "FLAG_NO_NEW_MODEL", "FORBIDDEN"]


async def test_a_refusal_changes_nothing_and_is_recorded(year: Year) -> None:
    before = await year.service.store.head(year.tenant)
    intruder = year.as_(Role.MEMBER_OFFICER, "u3")

    with pytest.raises(DomainError) as refused:
        await year.run(intruder, c.SelfScore(YEAR, "u4", "A1", Decimal(30), "Tự cho", ("x",)))

    assert refused.value.code == "FORBIDDEN"
    assert "không có quyền" in refused.value.message
    async with year.service.store.session(year.tenant) as session:
        card = await year.service.repo.get(session, Scorecard, Scorecard.create_id(YEAR, "u4"))
    assert card is None
    log = await year.service.store.read_log(year.tenant, before[0])
    assert [e.stream_id.split("/")[0] for e in log] == ["refused"]
    assert log[0].metadata_json["actor"] == "Cán bộ u3"
    assert log[0].metadata_json["unit"] == "u3"
    assert b'"code":"FORBIDDEN"' in log[0].payload
    assert b'"command":"selfScore"' in log[0].payload
    assert b'"unit":"u4"' in log[0].payload


async def test_a_finalised_year_refuses_scores_until_the_city_reopens_it(year: Year) -> None:
    year.clock.on(date(YEAR, 11, 1))
    for unit in UNITS:
        await year.score_all(unit)
    await year.run(year.secretariat, c.Finalise(YEAR))
    secretariat = year.secretariat

    with pytest.raises(DomainError) as locked:
        await year.run(secretariat, c.VerifyScore(YEAR, "u3", "A1", Decimal(20), "Sai"))
    assert locked.value.code == "YEAR_FINALISED"
    with pytest.raises(InvalidInput) as no_reason:
        await year.run(year.city, c.Reopen(YEAR, "  "))
    assert no_reason.value.code == "REASON_REQUIRED"

    await year.run(year.city, c.Reopen(YEAR, "Phát hiện kê khai sai"))
    await year.run(secretariat, c.VerifyScore(YEAR, "u3", "A1", Decimal(20), "Sai"))
    card = await year.service.scorecard(year.tenant, YEAR, "u3")
    assert card.points(Layer.VERIFIED)["A1"] == Decimal(20)


async def test_changed_criteria_flag_scores_and_block_finalisation(year: Year) -> None:
    year.clock.on(date(YEAR, 7, 1))
    for unit in UNITS:
        await year.score_all(unit)
    await year.run(year.secretariat, c.RecordMidYearReview(YEAR))
    template = (await year.service.year(year.tenant, YEAR)).criteria[0]["template_name"]
    a2 = replace(CITY_CRITERIA.by_code()["A2"], max_points=Decimal(20))
    v2 = replace(
        CITY_CRITERIA,
        version="2025.2",
        effective_from=date(YEAR, 8, 1),
        criteria=tuple(a2 if c.code == "A2" else c for c in CITY_CRITERIA.criteria),
    )
    await year.run(year.secretariat, c.AdoptCriteria(YEAR, template, "2025.1", v2))
    year.clock.on(date(YEAR, 8, 2))

    with pytest.raises(DomainError) as flagged:
        await year.run(year.secretariat, c.Finalise(YEAR))
    assert flagged.value.code == "CRITERIA_FLAGGED"
    card = await year.service.scorecard(year.tenant, YEAR, "u1")
    assert card.points(Layer.SELF)["A2"] == Decimal("14.5")  # kept, never rescaled
    review = (await year.service.year(year.tenant, YEAR)).mid_year_review
    assert review is not None
    assert review.criteria_version == "2025.1"
    assert review.on == date(YEAR, 7, 1)

    for unit in UNITS:
        officer = year.as_(Role.MEMBER_OFFICER, unit)
        await year.run(officer, c.SelfScore(YEAR, unit, "A2", Decimal(19), "Chấm lại", ("BC",)))
    await year.run(year.secretariat, c.Finalise(YEAR))
    result = (await year.service.year(year.tenant, YEAR)).results[1]
    assert result.criteria_version == "2025.2"
    assert not any(result.flagged.values())  # every unit scored A2 again
    review = (await year.service.year(year.tenant, YEAR)).mid_year_review
    assert review is not None
    assert review.criteria_version == "2025.1"


async def test_a_retried_command_records_nothing_twice(year: Year) -> None:
    head = year.as_(Role.MEMBER_HEAD, "u2")
    retried = replace(head, idempotency_key="ky-giao-uoc-u2")

    first = await year.run(retried, c.SignPledge(YEAR, "u2"))
    again = await year.run(retried, c.SignPledge(YEAR, "u2"))

    assert first == again
    log = await year.service.store.read_log(year.tenant, first.positions[0] - 1)
    assert len(log) == 1  # one signature, and no refusal for the retry
    with pytest.raises(DomainError) as twice:
        await year.run(head, c.SignPledge(YEAR, "u2"))  # a new command, not a retry
    assert twice.value.code == "ALREADY_SIGNED"


async def test_concurrent_scores_on_one_card_all_land(year: Year) -> None:
    year.clock.on(date(YEAR, 11, 1))
    officer = year.as_(Role.MEMBER_OFFICER, "u5")
    codes = ["A1", "A2", "A3", "B1", "B2", "B3", "C1", "C2", "D"]
    await asyncio.gather(
        *(
            year.run(officer, c.SelfScore(YEAR, "u5", code, Decimal(5), "Đạt", ("BC",)))
            for code in codes
        )
    )
    card = await year.service.scorecard(year.tenant, YEAR, "u5")
    assert sorted(card.points(Layer.SELF)) == sorted(codes)
    assert card.version == 1 + len(codes)


async def test_fifty_writers_on_one_card_without_a_version_all_succeed(year: Year) -> None:
    """They take turns on their cluster and decide on each other's results: none is
    refused with a conflict it did not ask for."""
    year.clock.on(date(YEAR, 11, 1))
    officer = year.as_(Role.MEMBER_OFFICER, "u5")
    codes = ["A1", "A2", "A3", "B1", "B2", "B3", "C1", "C2", "D"]
    writes = [
        c.SelfScore(YEAR, "u5", codes[n % len(codes)], Decimal(n % 5), f"Lần {n}", ("BC",))
        for n in range(50)
    ]
    outcomes = await asyncio.gather(*(year.run(officer, w) for w in writes))
    assert len({o.version for o in outcomes}) == 50
    card = await year.service.scorecard(year.tenant, YEAR, "u5")
    assert card.version == 1 + 50


async def test_a_stale_expected_version_is_refused_not_retried(year: Year) -> None:
    year.clock.on(date(YEAR, 11, 1))
    officer = year.as_(Role.MEMBER_OFFICER, "u5")
    await year.run(officer, c.SelfScore(YEAR, "u5", "A1", Decimal(20), "Đạt", ("BC",)))
    stale = replace(officer, expected_version=0)

    with pytest.raises(ConcurrencyConflict) as conflict:
        await year.run(stale, c.SelfScore(YEAR, "u5", "A1", Decimal(25), "Sửa", ("BC",)))

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

    await year.run(year.secretariat, c.Finalise(YEAR))

    secretary = year.secretariat.caller.actors()[0]
    with pytest.raises(ConcurrencyConflict) as late:
        async with year.service.store.session(year.tenant) as session:
            await year.service.repo.save(
                session,
                year.secretariat.metadata(secretary, year.clock()),
                card,
                [(cluster_year.id, cluster_year.version)],
            )
    assert late.value.stream_id == cluster_year.id
    final = await year.service.scorecard(year.tenant, YEAR, "u3")
    assert Layer.VERIFIED not in {layer for layer in Layer if final.entries[layer]}


async def test_a_member_who_left_is_out_of_the_bases(year: Year) -> None:
    await year.run(year.secretariat, c.LeaveMember(YEAR, "u6", date(YEAR, 7, 1), "u5"))
    year.clock.on(date(YEAR, 12, 20))
    await year.run(year.secretariat, c.ConveneMeeting(YEAR, "tk", "Tổng kết", date(YEAR, 12, 20)))
    await year.run(year.secretariat, c.RecordAttendance(YEAR, "tk", ("u1", "u2", "u3")))
    with pytest.raises(DomainError) as no_quorum:
        await year.run(year.secretariat, c.OpenBallot(YEAR, "tk", "u1", "Suy tôn"))
    assert no_quorum.value.code == "NO_QUORUM"  # 3 of 5 is below 2/3
    with pytest.raises(DomainError) as outsider:
        await year.run(year.as_(Role.MEMBER_HEAD, "u6"), c.SignPledge(YEAR, "u6"))
    assert outsider.value.code == "FORBIDDEN"
    standings = await year.service.standings(year.tenant, YEAR)
    assert [t.unit for t in standings.layers[Layer.SELF].totals] == UNITS[:5]


async def test_text_is_stored_in_nfc(year: Year) -> None:
    decomposed = unicodedata.normalize("NFD", "Mô hình Dân vận khéo")
    year.clock.on(date(YEAR, 3, 1))
    officer = year.as_(Role.MEMBER_OFFICER, "u4")
    await year.run(officer, c.RegisterTopic(YEAR, "u4", "mh", TopicKind.NEW_MODEL, decomposed))
    pledge = await year.service.pledge(year.tenant, YEAR)
    assert pledge.topics["mh"]["title"] == unicodedata.normalize("NFC", decomposed)


async def test_next_year_is_opened_by_the_new_leader_and_the_old_one_reads_only_its_year(
    year: Year,
) -> None:
    year.clock.on(date(YEAR, 12, 22))
    await year.run(year.secretariat, c.RotateLeadership(YEAR, "u2", date(YEAR, 12, 22), ("u3",)))
    next_year = c.OpenYear(YEAR + 1, members(YEAR + 1), "u2", ("u3",))

    with pytest.raises(DomainError) as old_leader:
        await year.run(year.secretariat, next_year)
    assert old_leader.value.code == "NOT_THE_LEADER"
    new_secretariat = year.as_(Role.SECRETARIAT, "u2")
    await year.run(new_secretariat, next_year)

    last = await year.service.year(year.tenant, YEAR)
    following = await year.service.year(year.tenant, YEAR + 1)
    old = Actor("Cán bộ u1", Role.SECRETARIAT, "u1")
    assert may(old, Action.READ_YEAR, last.context(date(YEAR + 1, 1, 5)))
    assert not may(old, Action.MANAGE_YEAR, last.context(date(YEAR + 1, 1, 5)))
    assert not may(old, Action.READ_YEAR, following.context(date(YEAR + 1, 1, 5)))


# Callers whose token gives several roles.


async def test_a_secretariat_officer_of_an_inspecting_unit_verifies_as_the_inspector(
    year: Year,
) -> None:
    """u3 does not lead the cluster, so its secretariat role gives it nothing; its
    cross-inspector role, assigned to u2, lets it verify u2's score."""
    year.clock.on(date(YEAR, 11, 1))
    await year.score_all("u2")
    await year.run(year.secretariat, c.AssignInspection(YEAR, "kt-1", "u3", ("u2",)))
    both = year.holding("u3", Role.SECRETARIAT, Role.CROSS_INSPECTOR, reason="Kiểm tra chéo")

    checked = c.VerifyScore(YEAR, "u2", "A1", Decimal(25), "Thiếu minh chứng")
    recorded = await year.run(both, checked)

    [event] = await year.events_of(recorded)
    assert event.stream_id == Scorecard.create_id(YEAR, "u2")
    assert (event.metadata_json["role"], event.metadata_json["unit"]) == ("cross_inspector", "u3")
    card = await year.service.scorecard(year.tenant, YEAR, "u2")
    assert card.points(Layer.VERIFIED)["A1"] == Decimal(25)
    # With the secretariat role alone, the same person is refused: u3 is not the leader.
    with pytest.raises(DomainError) as alone:
        await year.run(year.holding("u3", Role.SECRETARIAT), checked)
    assert alone.value.code == "NOT_THE_LEADER"


async def test_a_caller_with_several_roles_acts_in_any_that_may(year: Year) -> None:
    """An officer who is also the unit's head signs, scores and submits with one token;
    when every role is refused, the refusal that says the most is the one recorded."""
    both = year.holding("u4", Role.MEMBER_OFFICER, Role.MEMBER_HEAD)

    signed = await year.run(both, c.SignPledge(YEAR, "u4"))  # the head's alone
    year.clock.on(date(YEAR, 11, 1))
    scored = await year.score_all("u4", by=both)  # the officer's first, the head's too
    submitted = await year.run(both, c.SubmitSelfAssessment(YEAR, "u4"))  # the head's alone

    def roles(events: list[RecordedEvent]) -> set[str]:
        return {e.metadata_json["role"] for e in events}

    assert roles(await year.events_of(signed)) == {"member_head"}
    for recorded in scored:
        assert roles(await year.events_of(recorded)) == {"member_officer"}
    assert roles(await year.events_of(submitted)) == {"member_head"}
    card = await year.service.scorecard(year.tenant, YEAR, "u4")
    assert card.submitted_at is not None

    # Neither role may score another unit: a plain refusal.
    with pytest.raises(DomainError) as other_unit:
        await year.run(both, c.SelfScore(YEAR, "u5", "A1", Decimal(20), "Chấm hộ", ("BC",)))
    assert other_unit.value.code == "FORBIDDEN"
    # An officer who also inspects, verifying a unit it is not assigned: the inspector's
    # refusal says more than the officer's plain one, and is the one recorded.
    await year.run(year.secretariat, c.AssignInspection(YEAR, "kt-1", "u3", ("u2",)))
    inspecting = year.holding("u3", Role.MEMBER_OFFICER, Role.CROSS_INSPECTOR)
    with pytest.raises(DomainError) as unassigned:
        await year.run(inspecting, c.VerifyScore(YEAR, "u4", "A1", Decimal(20), "Ngoài phân công"))
    assert unassigned.value.code == "NOT_ASSIGNED_INSPECTOR"
    log = await year.service.store.read_log(year.tenant)
    refused = [json.loads(e.payload) for e in log if e.stream_id.startswith("refused/")]
    assert [(r["command"], r["code"]) for r in refused] == [
        ("selfScore", "FORBIDDEN"),
        ("verifyScore", "NOT_ASSIGNED_INSPECTOR"),
    ]
    named = {"year": "2025", "unit": "u4", "criterion": "A1", "points": "20"}
    assert refused[-1]["target"].items() >= named.items()
