"""Mutations: one per command of the domain. Each takes an idempotency key (a retried
request records nothing twice), an expected version where it changes an aggregate, and a
reason; it returns where its events landed and the year as it now stands, or a refusal
as an error with a stable `extensions.code` (recorded in the cluster's log)."""

from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any

import strawberry
from strawberry.scalars import JSON

from thidua.api import types
from thidua.api.access import allowed, context, tenant_of
from thidua.api.context import Context
from thidua.api.errors import BadInput
from thidua.api.queries import Year, _year
from thidua.domain.criteria import CriteriaSet, Criterion, Kind
from thidua.domain.errors import NotFound
from thidua.domain.membership import Membership
from thidua.domain.pledge import TopicKind
from thidua.domain.proposals import Award
from thidua.domain.rights import Action
from thidua.domain.rules import YearRules
from thidua.service.command import Command, Recorded
from thidua.service.emulation import CITY_TENANT, Emulation, ScoreGiven

MAX_SCORES = 200  # entries in one scoring form: a request stays bounded


@strawberry.type(description="Nơi các sự kiện của lệnh được ghi, và năm thi đua sau lệnh")
class CommandResult:
    cluster: strawberry.Private[str]
    year_number: strawberry.Private[int | None]
    stream_id: str
    version: int = strawberry.field(description="Phiên bản mới: expectedVersion của lần sau")
    positions: list[int]

    @strawberry.field
    async def year(self, info: strawberry.Info) -> Year | None:
        if self.year_number is None:
            return None
        ctx = context(info)
        ctx.loaders.pop("year", None)  # the year as it stands after this command
        try:
            found = await _year(ctx, self.cluster, self.year_number)
        except NotFound:
            return None
        return Year(tenant=self.cluster, aggregate=found, today=ctx.services.emulation.today())


@strawberry.input
class MemberInput:
    unit: str
    name: str
    joined_on: date


@strawberry.input
class CriterionInput:
    code: str
    title: str
    part: str
    max_points: Decimal | None = None
    kind: str = "base"
    parent: str | None = None


@strawberry.input(description="Một phiên bản bộ tiêu chí")
class CriteriaSetInput:
    version: str
    effective_from: date
    bonus_cap: Decimal
    criteria: list[CriterionInput]

    def to_domain(self) -> CriteriaSet:
        try:
            kinds = [Kind(c.kind) for c in self.criteria]
        except ValueError as exc:
            raise BadInput("Loại tiêu chí phải là base, bonus hoặc deduction.") from exc
        return CriteriaSet(
            version=self.version,
            effective_from=self.effective_from,
            bonus_cap=self.bonus_cap,
            criteria=tuple(
                Criterion(c.code, c.title, c.part, c.max_points, kind, c.parent)
                for c, kind in zip(self.criteria, kinds, strict=True)
            ),
        )


@strawberry.input(description="Điểm tự chấm một tiêu chí trong bản tự chấm điểm")
class ScoreInput:
    criterion: str
    points: Decimal
    explanation: str
    evidence: list[str]


def _scores(given: list[ScoreInput]) -> list[ScoreGiven]:
    if len(given) > MAX_SCORES:
        raise BadInput(f"Một bản tự chấm điểm có tối đa {MAX_SCORES} tiêu chí.")
    return [ScoreGiven(s.criterion, s.points, s.explanation, list(s.evidence)) for s in given]


def _rules(given: JSON | None) -> YearRules | None:
    if given is None:
        return None
    try:
        return YearRules.from_json(dict(given))  # type: ignore[call-overload]
    except (TypeError, ValueError, KeyError, ZeroDivisionError) as exc:
        raise BadInput("Quy định của năm (rules) không hợp lệ.") from exc


async def _run(
    info: strawberry.Info,
    action: Action,
    call: Callable[[Emulation, Command], Awaitable[Recorded]],
    *,
    year: int | None,
    unit: str | None = None,
    idempotency_key: str | None = None,
    expected_version: int | None = None,
    reason: str | None = None,
    tenant: str | None = None,
) -> CommandResult:
    ctx: Context = context(info)
    cluster = tenant or tenant_of(ctx)
    actor = await allowed(ctx, cluster, action, None, unit, what="command")
    command = Command(
        cluster,
        actor,
        reason=reason,
        idempotency_key=idempotency_key,
        expected_version=expected_version,
        request_id=ctx.request_id,
    )
    done = await call(ctx.services.emulation, command)
    return CommandResult(
        cluster=cluster,
        year_number=year,
        stream_id=done.stream_id,
        version=done.version,
        positions=list(done.positions),
    )


