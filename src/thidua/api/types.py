"""The GraphQL output types, built from the domain's aggregates and the read models.

Points are exact decimals written with two places ("92.50"), never floats.
"""

import re
from dataclasses import replace
from datetime import date, datetime
from decimal import ROUND_DOWN, ROUND_UP, Decimal, DecimalException, InvalidOperation
from fractions import Fraction
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.schema.types.base_scalars import DecimalDefinition, wrap_parser

from thidua.domain.cluster_year import ClusterYear
from thidua.domain.criteria import CriteriaSet
from thidua.domain.membership import Membership
from thidua.domain.notes import Note as DomainNote
from thidua.domain.notes import NoteKind as DomainNoteKind
from thidua.domain.pledge import Pledge
from thidua.domain.proposals import Award as DomainAward
from thidua.domain.proposals import Proposal as DomainProposal
from thidua.domain.proposals import Sending as DomainSending
from thidua.domain.proposals import Verdict
from thidua.domain.ranking import Place as DomainPlace
from thidua.domain.ranking import Ranking as DomainRanking
from thidua.domain.ranking import UnitTotals as DomainUnitTotals
from thidua.domain.results import LayerResult as DomainLayerResult
from thidua.domain.results import ResultDiff as DomainResultDiff
from thidua.domain.results import YearResult as DomainYearResult
from thidua.domain.scorecard import Finding as DomainFinding
from thidua.domain.scorecard import Layer as DomainLayer
from thidua.domain.scorecard import Outcome
from thidua.domain.standings import Standing as StandingRow
from thidua.projections.reads import ScorecardAt

CENTS = Decimal("0.01")


# Written with ASCII digits: Decimal() alone would read "１２" or "٣" as numbers nobody typed.
ASCII_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")


def _finite(text: str) -> Decimal:
    if not ASCII_DECIMAL.fullmatch(text):
        raise InvalidOperation(text)
    found = Decimal(text)
    if not found.is_finite():
        raise InvalidOperation(text)
    return found


# Points are finite: NaN or Infinity would only fail later, deep in a comparison.
FINITE_DECIMAL = replace(
    DecimalDefinition,
    description="Decimal (fixed-point, finite)",
    parse_value=wrap_parser(
        _finite,
        "Decimal",
        exceptions=(DecimalException,),
        include_error=False,
        accept_non_string=True,
    ),
)


def _points(value: Decimal) -> str:
    return str(value.quantize(CENTS))


def points(value: Decimal | str | None) -> str | None:
    return None if value is None else _points(Decimal(value))


# The domain's own enum, registered as the GraphQL enum Layer.
Layer = DomainLayer
strawberry.enum(Layer, name="Layer", description="Lớp điểm: tự chấm, thẩm định, thành phố")


Award = DomainAward
strawberry.enum(Award, name="Award", description="Danh hiệu đề nghị")

strawberry.enum(
    Verdict,
    name="ProposalOutcome",
    description="Quyết định của thành phố: khen thưởng, cắt giảm, không khen thưởng",
)
strawberry.enum(
    Outcome,
    name="ExplanationOutcome",
    description="Giải trình: đang chờ, được chấp nhận, không được chấp nhận",
)


@strawberry.type(description="Một đơn vị thành viên và thời gian tham gia cụm")
class Member:
    unit: str
    name: str
    joined_on: date
    left_on: date | None
    merged_into: str | None

    @classmethod
    def of(cls, m: Membership) -> "Member":
        return cls(
            unit=m.unit,
            name=m.name,
            joined_on=m.joined_on,
            left_on=m.left_on,
            merged_into=m.merged_into,
        )


@strawberry.type
class Criterion:
    code: str
    title: str
    part: str
    max_points: str | None
    kind: str
    parent: str | None


