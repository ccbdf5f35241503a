"""A seeded random year of one cluster, played through the real commands on the real store.

`generated_year` registers a cluster and plays its 2025 on a simulated calendar: the
conference (criteria, pledge, new models, cross-inspections), a unit joining and one
leaving mid-year, the mid-year review, then thousands of self, verified and city scores
(most of them corrections), answers to findings and submissions, with deliberate refusals
(each recorded by the service), concurrent scores on one card and stale expected versions.
When the log holds enough events it closes the year: finalisation, the year-end meeting
and its ballot, proposals, the city's reopening with an adjustment, a second finalisation.

The same seed gives the same commands. Only the workload writes to its cluster, so it
follows the log's head from what its commands return instead of reading it back.
"""

import asyncio
import math
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from thidua.demo import CITY_CRITERIA
from thidua.domain import commands as c
from thidua.domain.criteria import Kind
from thidua.domain.errors import DomainError
from thidua.domain.pledge import TopicKind
from thidua.domain.proposals import Award
from thidua.domain.ranking import Ranking
from thidua.domain.rights import Actor, Role
from thidua.domain.scorecard import Layer
from thidua.service.emulation import CITY_LOG, Emulation
from thidua.service.envelope import HANOI, Calendar, Envelope, Recorded
from thidua.store import ConcurrencyConflict, EventStore

YEAR = 2025
UNITS = [
    ("dv-1", "Sở Tài chính thành phố Hà Nội"),
    ("dv-2", "Sở Xây dựng thành phố Hà Nội"),
    ("dv-3", "Sở Công Thương thành phố Hà Nội"),
    ("dv-4", "Sở Y tế thành phố Hà Nội"),
    ("dv-5", "Sở Giáo dục và Đào tạo thành phố Hà Nội"),
    ("dv-6", "Sở Tư pháp thành phố Hà Nội"),
    ("dv-7", "Sở Văn hóa và Thể thao thành phố Hà Nội"),
    ("dv-8", "Sở Nội vụ thành phố Hà Nội"),
]
NEWCOMER = ("dv-9", "Sở Khoa học và Công nghệ thành phố Hà Nội")
LEADER, DEPUTY = "dv-1", "dv-2"
CITY = Actor("Nguyễn Văn An", Role.CITY_BOARD)

CRITERIA = CITY_CRITERIA.scorable()
BASE = sorted(code for code, criterion in CRITERIA.items() if criterion.kind is Kind.BASE)
EXTRA = sorted(code for code, criterion in CRITERIA.items() if criterion.kind is not Kind.BASE)

BULK_FROM = date(YEAR, 3, 5)
SELF_SCORES_UNTIL = date(YEAR, 12, 10)  # the default self-score deadline, inclusive
CHECK_DAYS = 4  # then verified and city layers only, 11 to 14 December
SELF_SHARE = 0.85  # of the events, played up to the self-score deadline

EXPLANATIONS = [
    "Hoàn thành đầy đủ chỉ tiêu được giao",
    "Hoàn thành vượt mức kế hoạch năm",
    "Cơ bản hoàn thành, còn một số nội dung chậm tiến độ",
    "Đã bổ sung minh chứng theo yêu cầu",
    "Điều chỉnh theo số liệu báo cáo quý",
]
CHECKS = [
    "Minh chứng chưa thể hiện đầy đủ kết quả",
    "Đối chiếu hồ sơ, xác nhận đúng kết quả tự chấm",
    "Số liệu báo cáo chưa khớp với kế hoạch",
    "Thẩm định lại theo biên bản kiểm tra",
]
ANSWERS = [
    "Đơn vị đã bổ sung hồ sơ minh chứng còn thiếu",
    "Đơn vị giải trình số liệu theo báo cáo thống kê",
    "Đơn vị tiếp thu và chấn chỉnh trong quý tới",
]
DOCUMENTS = ("Tờ trình số 01/TTr-CTĐ", "Biên bản hội nghị tổng kết", "Báo cáo thành tích")
PEOPLE = {
    Role.MEMBER_OFFICER: "Cán bộ thi đua",
    Role.MEMBER_HEAD: "Thủ trưởng",
    Role.CROSS_INSPECTOR: "Tổ kiểm tra chéo",
    Role.SECRETARIAT: "Văn phòng thường trực cụm",
}