Common = dict[str, Any]


def _common(
    idempotency_key: str | None, expected_version: int | None, reason: str | None
) -> Common:
    return {
        "idempotency_key": idempotency_key,
        "expected_version": expected_version,
        "reason": reason,
    }


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Lập cụm thi đua mới (Ban Thi đua - Khen thưởng TP)")
    async def register_cluster(self, info: strawberry.Info, code: str, name: str) -> str:
        ctx = context(info)
        actor = await allowed(ctx, code, Action.REGISTER_CLUSTER, None, what="command")
        await ctx.services.emulation.register_cluster(actor, code, name)
        return code

    @strawberry.mutation(description="Ban hành một phiên bản bộ tiêu chí mẫu của thành phố")
    async def publish_template(
        self,
        info: strawberry.Info,
        name: str,
        criteria: CriteriaSetInput,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> CommandResult:
        found = criteria.to_domain()
        return await _run(
            info,
            Action.PUBLISH_CRITERIA,
            lambda s, c: s.publish_template(c, name, found),
            year=None,
            tenant=CITY_TENANT,
            **_common(idempotency_key, expected_version, reason),
        )

    @strawberry.mutation
    async def open_year(
        self,
        info: strawberry.Info,
        year: int,
        members: list[MemberInput],
        leader: str,
        deputies: list[str],
        rules: JSON | None = None,
        idempotency_key: str | None = None,
        reason: str | None = None,
    ) -> CommandResult:
        found = [Membership(m.unit, m.name, m.joined_on) for m in members]
        given = _rules(rules)
        return await _run(
            info,
            Action.OPEN_YEAR,
            lambda s, c: s.open_year(c, year, found, leader, deputies, given),
            year=year,
            **_common(idempotency_key, None, reason),
        )

    @strawberry.mutation
    async def join_member(
        self,
        info: strawberry.Info,
        year: int,
        unit: str,
        name: str,
        on: date,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> CommandResult:
        return await _run(
            info,
            Action.MANAGE_YEAR,
            lambda s, c: s.join_member(c, year, unit, name, on),
            year=year,
            **_common(idempotency_key, expected_version, reason),
        )

    @strawberry.mutation
    async def leave_member(
        self,
        info: strawberry.Info,
        year: int,
        unit: str,
        on: date,
        merged_into: str | None = None,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> CommandResult:
        return await _run(
            info,
            Action.MANAGE_YEAR,
            lambda s, c: s.leave_member(c, year, unit, on, merged_into),
            year=year,
            **_common(idempotency_key, expected_version, reason),
        )

    @strawberry.mutation
    async def rotate_leadership(
        self,
        info: strawberry.Info,
        year: int,
        leader: str,
        deputies: list[str],
        on: date,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> CommandResult:
        return await _run(
            info,
            Action.ROTATE_LEADERSHIP,
            lambda s, c: s.rotate_leadership(c, year, leader, deputies, on),
            year=year,
            **_common(idempotency_key, expected_version, reason),
        )

    @strawberry.mutation
    async def set_rules(
        self,
        info: strawberry.Info,
        year: int,
        rules: JSON,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> CommandResult:
        given = _rules(rules) or YearRules()
        return await _run(
            info,
            Action.MANAGE_YEAR,
            lambda s, c: s.set_rules(c, year, given),
            year=year,
            **_common(idempotency_key, expected_version, reason),
        )

    @strawberry.mutation
    async def adopt_criteria(
        self,
        info: strawberry.Info,
        year: int,
        template_name: str,
        template_version: str,
        criteria: CriteriaSetInput,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> CommandResult:
        found = criteria.to_domain()
        return await _run(
            info,
            Action.MANAGE_YEAR,
            lambda s, c: s.adopt_criteria(c, year, template_name, template_version, found),
            year=year,
            **_common(idempotency_key, expected_version, reason),
        )

    @strawberry.mutation
    async def assign_inspection(
        self,
        info: strawberry.Info,
        year: int,
        inspection_id: str,
        inspector: str,
        units: list[str],
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> CommandResult:
        return await _run(
            info,
            Action.MANAGE_YEAR,
            lambda s, c: s.assign_inspection(c, year, inspection_id, inspector, units),
            year=year,
            **_common(idempotency_key, expected_version, reason),
        )

    @strawberry.mutation
    async def draft_pledge(
        self,
        info: strawberry.Info,
        year: int,
        commitments: list[str],
        targets: list[str],
        idempotency_key: str | None = None,
        reason: str | None = None,
    ) -> CommandResult:
        return await _run(
            info,
            Action.MANAGE_YEAR,
            lambda s, c: s.draft_pledge(c, year, commitments, targets),
            year=year,
            **_common(idempotency_key, None, reason),
        )

    @strawberry.mutation
    async def sign_pledge(
        self,
        info: strawberry.Info,
        year: int,
        unit: str,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> CommandResult:
        return await _run(
            info,
            Action.SIGN_PLEDGE,
            lambda s, c: s.sign_pledge(c, year, unit),
            year=year,
            unit=unit,
            **_common(idempotency_key, expected_version, reason),
        )

    @strawberry.mutation
    async def register_topic(
        self,
        info: strawberry.Info,
        year: int,
        unit: str,
        topic_id: str,
        kind: str,
        title: str,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> CommandResult:
        try:
            found = TopicKind(kind)
        except ValueError as exc:
            raise BadInput("Loại đăng ký phải là topic (chuyên đề) hoặc new_model.") from exc
        return await _run(
            info,
            Action.REGISTER_TOPIC,
            lambda s, c: s.register_topic(c, year, unit, topic_id, found, title),
            year=year,
            unit=unit,
            **_common(idempotency_key, expected_version, reason),
        )

    @strawberry.mutation
    async def mark_topic(
        self,
        info: strawberry.Info,
        year: int,
        topic_id: str,
        carried_out: bool,
        note: str,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> CommandResult:
        return await _run(
            info,
            Action.MANAGE_YEAR,
            lambda s, c: s.mark_topic(c, year, topic_id, carried_out, note),
            year=year,
            **_common(idempotency_key, expected_version, reason),
        )

    @strawberry.mutation(description="Tự chấm điểm một tiêu chí của đơn vị mình")
    async def self_score(
        self,
        info: strawberry.Info,
        year: int,
        unit: str,
        criterion: str,
        points: Decimal,
        explanation: str,
        evidence: list[str],
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> CommandResult:
        return await _run(
            info,
            Action.SELF_SCORE,
            lambda s, c: s.self_score(c, year, unit, criterion, points, explanation, evidence),
            year=year,
            unit=unit,
            **_common(idempotency_key, expected_version, reason),
        )

    @strawberry.mutation(
        description="Tự chấm điểm nhiều tiêu chí trong một lệnh: ghi tất cả hoặc không ghi gì"
    )
    async def self_score_many(
        self,
        info: strawberry.Info,
        year: int,
        unit: str,
        scores: list[ScoreInput],
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> CommandResult:
        found = _scores(scores)
        return await _run(
            info,
            Action.SELF_SCORE,
            lambda s, c: s.self_score_many(c, year, unit, found),
            year=year,
            unit=unit,
            **_common(idempotency_key, expected_version, reason),
        )

    @strawberry.mutation(description="Thẩm định điểm (kiểm tra chéo hoặc cơ quan thường trực)")
    async def verify_score(
        self,
        info: strawberry.Info,
        year: int,
        unit: str,
        criterion: str,
        points: Decimal,
        explanation: str,
        evidence: list[str] | None = None,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> CommandResult:
        return await _run(
            info,
            Action.VERIFY_SCORE,
            lambda s, c: s.verify_score(c, year, unit, criterion, points, explanation, evidence),
            year=year,
            unit=unit,
            **_common(idempotency_key, expected_version, reason),
        )

    @strawberry.mutation(description="Điều chỉnh điểm của thành phố")
    async def city_adjust(
        self,
        info: strawberry.Info,
        year: int,
        unit: str,
        criterion: str,
        points: Decimal,
        explanation: str,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> CommandResult:
        return await _run(
            info,
            Action.CITY_ADJUST,
            lambda s, c: s.city_adjust(c, year, unit, criterion, points, explanation),
            year=year,
            unit=unit,
            **_common(idempotency_key, expected_version, reason),
        )

    @strawberry.mutation
    async def answer_finding(
        self,
        info: strawberry.Info,
        year: int,
        unit: str,
        criterion: str,
        text: str,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> CommandResult:
        return await _run(
            info,
            Action.ANSWER_FINDING,
            lambda s, c: s.answer_finding(c, year, unit, criterion, text),
            year=year,
            unit=unit,
            **_common(idempotency_key, expected_version, reason),
        )

    @strawberry.mutation
    async def submit_self_assessment(
        self,
        info: strawberry.Info,
        year: int,
        unit: str,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> CommandResult:
        return await _run(
            info,
            Action.SUBMIT_SELF_ASSESSMENT,
            lambda s, c: s.submit_self_assessment(c, year, unit),
            year=year,
            unit=unit,
            **_common(idempotency_key, expected_version, reason),
        )

    @strawberry.mutation
    async def convene_meeting(
        self,
        info: strawberry.Info,
        year: int,
        meeting_id: str,
        title: str,
        held_on: date,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> CommandResult:
        return await _run(
            info,
            Action.MANAGE_YEAR,
            lambda s, c: s.convene_meeting(c, year, meeting_id, title, held_on),
            year=year,
            **_common(idempotency_key, expected_version, reason),
        )

    @strawberry.mutation
    async def record_attendance(
        self,
        info: strawberry.Info,
        year: int,
        meeting_id: str,
        present: list[str],
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> CommandResult:
        return await _run(
            info,
            Action.MANAGE_YEAR,
            lambda s, c: s.record_attendance(c, year, meeting_id, present),
            year=year,
            **_common(idempotency_key, expected_version, reason),
        )

    @strawberry.mutation
    async def open_ballot(
        self,
        info: strawberry.Info,
        year: int,
        meeting_id: str,
        candidate: str,
        question: str,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> CommandResult:
        return await _run(
            info,
            Action.MANAGE_YEAR,
            lambda s, c: s.open_ballot(c, year, meeting_id, candidate, question),
            year=year,
            **_common(idempotency_key, expected_version, reason),
        )

    @strawberry.mutation(description="Ghi kết quả kiểm phiếu kín (chỉ số phiếu)")
    async def record_tally(
        self,
        info: strawberry.Info,
        year: int,
        meeting_id: str,
        yes: int,
        no: int,
        blank: int,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> CommandResult:
        return await _run(
            info,
            Action.MANAGE_YEAR,
            lambda s, c: s.record_tally(c, year, meeting_id, yes, no, blank),
            year=year,
            **_common(idempotency_key, expected_version, reason),
        )

    @strawberry.mutation
    async def record_mid_year_review(
        self,
        info: strawberry.Info,
        year: int,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> CommandResult:
        return await _run(
            info,
            Action.MANAGE_YEAR,
            lambda s, c: s.record_mid_year_review(c, year),
            year=year,
            **_common(idempotency_key, expected_version, reason),
        )

    @strawberry.mutation(description="Chốt kết quả năm")
    async def finalise(
        self,
        info: strawberry.Info,
        year: int,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> CommandResult:
        return await _run(
            info,
            Action.FINALISE,
            lambda s, c: s.finalise(c, year),
            year=year,
            **_common(idempotency_key, expected_version, reason),
        )

    @strawberry.mutation(description="Mở lại kết quả đã chốt (thành phố), kèm lý do")
    async def reopen(
        self,
        info: strawberry.Info,
        year: int,
        reason: str,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> CommandResult:
        return await _run(
            info,
            Action.REOPEN,
            lambda s, c: s.reopen(c, year),
            year=year,
            **_common(idempotency_key, expected_version, reason),
        )

    @strawberry.mutation(description="Đề nghị khen thưởng: cờ thi đua hoặc bằng khen")
    async def propose(
        self,
        info: strawberry.Info,
        year: int,
        proposal_id: str,
        award: types.Award,
        units: list[str],
        documents: list[str],
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        reason: str | None = None,
    ) -> CommandResult:
        found = Award(award.value)
        return await _run(
            info,
            Action.MANAGE_YEAR,
            lambda s, c: s.propose(c, year, proposal_id, found, units, documents),
            year=year,
            **_common(idempotency_key, expected_version, reason),
        )