@strawberry.type(description="Một phiên bản bộ tiêu chí cụm đã thông qua, với các sửa đổi")
class CriteriaVersion:
    version: str
    effective_from: date
    template_name: str
    template_version: str
    amended_codes: list[str]
    bonus_cap: str
    criteria: list[Criterion]

    @classmethod
    def of(cls, adopted: dict[str, Any]) -> "CriteriaVersion":
        found = CriteriaSet.from_json(adopted["criteria"])
        return cls(
            version=found.version,
            effective_from=found.effective_from,
            template_name=adopted["template_name"],
            template_version=adopted["template_version"],
            amended_codes=list(adopted["amended"]),
            bonus_cap=points(found.bonus_cap) or "0.00",
            criteria=[
                Criterion(
                    code=c.code,
                    title=c.title,
                    part=c.part,
                    max_points=points(c.max_points),
                    kind=c.kind.value,
                    parent=c.parent,
                )
                for c in found.criteria
            ],
        )


@strawberry.type
class Inspection:
    inspection_id: str
    inspector: str
    units: list[str]


@strawberry.type(description="Một vòng bỏ phiếu kín: chỉ có kết quả kiểm phiếu")
class BallotTally:
    number: int
    candidate: str
    question: str
    open: bool
    yes: int | None
    no: int
    blank: int
    base: int
    passed: bool | None


@strawberry.type
class Meeting:
    meeting_id: str
    title: str
    held_on: date
    members: list[str]
    present: list[str]
    quorum: bool
    ballots: list[BallotTally]


@strawberry.type(description="Quyết định của thành phố về một đề nghị khen thưởng")
class ProposalDecision:
    outcome: Verdict
    units_kept: list[str] = strawberry.field(
        description="Đơn vị được khen thưởng: tất cả khi chấp thuận, không ai khi không chấp thuận"
    )
    reason: str | None
    decided_on: date


@strawberry.type(description="Quyết định phải thu hồi vì kết quả nó dựa vào đã được mở lại")
class Revocation:
    reason: str = strawberry.field(description="Lý do mở lại kết quả")
    result_version: int = strawberry.field(description="Phiên bản kết quả đã bị thay thế")


@strawberry.type
class Proposal:
    proposal_id: str
    award: Award
    units: list[str]
    result_version: int
    documents: list[str]
    superseded: bool
    sent_on: date | None = strawberry.field(description="Ngày gửi thành phố, nếu đã gửi")
    decision: ProposalDecision | None
    revocation: Revocation | None

    @classmethod
    def of(cls, p: DomainProposal) -> "Proposal":
        decision, revocation = p.decision, p.revocation
        return cls(
            proposal_id=p.proposal_id,
            award=p.award,
            units=list(p.units),
            result_version=p.result_version,
            documents=list(p.documents),
            superseded=p.superseded,
            sent_on=p.sent_on,
            decision=None
            if decision is None
            else ProposalDecision(
                outcome=decision.verdict,
                units_kept=list(decision.units_kept),
                reason=decision.reason,
                decided_on=decision.on,
            ),
            revocation=None
            if revocation is None
            else Revocation(reason=revocation.reason, result_version=revocation.result_version),
        )


@strawberry.type(description="Kết quả đã chốt gửi thành phố, cùng hồ sơ và các đề nghị")
class Sending:
    result_version: int
    proposals: list[str]
    proposal_letter: str
    minutes: str
    achievement_report: str
    sent_on: date
    deadline: date
    late: bool
    reason: str | None = strawberry.field(description="Lý do gửi muộn")

    @classmethod
    def of(cls, s: DomainSending) -> "Sending":
        return cls(
            result_version=s.result_version,
            proposals=list(s.proposals),
            proposal_letter=s.dossier.proposal_letter,
            minutes=s.dossier.minutes,
            achievement_report=s.dossier.achievement_report,
            sent_on=s.on,
            deadline=s.deadline,
            late=s.late,
            reason=s.reason,
        )


@strawberry.type
class Signature:
    unit: str
    person: str
    signed_at: datetime


@strawberry.type
class Topic:
    topic_id: str
    unit: str
    kind: str
    title: str
    registered_at: datetime
    carried_out: bool | None
    note: str | None


