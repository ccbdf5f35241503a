"""The commands of the emulation year: load, authorise, decide, append.

Every command runs through `_run`: a retried idempotency key returns the first result;
a refusal (rights, rule or state) changes nothing and is recorded in the cluster's log;
a concurrent change is retried on fresh state unless the caller named the version it
expects. Commands that decide on several aggregates append to one and guard the others,
so nothing they read can move before they land.
"""

import asyncio
import contextlib
import random
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from thidua.domain.cluster_year import ClusterYear
from thidua.domain.criteria import CriteriaSet, CriteriaTemplate
from thidua.domain.entity import Entity
from thidua.domain.errors import DomainError, Forbidden, InvalidState, NotFound, RuleViolation
from thidua.domain.membership import Membership
from thidua.domain.pledge import Pledge, TopicKind
from thidua.domain.proposals import Award, FlagFacts
from thidua.domain.refusal import RefusedAttempt
from thidua.domain.results import RANKING_LAYER, YearResult, year_result
from thidua.domain.rights import Action, Actor, Role, YearContext, authorise
from thidua.domain.rules import YearRules
from thidua.domain.scorecard import Layer, Scorecard
from thidua.service.command import Command, Recorded, local_day, utc_now
from thidua.service.repository import Repository, read_version
from thidua.store.errors import ConcurrencyConflict, TenantExists
from thidua.store.eventstore import EventStore

CITY_TENANT = "thanh-pho"  # the city board's own log: its criteria templates
CITY_NAME = "Ban Thi đua - Khen thưởng thành phố Hà Nội"
RETRIES = 12  # a conflict means another command landed first: decide again on its result

Decision = tuple[Entity, list[tuple[str, int]]]  # the changed aggregate, the streams it guards

_SCORING = {
    Layer.SELF: Action.SELF_SCORE,
    Layer.VERIFIED: Action.VERIFY_SCORE,
    Layer.CITY: Action.CITY_ADJUST,
}


@dataclass(frozen=True)
class ScoreGiven:
    """One criterion of a scoring form: its points, the explanation and the evidence."""

    criterion: str
    points: Decimal
    explanation: str
    evidence: list[str]


def check_form(scores: list[ScoreGiven]) -> None:
    """A form scores at least one criterion, and each criterion once."""
    if not scores:
        raise RuleViolation(
            "NO_SCORES", "Bản chấm điểm chưa có tiêu chí nào; hãy chấm ít nhất một tiêu chí."
        )
    repeated = [code for code, n in Counter(s.criterion for s in scores).items() if n > 1]
    if repeated:
        raise RuleViolation(
            "DUPLICATE_CRITERION",
            "Mỗi tiêu chí chỉ được chấm một lần trong một bản chấm điểm; tiêu chí bị lặp: "
            + ", ".join(repeated)
            + ".",
        )