async def generated_year(
    store: EventStore,
    tenant: str,
    seed: int,
    events: int,
    capture: Callable[[], Awaitable[None]],
    moments: int,
) -> Counter[str]:
    """Register `tenant` and play its year 2025 until its log holds at least `events`
    events, then close the year; `capture` runs `moments` times, spread evenly over the
    run and always between commands. Returns what happened, by kind."""
    workload = _Workload(store, tenant, seed, events, capture, moments)
    await workload.play()
    return workload.count


class _Workload:
    def __init__(
        self,
        store: EventStore,
        tenant: str,
        seed: int,
        events: int,
        capture: Callable[[], Awaitable[None]],
        moments: int,
    ) -> None:
        self.store, self.tenant, self.events = store, tenant, events
        self.rng = random.Random(seed)
        self.clock = Calendar(datetime.combine(date(YEAR, 1, 6), time(9), HANOI))
        self.day = date(YEAR, 1, 6)
        self.service = Emulation(store, self.clock)
        self.capture = capture
        self.marks = [math.ceil(k * events / (moments + 1)) for k in range(1, moments + 1)]
        self.captured = 0
        self.count: Counter[str] = Counter()
        self.head = 0  # the cluster's last log position, from what the commands returned
        self.members = [code for code, _ in UNITS]
        self.leaver = self.rng.choice([u for u in self.members if u not in (LEADER, DEPUTY)])
        self.inspects: dict[str, list[str]] = {}  # inspector unit -> units it checks
        self.versions: dict[str, int] = {}  # unit -> its scorecard's stream version
        self.scored: set[tuple[str, Layer, str]] = set()
        self.self_codes: dict[str, set[str]] = {}
        self.submitted: set[str] = set()
        self.findings: list[tuple[str, str]] = []  # (unit, criterion) with a verified score
        self.models: list[tuple[str, str]] = []  # (topic, unit) of the new models
        self.carried_out: set[str] = set()
        self.candidate = LEADER  # of the year-end ballot
        self.milestones: list[tuple[date, Callable[[], Awaitable[None]]]] = [
            (date(YEAR, 4, 2), self._late_topic),
            (date(YEAR, 6, 2), self._join),
            (date(YEAR, 7, 1), self._leave),
            (date(YEAR, 7, 15), self._mid_year_review),
            (date(YEAR, 10, 15), self._mark_topics),
        ]

    # The year.

    async def play(self) -> None:
        await self._open()
        await self._conference()
        self_target = int(self.events * SELF_SHARE)
        span = (SELF_SCORES_UNTIL - BULK_FROM).days
        while not await self._reached(self_target):
            await self._advance(BULK_FROM + timedelta(days=int(span * self.head / self_target)))
            await self._self_scoring_step()
        await self._advance(SELF_SCORES_UNTIL)  # whatever the year still owes by then
        start = self.head
        while not await self._reached(self.events):
            share = (self.head - start) / max(1, self.events - start)
            self._on(SELF_SCORES_UNTIL + timedelta(days=1 + int(share * CHECK_DAYS)))
            await self._checking_step()
        while self.captured < len(self.marks):  # only when the setup alone outgrew `events`
            self.captured += 1
            await self.capture()
        await self._close()

    async def _open(self) -> None:
        await self.store.create_tenant(self.tenant, f"Cụm thi đua thử nghiệm {self.tenant}")
        self.template = f"mau-{self.tenant}"
        board = Envelope(CITY_LOG, CITY.caller())  # the city's log, made on first use
        await self.service.handle(board, c.PublishTemplate(self.template, CITY_CRITERIA))
        self._on(date(YEAR, 1, 10))
        members = tuple(c.MemberGiven(code, name, date(YEAR, 1, 1)) for code, name in UNITS)
        opened = c.OpenYear(YEAR, members, LEADER, (DEPUTY,))
        await self._ok(self._city("Mở năm thi đua 2025"), opened)

    async def _conference(self) -> None:
        """Criteria, pledge and signatures; then new models and cross-inspections."""
        self._on(date(YEAR, 2, 20))
        secretariat = self._secretariat()
        await self._ok(secretariat, c.AdoptCriteria(YEAR, self.template, "2025.1", CITY_CRITERIA))
        await self._ok(
            secretariat,
            c.DraftPledge(
                YEAR,
                ("Hoàn thành xuất sắc nhiệm vụ chính trị được giao", "Đẩy mạnh chuyển đổi số"),
                ("100% hồ sơ xử lý trên môi trường mạng", "Không có cán bộ vi phạm kỷ luật"),
            ),
        )
        for unit in self.rng.sample(self.members, len(self.members)):
            await self._ok(self._as(Role.MEMBER_HEAD, unit), c.SignPledge(YEAR, unit))

        self._on(date(YEAR, 3, 3))
        registering = self.rng.sample(self.members, 6)
        for position, unit in enumerate(registering):
            kind = TopicKind.NEW_MODEL if position < 5 else TopicKind.TOPIC
            topic = f"mo-hinh-{unit}" if kind is TopicKind.NEW_MODEL else f"chuyen-de-{unit}"
            title = f"{'Mô hình mới' if position < 5 else 'Chuyên đề'}: số hoá hồ sơ tại {unit}"
            officer = self._as(Role.MEMBER_OFFICER, unit)
            await self._ok(officer, c.RegisterTopic(YEAR, unit, topic, kind, title))
            if kind is TopicKind.NEW_MODEL:
                self.models.append((topic, unit))

        # Cross-inspection in a ring: each unit checks the next one or two, the leaver none.
        ring = self.rng.sample(self.members, len(self.members))
        for i, inspector in enumerate(ring):
            if inspector == self.leaver:
                continue
            units = [ring[(i + 1) % len(ring)]]
            if self.rng.random() < 0.4:
                units.append(ring[(i + 2) % len(ring)])
            await self._assign(f"kiem-tra-cheo-{i + 1}", inspector, units)

    async def _late_topic(self) -> None:
        unit = self.rng.choice(self.members)
        officer = self._as(Role.MEMBER_OFFICER, unit)
        late = c.RegisterTopic(
            YEAR, unit, f"tre-han-{unit}", TopicKind.TOPIC, "Chuyên đề đăng ký muộn"
        )
        await self._refused(officer, late, "TOPIC_DEADLINE_PASSED")

    async def _join(self) -> None:
        unit, name = NEWCOMER
        await self._ok(self._secretariat(), c.JoinMember(YEAR, unit, name, self.day))
        self.members.append(unit)
        self.count["joins"] += 1
        await self._ok(self._as(Role.MEMBER_HEAD, unit), c.SignPledge(YEAR, unit))
        inspector = self.rng.choice([u for u in self.members if u not in (unit, self.leaver)])
        await self._assign("kiem-tra-cheo-bo-sung", inspector, [unit])

    async def _leave(self) -> None:
        await self._ok(self._secretariat(), c.LeaveMember(YEAR, self.leaver, self.day))
        self.members.remove(self.leaver)
        self.count["leaves"] += 1

    async def _mid_year_review(self) -> None:
        await self._ok(self._secretariat(), c.RecordMidYearReview(YEAR))

    async def _mark_topics(self) -> None:
        for position, (topic, unit) in enumerate(self.models):
            done = position == 0 or self.rng.random() < 0.75
            note = "Đã triển khai, đánh giá hiệu quả" if done else "Chưa triển khai đúng tiến độ"
            await self._ok(self._secretariat(), c.MarkTopic(YEAR, topic, done, note))
            if done:
                self.carried_out.add(unit)

    async def _close(self) -> None:
        """Finalise, meet and vote, propose; the city reopens, adjusts, and finalises again."""
        secretariat = self._secretariat()
        self._on(date(YEAR, 12, 15))
        await self._ok(secretariat, c.Finalise(YEAR))
        self.count["finalisations"] += 1
        verifier, unit = self._verifier()
        code = self.rng.choice(BASE)
        late = c.VerifyScore(YEAR, unit, code, self._points(code), "Chấm sau khi đã chốt")
        await self._refused(verifier, late, "YEAR_FINALISED")
        not_city = c.Reopen(YEAR, "Đề nghị mở lại")
        await self._refused(self._secretariat(), not_city, "FORBIDDEN")

        self._on(date(YEAR, 12, 18))
        ranking = await self._ranking()
        self.candidate = ranking.first or ranking.places[0].unit
        meeting = "tong-ket-2025"
        title = "Hội nghị tổng kết phong trào thi đua 2025"
        await self._ok(secretariat, c.ConveneMeeting(YEAR, meeting, title, self.day))
        absent = self.rng.choice([u for u in self.members if u != LEADER])
        present = tuple(u for u in self.members if u != absent)
        await self._ok(secretariat, c.RecordAttendance(YEAR, meeting, present))
        question = "Suy tôn đơn vị dẫn đầu cụm năm 2025"
        await self._ok(secretariat, c.OpenBallot(YEAR, meeting, self.candidate, question))
        yes = len(present) - self.rng.randint(0, 1)
        no = len(present) - yes
        await self._ok(secretariat, c.RecordTally(YEAR, meeting, yes, no, 0))
        self._on(date(YEAR, 12, 19))
        await self._propose(ranking, "1")

        self._on(date(YEAR, 12, 22))
        reason = "Phát hiện kê khai chưa chính xác qua thẩm định của thành phố"
        await self._ok(self._city(reason), c.Reopen(YEAR, reason))
        self.count["reopenings"] += 1
        await self._city_adjust()
        await self._ok(secretariat, c.Finalise(YEAR))
        self.count["finalisations"] += 1
        self._on(date(YEAR + 1, 1, 8))
        await self._propose(await self._ranking(), "2")

    async def _propose(self, ranking: Ranking, version: str) -> None:
        first = ranking.first
        others = [p.unit for p in ranking.places if p.unit != first]
        quota = len(self.members) * 3 // 10  # the default 30% of current members
        secretariat = self._secretariat()
        if quota and others:
            units = tuple(others[:quota])
            proposal = f"bang-khen-2025-{version}"
            await self._ok(
                secretariat, c.Propose(YEAR, proposal, Award.CERTIFICATE, units, DOCUMENTS)
            )
            self.count["proposals"] += 1
        if first is not None and first == self.candidate and first in self.carried_out:
            flag = f"co-thi-dua-2025-{version}"
            await self._ok(secretariat, c.Propose(YEAR, flag, Award.FLAG, (first,), DOCUMENTS))
            self.count["proposals"] += 1
            self.count["flags"] += 1

    async def _ranking(self) -> Ranking:
        result = (await self.service.year(self.tenant, YEAR)).current_result()
        return result.layers[Layer.CITY].ranking

    # The bulk: one step is one command, or one group of concurrent commands.

    async def _self_scoring_step(self) -> None:
        roll = self.rng.random()
        if roll < 0.58:
            await self._self_score()
        elif roll < 0.70:
            await self._verify()
        elif roll < 0.74:
            await self._city_adjust()
        elif roll < 0.79:
            await self._answer()
        elif roll < 0.84:
            await self._submit()
        elif roll < 0.92:
            await self._refusal(self_scores_open=True)
        elif roll < 0.95:  # each retry of a group reads the card again: kept rare
            await self._concurrent()
        elif roll < 0.98:
            await self._stale(Layer.SELF)
        else:
            await self._optimistic()

    async def _checking_step(self) -> None:
        roll = self.rng.random()
        if roll < 0.6:
            await self._verify()
        elif roll < 0.75:
            await self._city_adjust()
        elif roll < 0.85:
            await self._answer()
        elif roll < 0.95:
            await self._refusal(self_scores_open=False)
        else:
            await self._stale(Layer.VERIFIED)

    async def _self_score(self) -> None:
        unit = self.rng.choice(self.members)
        code = self._code()
        role = Role.MEMBER_HEAD if self.rng.random() < 0.1 else Role.MEMBER_OFFICER
        await self._ok(
            self._as(role, unit), self._self_score_of(unit, code), (unit, Layer.SELF, code)
        )

    async def _verify(self) -> None:
        verifier, unit = self._verifier()
        code = self._code()
        evidence = (f"Biên bản kiểm tra số {self.rng.randint(1, 99)}/BB-KTC",)
        check = c.VerifyScore(
            YEAR, unit, code, self._points(code), self.rng.choice(CHECKS), evidence
        )
        await self._ok(verifier, check, (unit, Layer.VERIFIED, code))

    async def _city_adjust(self) -> None:
        unit = self.rng.choice(self.members)
        code = self._code()
        adjusted = c.CityAdjust(
            YEAR,
            unit,
            code,
            self._points(code),
            "Ban Thi đua - Khen thưởng thành phố điều chỉnh theo hồ sơ",
        )
        city = self._city("Điều chỉnh theo kết quả thẩm định của thành phố")
        await self._ok(city, adjusted, (unit, Layer.CITY, code))

    async def _answer(self) -> None:
        open_findings = [f for f in self.findings if f[0] in self.members]
        if not open_findings:
            await self._verify()
            return
        unit, code = self.rng.choice(open_findings)
        officer = self._as(Role.MEMBER_OFFICER, unit)
        text = self.rng.choice(ANSWERS)
        await self._ok(officer, c.AnswerFinding(YEAR, unit, code, text))
        self.count["answers"] += 1

    async def _submit(self) -> None:
        ready = [u for u in self.members if u not in self.submitted and self._complete(u)]
        if not ready:
            await self._self_score()
            return
        unit = self.rng.choice(ready)
        head = self._as(Role.MEMBER_HEAD, unit)
        await self._ok(head, c.SubmitSelfAssessment(YEAR, unit))
        self.submitted.add(unit)
        self.count["submissions"] += 1

    async def _concurrent(self) -> None:
        """Three or four self scores on one card at once: the service's retries land them all."""
        unit = self.rng.choice(self.members)
        codes = self.rng.sample(BASE + EXTRA, self.rng.randint(3, 4))
        officer = self._as(Role.MEMBER_OFFICER, unit)
        calls = [self.service.handle(officer, self._self_score_of(unit, code)) for code in codes]
        results = await asyncio.gather(*calls, return_exceptions=True)
        for result in results:
            if isinstance(result, Recorded):
                self._landed(result)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        for code in codes:
            self._scored(unit, Layer.SELF, code)
        self.count["concurrent"] += len(codes)
        await self._checkpoint()

    async def _stale(self, layer: Layer) -> None:
        """A command naming a version its scorecard has moved past: refused, not retried."""
        known = [u for u in self.members if self.versions.get(u, 0) > 0]
        if layer is Layer.VERIFIED:
            known = [u for u in known if u != LEADER]
        if not known:
            await self._self_score()
            return
        unit = self.rng.choice(known)
        expected = self.versions[unit] - 1
        code = self._code()
        command: c.Command
        if layer is Layer.SELF:
            sender = self._as(Role.MEMBER_OFFICER, unit, expected=expected)
            command = self._self_score_of(unit, code)
        else:
            sender = self._secretariat("Thẩm định lại", expected=expected)
            command = c.VerifyScore(YEAR, unit, code, self._points(code), "Sửa điểm")
        try:
            await self.service.handle(sender, command)
        except ConcurrencyConflict:
            self.count["conflicts"] += 1
        else:
            raise AssertionError(f"a stale version of {unit}'s scorecard was accepted")
        await self._checkpoint()

    async def _optimistic(self) -> None:
        """A self score naming the scorecard's current version: it lands."""
        known = [u for u in self.members if self.versions.get(u, 0) > 0]
        if not known:
            await self._self_score()
            return
        unit = self.rng.choice(known)
        code = self._code()
        officer = self._as(Role.MEMBER_OFFICER, unit, expected=self.versions[unit])
        await self._ok(officer, self._self_score_of(unit, code), (unit, Layer.SELF, code))
        self.count["optimistic"] += 1

    async def _refusal(self, self_scores_open: bool) -> None:
        """One deliberate refusal, of a kind the day allows."""
        kinds: list[Callable[[], Awaitable[None]]] = [
            self._over_maximum,
            self._other_unit,
            self._not_assigned,
            self._own_unit,
        ]
        if any(not self._complete(u) for u in self.members):
            kinds.append(self._incomplete)
        kinds += [self._no_evidence, self._off_step] if self_scores_open else [self._too_late]
        await self.rng.choice(kinds)()

    async def _over_maximum(self) -> None:
        code = self.rng.choice(BASE)
        maximum = CRITERIA[code].max_points
        assert maximum is not None
        points = maximum + Decimal(self.rng.randint(1, 20)) / 4
        command: c.Command
        if self.day <= SELF_SCORES_UNTIL:
            unit = self.rng.choice(self.members)
            sender = self._as(Role.MEMBER_OFFICER, unit)
            command = self._self_score_of(unit, code, points)
        else:
            sender, unit = self._verifier()
            command = c.VerifyScore(YEAR, unit, code, points, "Vượt mức")
        await self._refused(sender, command, "SCORE_OUT_OF_RANGE")

    async def _other_unit(self) -> None:
        unit, other = self.rng.sample(self.members, 2)
        officer = self._as(Role.MEMBER_OFFICER, unit)
        await self._refused(officer, self._self_score_of(other, self._code()), "FORBIDDEN")

    async def _not_assigned(self) -> None:
        inspector = self.rng.choice(self.members)
        assigned = self.inspects.get(inspector, [])
        others = [u for u in self.members if u != inspector and u not in assigned]
        if not others:
            await self._own_unit()
            return
        unit = self.rng.choice(others)
        sender = self._as(Role.CROSS_INSPECTOR, inspector, "Kiểm tra chéo")
        code = self._code()
        check = c.VerifyScore(YEAR, unit, code, self._points(code), "Kiểm tra ngoài phân công")
        await self._refused(sender, check, "NOT_ASSIGNED_INSPECTOR")

    async def _own_unit(self) -> None:
        inspector = self.rng.choice(self.members)
        role = Role.SECRETARIAT if inspector == LEADER else Role.CROSS_INSPECTOR
        sender = self._as(role, inspector, "Tự kiểm tra")
        code = self._code()
        check = c.VerifyScore(YEAR, inspector, code, self._points(code), "Tự xác nhận")
        await self._refused(sender, check, "OWN_UNIT_INSPECTION")

    async def _incomplete(self) -> None:
        unit = self.rng.choice([u for u in self.members if not self._complete(u)])
        head = self._as(Role.MEMBER_HEAD, unit)
        await self._refused(head, c.SubmitSelfAssessment(YEAR, unit), "SELF_ASSESSMENT_INCOMPLETE")

    async def _no_evidence(self) -> None:
        unit = self.rng.choice(self.members)
        officer = self._as(Role.MEMBER_OFFICER, unit)
        # No evidence at all: a blank item would not even make a command (no document's name).
        unproven = self._self_score_of(unit, self._code(), evidence=())
        await self._refused(officer, unproven, "EVIDENCE_REQUIRED")

    async def _off_step(self) -> None:
        unit = self.rng.choice(self.members)
        officer = self._as(Role.MEMBER_OFFICER, unit)
        off_step = self._self_score_of(unit, self.rng.choice(BASE), Decimal("1.1"))
        await self._refused(officer, off_step, "SCORE_STEP")

    async def _too_late(self) -> None:
        unit = self.rng.choice(self.members)
        officer = self._as(Role.MEMBER_OFFICER, unit)
        late = self._self_score_of(unit, self._code())
        await self._refused(officer, late, "SELF_SCORE_DEADLINE_PASSED")

    # Running commands and following the log.

    async def _ok(
        self, sender: Envelope, command: c.Command, score: tuple[str, Layer, str] | None = None
    ) -> Recorded:
        recorded = await self.service.handle(sender, command)
        self._landed(recorded)
        if score is not None:
            self._scored(*score)
        await self._checkpoint()
        return recorded

    async def _refused(self, sender: Envelope, command: c.Command, code: str) -> None:
        try:
            await self.service.handle(sender, command)
        except DomainError as refusal:
            if refusal.code != code:
                raise AssertionError(f"expected {code}, refused with {refusal.code}") from refusal
            self.count["refusals"] += 1
            self.count[f"refused:{code}"] += 1
            self.head += 1  # the service recorded the attempt
        else:
            raise AssertionError(f"a command meant to be refused ({code}) landed")
        await self._checkpoint()

    def _landed(self, recorded: Recorded) -> None:
        self.count["commands"] += 1
        self.head = max(self.head, recorded.positions[-1])
        if recorded.stream_id.startswith("scorecard/"):
            unit = recorded.stream_id.rsplit("/", 1)[1]
            self.versions[unit] = max(self.versions.get(unit, 0), recorded.version)

    def _scored(self, unit: str, layer: Layer, code: str) -> None:
        key = (unit, layer, code)
        if key in self.scored:
            self.count["corrections"] += 1
        self.scored.add(key)
        self.count[f"score_{layer.value}"] += 1
        if layer is Layer.SELF:
            self.self_codes.setdefault(unit, set()).add(code)
            self.submitted.discard(unit)  # a changed self-assessment must be submitted again
        elif layer is Layer.VERIFIED and (unit, code) not in self.findings:
            self.findings.append((unit, code))

    async def _checkpoint(self) -> None:
        """Between commands: capture at every mark the log has passed."""
        while self.captured < len(self.marks) and self.head >= self.marks[self.captured]:
            self.captured += 1
            await self.capture()

    async def _reached(self, target: int) -> bool:
        if self.head < target:
            return False
        self.head = (await self.store.head(self.tenant))[0]  # confirm with the log itself
        return self.head >= target

    # The calendar.

    def _on(self, day: date) -> None:
        """Move to this day; within one day, a minute per command until the office closes."""
        if day > self.day:
            self.day = day
            self.clock.on(day)
        else:
            closing = datetime.combine(self.day, time(17), HANOI)
            self.clock.now = min(self.clock.now + timedelta(minutes=1), closing)

    async def _advance(self, day: date) -> None:
        while self.milestones and self.milestones[0][0] <= day:
            when, step = self.milestones.pop(0)
            self._on(when)
            await step()
        self._on(day)

    # Who acts, on what, with which points.

    def _as(
        self,
        role: Role,
        unit: str,
        reason: str | None = None,
        expected: int | None = None,
    ) -> Envelope:
        caller = Actor(f"{PEOPLE[role]} {unit}", role, unit).caller()
        return Envelope(self.tenant, caller, reason, expected_version=expected)

    def _secretariat(self, reason: str | None = None, expected: int | None = None) -> Envelope:
        return self._as(Role.SECRETARIAT, LEADER, reason, expected)

    def _city(self, reason: str) -> Envelope:
        return Envelope(self.tenant, CITY.caller(), reason)

    def _verifier(self) -> tuple[Envelope, str]:
        """An assigned inspector and a unit it checks, else the secretariat and another unit."""
        pairs = [
            (inspector, unit)
            for inspector, units in sorted(self.inspects.items())
            if inspector in self.members
            for unit in units
            if unit in self.members
        ]
        if pairs and self.rng.random() < 0.6:
            inspector, unit = self.rng.choice(pairs)
            return self._as(Role.CROSS_INSPECTOR, inspector, "Kiểm tra chéo năm 2025"), unit
        unit = self.rng.choice([u for u in self.members if u != LEADER])
        return self._secretariat("Thẩm định của cơ quan thường trực"), unit

    async def _assign(self, inspection: str, inspector: str, units: list[str]) -> None:
        assigned = c.AssignInspection(YEAR, inspection, inspector, tuple(units))
        await self._ok(self._secretariat(), assigned)
        self.inspects.setdefault(inspector, []).extend(units)

    def _self_score_of(
        self,
        unit: str,
        code: str,
        points: Decimal | None = None,
        evidence: tuple[str, ...] | None = None,
    ) -> c.SelfScore:
        if points is None:
            points = self._points(code)
        if evidence is None:
            evidence = (f"Báo cáo số {self.rng.randint(10, 99)}/BC-{unit.upper()}",)
        explanation = self.rng.choice(EXPLANATIONS)
        return c.SelfScore(YEAR, unit, code, points, explanation, evidence)

    def _code(self) -> str:
        return self.rng.choice(BASE) if self.rng.random() < 0.85 else self.rng.choice(EXTRA)

    def _points(self, code: str) -> Decimal:
        """Valid points on the 0.25 step; deductions are a few whole points, usually none."""
        maximum = CRITERIA[code].max_points
        if maximum is None:
            return Decimal(self.rng.choice([0, 0, 0, 1, 1, 2]))
        quarters = int(maximum * 4)
        return Decimal(self.rng.randint(quarters * 3 // 5, quarters)) / 4

    def _complete(self, unit: str) -> bool:
        return set(BASE) <= self.self_codes.get(unit, set())