@strawberry.type(description="Giao ước thi đua của năm, chữ ký và đề tài, mô hình mới")
class PledgeView:
    year: int
    version: int
    commitments: list[str]
    targets: list[str]
    signatures: list[Signature]
    topics: list[Topic]

    @classmethod
    def of(cls, pledge: Pledge) -> "PledgeView":
        return cls(
            year=pledge.year,
            version=pledge.version,
            commitments=list(pledge.commitments),
            targets=list(pledge.targets),
            signatures=[
                Signature(unit=u, person=s["person"], signed_at=s["at"])
                for u, s in sorted(pledge.signatures.items())
            ],
            topics=[
                Topic(
                    topic_id=tid,
                    unit=t["unit"],
                    kind=t["kind"],
                    title=t["title"],
                    registered_at=t["registered_at"],
                    carried_out=t["carried_out"],
                    note=t["note"],
                )
                for tid, t in sorted(pledge.topics.items())
            ],
        )


@strawberry.type
class ScoreEntry:
    layer: Layer
    criterion: str
    points: str
    explanation: str
    evidence: list[str]
    criteria_version: str
    scored_at: datetime
    position: int = strawberry.field(description="Vị trí trong nhật ký nơi điểm này được ghi")


@strawberry.type(description="Giải trình của đơn vị về một kết quả kiểm tra, và quyết định")
class Explanation:
    text: str
    finding: str = strawberry.field(description="Kết quả kiểm tra mà đơn vị giải trình")
    finding_points: str
    outcome: Outcome
    reason: str | None = strawberry.field(description="Lý do chấp nhận hoặc không chấp nhận")
    points: str | None = strawberry.field(description="Điểm thẩm định khi chấp nhận")
    decided_at: datetime | None


@strawberry.type(description="Kết quả kiểm tra (điểm thẩm định) một tiêu chí và giải trình")
class Finding:
    criterion: str
    points: str
    explanation: str = strawberry.field(description="Nhận xét của lớp thẩm định")
    scored_at: datetime
    answer: Explanation | None = strawberry.field(description="Giải trình gần nhất của đơn vị")

    @classmethod
    def of(cls, f: DomainFinding) -> "Finding":
        d = f.dispute
        return cls(
            criterion=f.criterion,
            points=_points(f.points),
            explanation=f.explanation,
            scored_at=f.at,
            answer=None
            if d is None
            else Explanation(
                text=d.answer,
                finding=d.finding,
                finding_points=_points(d.finding_points),
                outcome=d.outcome,
                reason=d.reason,
                points=points(d.points),
                decided_at=d.decided_at,
            ),
        )


@strawberry.type(name="ScorecardEntries")  # served as queries.Scorecard, with its findings
class Scorecard:
    year: int
    unit: str
    submitted_at: datetime | None
    entries: list[ScoreEntry]

    @classmethod
    def of(cls, card: ScorecardAt) -> "Scorecard":
        return cls(
            year=card.year,
            unit=card.unit,
            submitted_at=card.submitted_at,
            entries=[
                ScoreEntry(
                    layer=Layer(e.layer),
                    criterion=e.code,
                    points=points(e.points) or "0.00",
                    explanation=e.explanation,
                    evidence=list(e.evidence),
                    criteria_version=e.criteria_version,
                    scored_at=e.scored_at,
                    position=e.position,
                )
                for e in card.entries
            ],
        )


NoteKind = DomainNoteKind
strawberry.enum(NoteKind, name="NoteKind", description="Loại ghi chú về thứ hạng của một đơn vị")


def _share(value: Fraction | None) -> str | None:
    return None if value is None else str(value)


def _percent(value: Fraction | None, rounding: str) -> str | None:
    if value is None:
        return None
    exact = Decimal(value.numerator * 100) / Decimal(value.denominator)
    return str(exact.quantize(CENTS, rounding=rounding))