class Emulation:
    def __init__(self, store: EventStore, clock: Callable[[], datetime] = utc_now) -> None:
        self.store = store
        self.repo = Repository(store)
        self.clock = clock

    def today(self) -> date:
        return local_day(self.clock())

    # Reading aggregates.

    async def year(self, tenant: str, year: int) -> ClusterYear:
        found = await self.repo.get(tenant, ClusterYear, ClusterYear.create_id(year))
        if found is None:
            raise NotFound("UNKNOWN_YEAR", f"Cụm chưa mở năm thi đua {year}.")
        return found

    async def pledge(self, tenant: str, year: int) -> Pledge:
        found = await self.repo.get(tenant, Pledge, Pledge.create_id(year))
        if found is None:
            raise NotFound("PLEDGE_NOT_DRAFTED", f"Cụm chưa soạn giao ước thi đua năm {year}.")
        return found

    async def scorecard(self, tenant: str, year: int, unit: str) -> Scorecard:
        found = await self.repo.get(tenant, Scorecard, Scorecard.create_id(year, unit))
        return found or Scorecard(year=year, unit=unit)

    async def scorecards(self, tenant: str, year: ClusterYear) -> dict[str, Scorecard]:
        units = list(year.members)
        cards = await asyncio.gather(*(self.scorecard(tenant, year.year, u) for u in units))
        return dict(zip(units, cards, strict=True))

    async def template(self, name: str) -> CriteriaTemplate:
        found = await self.repo.get(CITY_TENANT, CriteriaTemplate, CriteriaTemplate.create_id(name))
        if found is None:
            raise NotFound("UNKNOWN_TEMPLATE", f"Thành phố chưa ban hành bộ tiêu chí {name}.")
        return found

    async def standings(self, tenant: str, year: int, on: date | None = None) -> YearResult:
        cluster_year = await self.year(tenant, year)
        cards = await self.scorecards(tenant, cluster_year)
        return year_result(cluster_year, cards, on or self.today())

    # The one way a command runs.

    async def _run(
        self,
        command: Command,
        name: str,
        target: dict[str, Any],
        decide: Callable[[], Awaitable[Decision]],
    ) -> Recorded:
        if command.at is None:
            command = replace(command, at=self.clock())
        if command.idempotency_key is not None:
            prior = await self.store.recorded_for(command.tenant, command.idempotency_key)
            if prior is not None:
                return Recorded(*prior)
        for attempt in range(RETRIES):
            try:
                aggregate, guards = await decide()
                expected = command.expected_version
                if expected is not None and expected != read_version(aggregate):
                    raise ConcurrencyConflict(aggregate.id, expected, read_version(aggregate))
                return await self.repo.save(command, aggregate, guards)
            except DomainError as refusal:
                await self.record_refusal(command, name, target, refusal)
                raise
            except ConcurrencyConflict:
                if command.expected_version is not None or attempt == RETRIES - 1:
                    raise
                # Jittered backoff, so writers of one stream stop colliding in lockstep.
                await asyncio.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 6)))
        raise AssertionError("unreachable")

    async def record_refusal(
        self, command: Command, name: str, target: dict[str, Any], refusal: DomainError
    ) -> None:
        attempt = RefusedAttempt(
            attempt_id=str(uuid.uuid4()),
            command=name,
            code=refusal.code,
            message=refusal.message,
            target={k: str(v) for k, v in target.items()},
        )
        # Its own stream, never the command's key or version: the refusal always lands.
        plain = replace(command, idempotency_key=None, expected_version=None)
        await self.repo.save(plain, attempt)

    async def _authorised_year(
        self, command: Command, year: int, action: Action, unit: str | None = None
    ) -> ClusterYear:
        cluster_year = await self.year(command.tenant, year)
        authorise(command.actor, action, cluster_year.context(self.today()), unit)
        return cluster_year

    async def _year_change(
        self,
        command: Command,
        name: str,
        year: int,
        action: Action,
        change: Callable[[ClusterYear], None],
        **target: Any,
    ) -> Recorded:
        """A command that changes only the cluster-year."""

        async def decide() -> Decision:
            cluster_year = await self._authorised_year(command, year, action, target.get("unit"))
            change(cluster_year)
            return cluster_year, []

        return await self._run(command, name, {"year": year, **target}, decide)

    # The city board.

    async def register_cluster(self, actor: Actor, code: str, name: str) -> None:
        if actor.role is not Role.CITY_BOARD:
            raise Forbidden(
                "FORBIDDEN", "Chỉ Ban Thi đua - Khen thưởng thành phố được lập cụm thi đua mới."
            )
        await self.store.create_tenant(code, name)

    async def publish_template(
        self, command: Command, name: str, criteria: CriteriaSet
    ) -> Recorded:
        with contextlib.suppress(TenantExists):  # the city's own log, made on first use
            await self.store.create_tenant(CITY_TENANT, CITY_NAME)

        async def decide() -> Decision:
            authorise(command.actor, Action.PUBLISH_CRITERIA, YearContext(leader=None))
            template = await self.repo.get(
                CITY_TENANT, CriteriaTemplate, CriteriaTemplate.create_id(name)
            ) or CriteriaTemplate(name=name)
            template.publish(criteria)
            return template, []

        return await self._run(command, "publish_template", {"template": name}, decide)

    # Opening a year, members and leadership.

    async def open_year(
        self,
        command: Command,
        year: int,
        members: list[Membership],
        leader: str,
        deputies: list[str],
        rules: YearRules | None = None,
    ) -> Recorded:
        """Opened by the city board, or by the secretariat of the year before."""

        async def decide() -> Decision:
            previous = await self.repo.get(
                command.tenant, ClusterYear, ClusterYear.create_id(year - 1)
            )
            context = previous.context(self.today()) if previous else YearContext(leader=None)
            authorise(command.actor, Action.OPEN_YEAR, context)
            existing = await self.repo.get(command.tenant, ClusterYear, ClusterYear.create_id(year))
            if existing is not None:
                raise InvalidState("YEAR_EXISTS", f"Năm thi đua {year} của cụm đã được mở.")
            # Last year's leader keeps reading last year (its own former_leaders), not this one.
            opened = ClusterYear.open(year, members, leader, deputies, rules or YearRules())
            return opened, []

        return await self._run(command, "open_year", {"year": year}, decide)

    async def join_member(
        self, command: Command, year: int, unit: str, name: str, on: date
    ) -> Recorded:
        return await self._year_change(
            command,
            "join_member",
            year,
            Action.MANAGE_YEAR,
            lambda y: y.join(unit, name, on),
            member=unit,
        )

    async def leave_member(
        self, command: Command, year: int, unit: str, on: date, merged_into: str | None = None
    ) -> Recorded:
        return await self._year_change(
            command,
            "leave_member",
            year,
            Action.MANAGE_YEAR,
            lambda y: y.leave(unit, on, merged_into),
            member=unit,
        )

    async def rotate_leadership(
        self, command: Command, year: int, leader: str, deputies: list[str], on: date
    ) -> Recorded:
        return await self._year_change(
            command,
            "rotate_leadership",
            year,
            Action.ROTATE_LEADERSHIP,
            lambda y: y.rotate_leadership(leader, deputies, on),
            leader=leader,
        )

    async def set_rules(self, command: Command, year: int, rules: YearRules) -> Recorded:
        return await self._year_change(
            command, "set_rules", year, Action.MANAGE_YEAR, lambda y: y.set_rules(rules)
        )

    # Criteria and cross-inspection.

    async def adopt_criteria(
        self,
        command: Command,
        year: int,
        template_name: str,
        template_version: str,
        criteria: CriteriaSet,
    ) -> Recorded:
        template = (await self.template(template_name)).published(template_version)
        return await self._year_change(
            command,
            "adopt_criteria",
            year,
            Action.MANAGE_YEAR,
            lambda y: y.adopt_criteria(criteria, template, template_name),
            criteria_version=criteria.version,
        )

    async def assign_inspection(
        self, command: Command, year: int, inspection_id: str, inspector: str, units: list[str]
    ) -> Recorded:
        return await self._year_change(
            command,
            "assign_inspection",
            year,
            Action.MANAGE_YEAR,
            lambda y: y.assign_inspection(inspection_id, inspector, units, self.today()),
            inspector=inspector,
        )

    # The pledge, topics and new models.

    async def draft_pledge(
        self, command: Command, year: int, commitments: list[str], targets: list[str]
    ) -> Recorded:
        async def decide() -> Decision:
            await self._authorised_year(command, year, Action.MANAGE_YEAR)
            if await self.repo.get(command.tenant, Pledge, Pledge.create_id(year)):
                raise InvalidState("PLEDGE_EXISTS", f"Giao ước thi đua năm {year} đã được soạn.")
            return Pledge.draft(year, commitments, targets), []

        return await self._run(command, "draft_pledge", {"year": year}, decide)

    async def _pledge_change(
        self,
        command: Command,
        name: str,
        year: int,
        action: Action,
        change: Callable[[Pledge, ClusterYear], None],
        **target: Any,
    ) -> Recorded:
        async def decide() -> Decision:
            cluster_year = await self._authorised_year(command, year, action, target.get("unit"))
            pledge = await self.pledge(command.tenant, year)
            change(pledge, cluster_year)
            return pledge, []

        return await self._run(command, name, {"year": year, **target}, decide)

    async def sign_pledge(self, command: Command, year: int, unit: str) -> Recorded:
        return await self._pledge_change(
            command,
            "sign_pledge",
            year,
            Action.SIGN_PLEDGE,
            lambda p, y: p.sign(
                unit, command.actor.person, self.clock(), y.members_on(self.today())
            ),
            unit=unit,
        )

    async def register_topic(
        self, command: Command, year: int, unit: str, topic_id: str, kind: TopicKind, title: str
    ) -> Recorded:
        def change(pledge: Pledge, cluster_year: ClusterYear) -> None:
            deadline = cluster_year.rules.deadlines.topic_registration_on(year)
            members = cluster_year.members_on(self.today())
            pledge.register_topic(topic_id, unit, kind, title, self.clock(), deadline, members)

        return await self._pledge_change(
            command,
            "register_topic",
            year,
            Action.REGISTER_TOPIC,
            change,
            unit=unit,
            topic=topic_id,
        )

    async def mark_topic(
        self, command: Command, year: int, topic_id: str, carried_out: bool, note: str
    ) -> Recorded:
        return await self._pledge_change(
            command,
            "mark_topic",
            year,
            Action.MANAGE_YEAR,
            lambda p, _: p.mark_topic(topic_id, carried_out, note),
            topic=topic_id,
        )

    # Scores.

    async def self_score(
        self,
        command: Command,
        year: int,
        unit: str,
        criterion: str,
        points: Decimal,
        explanation: str,
        evidence: list[str],
    ) -> Recorded:
        entry = ScoreGiven(criterion, points, explanation, evidence)
        return await self._score_one(command, year, unit, Layer.SELF, entry)

    async def self_score_many(
        self, command: Command, year: int, unit: str, scores: list[ScoreGiven]
    ) -> Recorded:
        """The unit's whole self-assessment form in one command: every entry, or none."""
        codes = ",".join(s.criterion for s in scores)
        target = {"layer": Layer.SELF.value, "criteria": codes}
        return await self._score(command, "score_self_many", year, unit, Layer.SELF, scores, target)

    async def verify_score(
        self,
        command: Command,
        year: int,
        unit: str,
        criterion: str,
        points: Decimal,
        explanation: str,
        evidence: list[str] | None = None,
    ) -> Recorded:
        entry = ScoreGiven(criterion, points, explanation, evidence or [])
        return await self._score_one(command, year, unit, Layer.VERIFIED, entry)

    async def city_adjust(
        self,
        command: Command,
        year: int,
        unit: str,
        criterion: str,
        points: Decimal,
        explanation: str,
    ) -> Recorded:
        entry = ScoreGiven(criterion, points, explanation, [])
        return await self._score_one(command, year, unit, Layer.CITY, entry)

    async def _score_one(
        self, command: Command, year: int, unit: str, layer: Layer, entry: ScoreGiven
    ) -> Recorded:
        target = {"criterion": entry.criterion, "layer": layer.value, "points": entry.points}
        name = f"score_{layer.value}"
        return await self._score(command, name, year, unit, layer, [entry], target)

    async def _score(
        self,
        command: Command,
        name: str,
        year: int,
        unit: str,
        layer: Layer,
        scores: list[ScoreGiven],
        target: dict[str, Any],
    ) -> Recorded:
        """Scores one layer of a unit's card: every entry lands in one append, or none."""

        async def decide() -> Decision:
            cluster_year = await self._authorised_year(command, year, _SCORING[layer], unit)
            cluster_year.check_open()
            if layer is Layer.SELF:
                cluster_year.check_self_score_deadline(self.today())
            check_form(scores)
            card = await self.scorecard(command.tenant, year, unit)
            criteria, at = cluster_year.criteria_on(self.today()), self.clock()
            for s in scores:
                card.score(
                    layer,
                    criteria,
                    s.criterion,
                    s.points,
                    s.explanation,
                    s.evidence,
                    at,
                    cluster_year.rules,
                )
            return card, [(cluster_year.id, cluster_year.version)]

        return await self._run(command, name, {"year": year, "unit": unit, **target}, decide)

    async def answer_finding(
        self, command: Command, year: int, unit: str, criterion: str, text: str
    ) -> Recorded:
        async def decide() -> Decision:
            await self._authorised_year(command, year, Action.ANSWER_FINDING, unit)
            card = await self.scorecard(command.tenant, year, unit)
            card.answer(criterion, text)
            return card, []

        target = {"year": year, "unit": unit, "criterion": criterion}
        return await self._run(command, "answer_finding", target, decide)

    async def submit_self_assessment(self, command: Command, year: int, unit: str) -> Recorded:
        async def decide() -> Decision:
            cluster_year = await self._authorised_year(
                command, year, Action.SUBMIT_SELF_ASSESSMENT, unit
            )
            cluster_year.check_open()
            card = await self.scorecard(command.tenant, year, unit)
            card.submit(cluster_year.criteria_on(self.today()), self.clock())
            return card, [(cluster_year.id, cluster_year.version)]

        return await self._run(
            command, "submit_self_assessment", {"year": year, "unit": unit}, decide
        )

    # Meetings and secret ballots.

    async def convene_meeting(
        self, command: Command, year: int, meeting_id: str, title: str, held_on: date
    ) -> Recorded:
        return await self._year_change(
            command,
            "convene_meeting",
            year,
            Action.MANAGE_YEAR,
            lambda y: y.convene(meeting_id, title, held_on),
            meeting=meeting_id,
        )

    async def record_attendance(
        self, command: Command, year: int, meeting_id: str, present: list[str]
    ) -> Recorded:
        return await self._year_change(
            command,
            "record_attendance",
            year,
            Action.MANAGE_YEAR,
            lambda y: y.record_attendance(meeting_id, present),
            meeting=meeting_id,
        )

    async def open_ballot(
        self, command: Command, year: int, meeting_id: str, candidate: str, question: str
    ) -> Recorded:
        return await self._year_change(
            command,
            "open_ballot",
            year,
            Action.MANAGE_YEAR,
            lambda y: y.open_ballot(meeting_id, candidate, question),
            meeting=meeting_id,
            candidate=candidate,
        )

    async def record_tally(
        self, command: Command, year: int, meeting_id: str, yes: int, no: int, blank: int
    ) -> Recorded:
        return await self._year_change(
            command,
            "record_tally",
            year,
            Action.MANAGE_YEAR,
            lambda y: y.record_tally(meeting_id, yes, no, blank),
            meeting=meeting_id,
        )

    # Results: mid-year review, finalisation, reopening, proposals.

    async def _result_change(
        self,
        command: Command,
        name: str,
        year: int,
        action: Action,
        change: Callable[[ClusterYear, YearResult, Mapping[str, tuple[str, ...]]], None],
    ) -> Recorded:
        """Decide on the standings of every scorecard, guarding each one read."""

        async def decide() -> Decision:
            cluster_year = await self._authorised_year(command, year, action)
            cards = await self.scorecards(command.tenant, cluster_year)
            result = year_result(cluster_year, cards, self.today())
            change(cluster_year, result, result.flagged)
            guards = [(card.id, read_version(card)) for card in cards.values()]
            return cluster_year, guards

        return await self._run(command, name, {"year": year}, decide)

    async def record_mid_year_review(self, command: Command, year: int) -> Recorded:
        return await self._result_change(
            command,
            "record_mid_year_review",
            year,
            Action.MANAGE_YEAR,
            lambda y, result, _: y.record_mid_year_review(result),
        )

    async def finalise(self, command: Command, year: int) -> Recorded:
        return await self._result_change(
            command,
            "finalise",
            year,
            Action.FINALISE,
            lambda y, result, flagged: y.finalise(result, flagged),
        )

    async def reopen(self, command: Command, year: int) -> Recorded:
        return await self._year_change(
            command, "reopen", year, Action.REOPEN, lambda y: y.reopen(command.reason or "")
        )

    async def propose(
        self,
        command: Command,
        year: int,
        proposal_id: str,
        award: Award,
        units: list[str],
        documents: list[str],
    ) -> Recorded:
        async def decide() -> Decision:
            cluster_year = await self._authorised_year(command, year, Action.MANAGE_YEAR)
            guards: list[tuple[str, int]] = []
            facts = {}
            if award is Award.FLAG:
                pledge = await self.pledge(command.tenant, year)
                guards.append((pledge.id, pledge.version))
                ranking = cluster_year.current_result().layers[RANKING_LAYER].ranking
                facts = {
                    unit: FlagFacts(
                        first=ranking.first,
                        vote_won=cluster_year.vote_won_by(unit),
                        new_model_carried_out=pledge.new_model_carried_out(unit),
                    )
                    for unit in units
                }
            cluster_year.propose(proposal_id, award, units, documents, self.today(), facts)
            return cluster_year, guards

        target = {"year": year, "proposal": proposal_id, "award": award.value}
        return await self._run(command, "propose", target, decide)
