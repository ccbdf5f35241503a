"""One small handler per command: given the command and its unit of work, decide.

The pipeline (`Emulation.handle`) has already recognised a retry, loaded the year the
right depends on and authorised the caller; a handler loads what else it decides on,
asks the aggregate, and returns the changed aggregate with the streams it guards.
"""

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from thidua.domain import commands as c
from thidua.domain.cluster_year import ClusterYear
from thidua.domain.criteria import CriteriaTemplate
from thidua.domain.entity import Entity
from thidua.domain.errors import InvalidState, NotFound, RuleViolation
from thidua.domain.pledge import Pledge
from thidua.domain.proposals import Award, Dossier, FlagFacts
from thidua.domain.results import RANKING_LAYER, YearResult, frozen_result
from thidua.domain.rights import Actor
from thidua.domain.rules import YearRules
from thidua.domain.scorecard import Layer, Scorecard
from thidua.service.repository import Repository, read_version
from thidua.store.eventstore import EventStore, Session

CITY_LOG = "thanh-pho"  # the city board's own log: its criteria templates
CITY_NAME = "Ban Thi đua - Khen thưởng thành phố Hà Nội"

Guards = list[tuple[str, int]]  # streams (id, version) the decision read and must not move
Decision = tuple[Entity, Guards] | None  # None: nothing to append (a cluster registered)
E = TypeVar("E", bound=Entity)


@dataclass
class UnitOfWork:
    """What a handler works with: one session of the command's cluster, the clock's
    moment and day, the acting role, and the year the right was decided on."""

    store: EventStore
    session: Session
    repo: Repository
    at: datetime
    today: date
    actor: Actor | None = None
    loaded_year: ClusterYear | None = None

    @property
    def year(self) -> ClusterYear:
        assert self.loaded_year is not None, "a command about a year has its year loaded"
        return self.loaded_year

    async def get(self, cls: type[E], stream_id: str) -> E | None:
        return await self.repo.get(self.session, cls, stream_id)

    async def cluster_year(self, year: int) -> ClusterYear:
        found = await self.get(ClusterYear, ClusterYear.create_id(year))
        if found is None:
            raise NotFound("UNKNOWN_YEAR", f"Cụm chưa mở năm thi đua {year}.")
        return found

    async def pledge(self, year: int) -> Pledge:
        found = await self.get(Pledge, Pledge.create_id(year))
        if found is None:
            raise NotFound("PLEDGE_NOT_DRAFTED", f"Cụm chưa soạn giao ước thi đua năm {year}.")
        return found

    async def scorecard(self, year: int, unit: str) -> Scorecard:
        found = await self.get(Scorecard, Scorecard.create_id(year, unit))
        return found or Scorecard(year=year, unit=unit)

    async def scorecards(self, year: ClusterYear) -> dict[str, Scorecard]:
        return {unit: await self.scorecard(year.year, unit) for unit in year.members}

    async def template(self, name: str) -> CriteriaTemplate:
        """The city's template: another log, so another transaction."""
        async with self.store.session(CITY_LOG) as city:
            found = await self.repo.get(city, CriteriaTemplate, CriteriaTemplate.create_id(name))
        if found is None:
            raise NotFound("UNKNOWN_TEMPLATE", f"Thành phố chưa ban hành bộ tiêu chí {name}.")
        return found


Handler = Callable[[Any, UnitOfWork], Awaitable[Decision]]
HANDLERS: dict[type[c.Command], Handler] = {}


def handles(command: type[c.Command]) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[command] = handler
        return handler

    return register


# The city board.


@handles(c.RegisterCluster)
async def register_cluster(cmd: c.RegisterCluster, uow: UnitOfWork) -> Decision:
    await uow.store.create_tenant(cmd.code, cmd.name)
    return None


@handles(c.PublishTemplate)
async def publish_template(cmd: c.PublishTemplate, uow: UnitOfWork) -> Decision:
    template_id = CriteriaTemplate.create_id(cmd.name)
    template = await uow.get(CriteriaTemplate, template_id) or CriteriaTemplate(name=cmd.name)
    template.publish(cmd.criteria)
    return template, []


# Opening a year, members and leadership.


@handles(c.OpenYear)
async def open_year(cmd: c.OpenYear, uow: UnitOfWork) -> Decision:
    if await uow.get(ClusterYear, ClusterYear.create_id(cmd.year)) is not None:
        raise InvalidState("YEAR_EXISTS", f"Năm thi đua {cmd.year} của cụm đã được mở.")
    members = [m.membership() for m in cmd.members]
    # Last year's leader keeps reading last year (its own former_leaders), not this one.
    opened = ClusterYear.open(
        cmd.year, members, cmd.leader, list(cmd.deputies), cmd.rules or YearRules()
    )
    return opened, []