@strawberry.type(
    description="Ghi chú về thứ hạng của một đơn vị: một câu, và các số liệu câu ấy nêu"
    " (chỉ những số liệu thuộc loại ghi chú; còn lại là null)"
)
class StandingNote:
    kind: NoteKind
    text: str
    on: date | None = strawberry.field(
        description="Ngày gia nhập, rời cụm, sáp nhập; hạn đăng ký chuyên đề, mô hình mới"
    )
    unit: str | None = strawberry.field(description="Đơn vị kia của việc sáp nhập")
    points: str | None = strawberry.field(description="Điểm A1 đạt được; khoản điểm trừ lớn nhất")
    maximum: str | None = strawberry.field(description="Điểm tối đa của A1")
    threshold: str | None = strawberry.field(
        description="Số điểm A1 tối thiểu đạt tỷ lệ quy định; mức điểm trừ của điều kiện tối thiểu"
    )
    share: str | None = strawberry.field(description="Tỷ lệ điểm A1 trên điểm tối đa, chính xác")
    percent: str | None = strawberry.field(description="Tỷ lệ ấy theo phần trăm, làm tròn xuống")
    threshold_share: str | None = strawberry.field(description="Tỷ lệ quy định, chính xác")
    threshold_percent: str | None = strawberry.field(
        description="Tỷ lệ quy định theo phần trăm, làm tròn lên"
    )
    registered: int | None = strawberry.field(
        description="Số chuyên đề, mô hình mới (hoặc mô hình mới) đã đăng ký"
    )
    carried_out: int | None = strawberry.field(description="Số mô hình mới đã triển khai thực hiện")

    @classmethod
    def of(cls, note: DomainNote) -> "StandingNote":
        return cls(
            kind=note.kind,
            text=note.text,
            on=note.on,
            unit=note.unit,
            points=points(note.points),
            maximum=points(note.maximum),
            threshold=points(note.threshold),
            share=_share(note.share),
            percent=_percent(note.share, ROUND_DOWN),
            threshold_share=_share(note.threshold_share),
            threshold_percent=_percent(note.threshold_share, ROUND_UP),
            registered=note.registered,
            carried_out=note.carried_out,
        )


@strawberry.type(name="StandingFigures")  # served as queries.Standing, with its scorecard
class Standing:
    year: int
    layer: Layer
    unit: str
    rank: int
    decided_by: str = strawberry.field(description="Quy tắc phân định thứ hạng đã áp dụng")
    first: bool
    may_be_first: bool
    floor: list[str] = strawberry.field(description="Lý do không được xếp thứ nhất")
    base: str
    bonus: str
    deductions: str
    total: str
    parts: JSON
    complete: bool
    submitted_at: datetime | None
    flagged: list[str]
    new_model: bool
    criteria_version: str
    on_day: date
    notes: list[StandingNote] = strawberry.field(
        description="Ghi chú: tham gia không đủ năm, chưa đăng ký chuyên đề hay mô hình mới,"
        " từng lý do của điều kiện tối thiểu với số liệu và ngưỡng"
    )

    @classmethod
    def of(cls, row: StandingRow) -> "Standing":
        return cls(
            year=row.year,
            layer=Layer(row.layer),
            unit=row.unit,
            rank=row.rank,
            decided_by=row.decided_by.value,
            first=row.first,
            may_be_first=row.may_be_first,
            floor=[reason.value for reason in row.floor],
            base=points(row.base) or "0.00",
            bonus=points(row.bonus) or "0.00",
            deductions=points(row.deductions) or "0.00",
            total=points(row.total) or "0.00",
            parts=JSON({k: points(v) for k, v in row.parts.items()}),
            complete=row.complete,
            submitted_at=row.submitted_at,
            flagged=list(row.flagged),
            new_model=row.new_model,
            criteria_version=row.criteria_version,
            on_day=row.on_day,
            notes=[StandingNote.of(note) for note in row.notes],
        )


@strawberry.type(description="Điểm của một phần (A, B, C…) trong bảng chấm")
class PartPoints:
    part: str
    points: str


@strawberry.type(description="Tổng điểm của một đơn vị trong một lớp điểm")
class UnitTotals:
    unit: str
    parts: list[PartPoints] = strawberry.field(
        description="Tổng từng phần; phần điểm thưởng trước khi áp mức trần"
    )
    base: str
    bonus: str = strawberry.field(description="Điểm thưởng được tính, sau mức trần")
    deductions: str
    total: str = strawberry.field(description="Điểm cơ bản + điểm thưởng - điểm trừ")
    part_a: str
    a1_points: str
    largest_deduction: str
    complete: bool
    submitted_at: datetime | None

    @classmethod
    def of(cls, totals: DomainUnitTotals) -> "UnitTotals":
        return cls(
            unit=totals.unit,
            parts=[PartPoints(part=p, points=_points(v)) for p, v in totals.parts.items()],
            base=_points(totals.base),
            bonus=_points(totals.bonus),
            deductions=_points(totals.deductions),
            total=_points(totals.total),
            part_a=_points(totals.part_a),
            a1_points=_points(totals.a1_points),
            largest_deduction=_points(totals.largest_deduction),
            complete=totals.complete,
            submitted_at=totals.submitted_at,
        )


@strawberry.type(description="Vị trí của một đơn vị trong bảng xếp hạng")
class Place:
    unit: str
    rank: int
    total: str
    decided_by: str = strawberry.field(description="Quy tắc phân định thứ hạng đã áp dụng")
    floor: list[str] = strawberry.field(description="Lý do không được xếp thứ nhất")
    may_be_first: bool

    @classmethod
    def of(cls, place: DomainPlace) -> "Place":
        return cls(
            unit=place.unit,
            rank=place.rank,
            total=_points(place.total),
            decided_by=place.decided_by.value,
            floor=[reason.value for reason in place.floor],
            may_be_first=place.may_be_first,
        )


@strawberry.type(description="Bảng xếp hạng của một lớp điểm, đơn vị dẫn đầu trước")
class Ranking:
    places: list[Place]
    first: str | None = strawberry.field(
        description="Đơn vị đứng thứ nhất; null khi đồng hạng ở đầu bảng hoặc không đơn vị nào"
        " đủ điều kiện"
    )

    @classmethod
    def of(cls, ranking: DomainRanking) -> "Ranking":
        return cls(places=[Place.of(p) for p in ranking.places], first=ranking.first)


@strawberry.type(description="Kết quả của một lớp điểm: tổng điểm từng đơn vị và xếp hạng")
class LayerResult:
    layer: Layer
    totals: list[UnitTotals]
    ranking: Ranking

    @classmethod
    def of(cls, layer: DomainLayer, found: DomainLayerResult) -> "LayerResult":
        return cls(
            layer=layer,
            totals=[UnitTotals.of(t) for t in found.totals],
            ranking=Ranking.of(found.ranking),
        )


@strawberry.type(description="Các tiêu chí một đơn vị phải chấm lại do bộ tiêu chí thay đổi")
class FlaggedCriteria:
    unit: str
    criteria: list[str]


@strawberry.type(description="Kết quả của năm thi đua tại một ngày, theo một phiên bản bộ tiêu chí")
class YearResult:
    on: date
    criteria_version: str
    layers: list[LayerResult] = strawberry.field(description="Mọi lớp điểm")
    flagged: list[FlaggedCriteria] = strawberry.field(
        description="Mọi đơn vị thành viên, với các tiêu chí phải chấm lại (có thể không có)"
    )

    @strawberry.field(description="Một lớp điểm (lớp xếp hạng là CITY)")
    def layer(self, layer: Layer) -> LayerResult:
        return next(found for found in self.layers if found.layer == layer)

    @staticmethod
    def fields_of(result: DomainYearResult) -> dict[str, Any]:
        return {
            "on": result.on,
            "criteria_version": result.criteria_version,
            "layers": [LayerResult.of(k, v) for k, v in result.layers.items()],
            "flagged": [
                FlaggedCriteria(unit=unit, criteria=list(codes))
                for unit, codes in result.flagged.items()
            ],
        }

    @classmethod
    def of(cls, result: DomainYearResult) -> "YearResult":
        return cls(**cls.fields_of(result))