YearChange = Callable[[Any, ClusterYear, UnitOfWork], None]


def _year_change(change: YearChange) -> Handler:
    """A handler for a command that changes only the cluster-year."""

    async def handler(cmd: Any, uow: UnitOfWork) -> Decision:
        change(cmd, uow.year, uow)
        return uow.year, []

    return handler


def _on_year(
    command: type[c.Command], change: Callable[[Any, ClusterYear, UnitOfWork], None]
) -> None:
    handles(command)(_year_change(change))


_on_year(c.JoinMember, lambda cmd, y, _: y.join(cmd.unit, cmd.name, cmd.on))
_on_year(c.LeaveMember, lambda cmd, y, _: y.leave(cmd.unit, cmd.on, cmd.merged_into))
_on_year(
    c.RotateLeadership,
    lambda cmd, y, _: y.rotate_leadership(cmd.leader, list(cmd.deputies), cmd.on),
)
_on_year(c.SetRules, lambda cmd, y, _: y.set_rules(cmd.rules))
_on_year(
    c.AssignInspection,
    lambda cmd, y, uow: y.assign_inspection(
        cmd.inspection_id, cmd.inspector, list(cmd.units), uow.today
    ),
)
_on_year(c.ConveneMeeting, lambda cmd, y, _: y.convene(cmd.meeting_id, cmd.title, cmd.held_on))


def not_before(day: date, since: date, what: str) -> None:
    """A fact cannot have happened before what it depends on."""
    if day < since:
        raise RuleViolation(
            "BEFORE_ITS_CAUSE",
            f"Ngày {day:%d/%m/%Y} sớm hơn {what} ({since:%d/%m/%Y}) mà việc này dựa vào.",
        )


def _at_meeting(change: YearChange) -> YearChange:
    """A change made at a meeting: not before the day the meeting was held."""

    def at_meeting(cmd: Any, year: ClusterYear, uow: UnitOfWork) -> None:
        not_before(uow.today, year.meeting(cmd.meeting_id).held_on, "ngày họp")
        change(cmd, year, uow)

    return at_meeting


_on_year(
    c.RecordAttendance,
    _at_meeting(lambda cmd, y, _: y.record_attendance(cmd.meeting_id, list(cmd.present))),
)
_on_year(
    c.OpenBallot,
    _at_meeting(lambda cmd, y, _: y.open_ballot(cmd.meeting_id, cmd.candidate, cmd.question)),
)
_on_year(
    c.RecordTally,
    _at_meeting(lambda cmd, y, _: y.record_tally(cmd.meeting_id, cmd.yes, cmd.no, cmd.blank)),
)
_on_year(c.Reopen, lambda cmd, y, _: y.reopen(cmd.reason))


# Criteria.


@handles(c.AdoptCriteria)
async def adopt_criteria(cmd: c.AdoptCriteria, uow: UnitOfWork) -> Decision:
    template = (await uow.template(cmd.template_name)).published(cmd.template_version)
    uow.year.adopt_criteria(cmd.criteria, template, cmd.template_name)
    return uow.year, []


# The pledge, topics and new models.


@handles(c.DraftPledge)
async def draft_pledge(cmd: c.DraftPledge, uow: UnitOfWork) -> Decision:
    if await uow.get(Pledge, Pledge.create_id(cmd.year)):
        raise InvalidState("PLEDGE_EXISTS", f"Giao ước thi đua năm {cmd.year} đã được soạn.")
    return Pledge.draft(cmd.year, list(cmd.commitments), list(cmd.targets)), []


@handles(c.SignPledge)
async def sign_pledge(cmd: c.SignPledge, uow: UnitOfWork) -> Decision:
    pledge = await uow.pledge(cmd.year)
    assert uow.actor is not None
    pledge.sign(cmd.unit, uow.actor.person, uow.at, uow.year.members_on(uow.today))
    return pledge, []


@handles(c.RegisterTopic)
async def register_topic(cmd: c.RegisterTopic, uow: UnitOfWork) -> Decision:
    pledge = await uow.pledge(cmd.year)
    deadline = uow.year.rules.deadlines.topic_registration_on(cmd.year)
    members = uow.year.members_on(uow.today)
    pledge.register_topic(cmd.topic_id, cmd.unit, cmd.kind, cmd.title, uow.at, deadline, members)
    return pledge, []


@handles(c.MarkTopic)
async def mark_topic(cmd: c.MarkTopic, uow: UnitOfWork) -> Decision:
    pledge = await uow.pledge(cmd.year)
    pledge.mark_topic(cmd.topic_id, cmd.carried_out, cmd.note)
    return pledge, []


# Scores.


def check_form(scores: tuple[c.ScoreGiven, ...]) -> None:
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


async def score(cmd: c.Score, uow: UnitOfWork) -> Decision:
    """Every entry of the form lands on the unit's card in one append, or none."""
    year = uow.year
    year.check_open()
    if cmd.layer is Layer.SELF:
        year.check_self_score_deadline(uow.today)
    entries = cmd.entries()
    check_form(entries)
    card = await uow.scorecard(year.year, cmd.unit)  # type: ignore[attr-defined]
    criteria = year.criteria_on(uow.today)
    for s in entries:
        card.score(
            cmd.layer,
            criteria,
            s.criterion,
            s.points,
            s.explanation,
            list(s.evidence),
            uow.at,
            year.rules,
        )
    return card, [(year.id, year.version)]


for _scoring in (c.SelfScore, c.SelfScoreMany, c.VerifyScore, c.CityAdjust):
    handles(_scoring)(score)


@handles(c.AnswerFinding)
async def answer_finding(cmd: c.AnswerFinding, uow: UnitOfWork) -> Decision:
    card = await uow.scorecard(cmd.year, cmd.unit)
    card.answer(cmd.criterion, cmd.text)
    return card, []


@handles(c.AcceptExplanation)
async def accept_explanation(cmd: c.AcceptExplanation, uow: UnitOfWork) -> Decision:
    """A verification like any other: the year open, the criteria in force, the year guarded."""
    year = uow.year
    year.check_open()
    card = await uow.scorecard(cmd.year, cmd.unit)
    criteria = year.criteria_on(uow.today)
    card.accept_explanation(criteria, cmd.criterion, cmd.points, cmd.reason, uow.at, year.rules)
    return card, [(year.id, year.version)]


@handles(c.RejectExplanation)
async def reject_explanation(cmd: c.RejectExplanation, uow: UnitOfWork) -> Decision:
    """The finding stands: no score changes, so a finalised year may still hear it."""
    card = await uow.scorecard(cmd.year, cmd.unit)
    card.reject_explanation(cmd.criterion, cmd.reason, uow.at)
    return card, []


@handles(c.SubmitSelfAssessment)
async def submit_self_assessment(cmd: c.SubmitSelfAssessment, uow: UnitOfWork) -> Decision:
    uow.year.check_open()
    card = await uow.scorecard(cmd.year, cmd.unit)
    card.submit(uow.year.criteria_on(uow.today), uow.at)
    return card, [(uow.year.id, uow.year.version)]


# Results: mid-year review, finalisation, proposals.


async def _on_result(
    uow: UnitOfWork, change: Callable[[ClusterYear, YearResult], None]
) -> Decision:
    """Decide on the standings of every scorecard, guarding each one read."""
    cards = await uow.scorecards(uow.year)
    change(uow.year, frozen_result(uow.year, cards, uow.today))
    return uow.year, [(card.id, read_version(card)) for card in cards.values()]


@handles(c.RecordMidYearReview)
async def record_mid_year_review(cmd: c.RecordMidYearReview, uow: UnitOfWork) -> Decision:
    return await _on_result(uow, lambda year, result: year.record_mid_year_review(result))


@handles(c.Finalise)
async def finalise(cmd: c.Finalise, uow: UnitOfWork) -> Decision:
    return await _on_result(uow, lambda year, result: year.finalise(result, result.flagged))


@handles(c.Propose)
async def propose(cmd: c.Propose, uow: UnitOfWork) -> Decision:
    year, guards, facts = uow.year, [], {}
    not_before(uow.today, year.current_result().on, "ngày chốt kết quả")
    if cmd.award is Award.FLAG:
        pledge = await uow.pledge(cmd.year)
        guards.append((pledge.id, pledge.version))
        ranking = year.current_result().layers[RANKING_LAYER].ranking
        facts = {
            unit: FlagFacts(
                first=ranking.first,
                vote_won=year.vote_won_by(unit),
                new_model_carried_out=pledge.new_model_carried_out(unit),
            )
            for unit in cmd.units
        }
    year.propose(cmd.proposal_id, cmd.award, list(cmd.units), list(cmd.documents), uow.today, facts)
    return year, guards


# The result to the city, and the city's decisions.


@handles(c.SendResults)
async def send_results(cmd: c.SendResults, uow: UnitOfWork) -> Decision:
    dossier = Dossier(cmd.proposal_letter, cmd.minutes, cmd.achievement_report)
    uow.year.send_results(dossier, uow.today, cmd.reason)
    return uow.year, []


@handles(c.DecideProposal)
async def decide_proposal(cmd: c.DecideProposal, uow: UnitOfWork) -> Decision:
    uow.year.decide_proposal(
        cmd.proposal_id, cmd.outcome, list(cmd.units_kept), cmd.reason, uow.today
    )
    return uow.year, []