@strawberry.type(description="Một phiên bản kết quả đã chốt")
class ResultVersion(YearResult):
    version: int

    @classmethod
    def of_version(cls, version: int, result: DomainYearResult) -> "ResultVersion":
        return cls(version=version, **cls.fields_of(result))


@strawberry.type(description="Một đơn vị có tổng điểm hoặc thứ hạng thay đổi giữa hai kết quả")
class UnitChange:
    unit: str
    total_before: str | None = strawberry.field(description="null: không có trong kết quả cũ")
    total_after: str | None = strawberry.field(description="null: không có trong kết quả mới")
    total_change: str | None = strawberry.field(description="Tổng điểm mới trừ tổng điểm cũ")
    rank_before: int | None
    rank_after: int | None
    rank_change: int | None = strawberry.field(
        description="Thứ hạng mới trừ thứ hạng cũ: số âm là tăng hạng"
    )


@strawberry.type(description="Thay đổi của một lớp điểm giữa hai phiên bản kết quả")
class LayerDiff:
    layer: Layer
    first_before: str | None
    first_after: str | None
    units: list[UnitChange]


@strawberry.type(description="Một lần mở lại kết quả đã chốt")
class Reopening:
    reason: str
    result_version: int = strawberry.field(description="Phiên bản kết quả bị thay thế")


def diff_fields(found: DomainResultDiff) -> dict[str, Any]:
    return {
        "from_version": found.from_version,
        "to_version": found.to_version,
        "reopenings": [
            Reopening(reason=r.reason, result_version=r.result_version) for r in found.reopenings
        ],
        "layers": [
            LayerDiff(
                layer=layer,
                first_before=d.first_before,
                first_after=d.first_after,
                units=[
                    UnitChange(
                        unit=c.unit,
                        total_before=points(c.total_before),
                        total_after=points(c.total_after),
                        total_change=points(c.total_change),
                        rank_before=c.rank_before,
                        rank_after=c.rank_after,
                        rank_change=c.rank_change,
                    )
                    for c in d.changes
                ],
            )
            for layer, d in found.layers.items()
        ],
    }


@strawberry.type(
    description="Một thay đổi: khi việc xảy ra (occurredAt) và khi được ghi (recordedAt)"
)
class AuditEntry:
    position: int
    stream_id: str
    event_type: str
    subject: str | None
    item: str | None
    year: int | None
    unit: str | None
    criteria: list[str]
    before: JSON | None
    after: JSON | None
    actor: str | None
    role: str | None
    reason: str | None
    recorded_at: datetime
    occurred_at: datetime | None
    correlation_id: str | None
    causation_id: str | None
    request_id: str | None
    command: str | None = strawberry.field(description="Lệnh, như API gọi tên (selfScore...)")
    acting_unit: str | None = strawberry.field(description="Đơn vị người thực hiện đại diện")

    @classmethod
    def of(cls, row: dict[str, Any]) -> "AuditEntry":
        return cls(**{f: row.get(f) for f in cls.__annotations__})  # type: ignore[arg-type]


def meetings(year: ClusterYear) -> list[Meeting]:
    return [
        Meeting(
            meeting_id=m.meeting_id,
            title=m.title,
            held_on=m.held_on,
            members=sorted(m.members),
            present=sorted(m.present),
            quorum=m.quorum(year.rules),
            ballots=[
                BallotTally(
                    number=r.number,
                    candidate=r.candidate,
                    question=r.question,
                    open=r.passed is None,
                    yes=r.yes,
                    no=r.no,
                    blank=r.blank,
                    base=r.base,
                    passed=r.passed,
                )
                for r in m.rounds
            ],
        )
        for m in year.meetings.values()
    ]


def proposals(year: ClusterYear) -> list[Proposal]:
    return [Proposal.of(p) for p in year.proposals.values()]
