"""The commands of the emulation year, as values: what a person asks the cluster to do.

Each is a frozen dataclass, checked when it is made (`checks.check_fields`): codes, names
and texts in NFC within their bounds, lists bounded, numbers exact and in range. Its
class says the right it needs (`action`) and how that right is decided (`rights_year`).
The API names each command after its class (`SelfScore` is the mutation `selfScore`),
and refusals are recorded under that same name.
"""

import dataclasses
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Annotated, ClassVar, Literal

from thidua.domain.checks import (
    MANY_ITEMS,
    MANY_SCORES,
    MANY_UNITS,
    ClusterCode,
    Code,
    Count,
    Field,
    Name,
    Text,
    Year,
    check_fields,
    hints_of,
)
from thidua.domain.criteria import CriteriaSet
from thidua.domain.errors import InvalidInput
from thidua.domain.membership import Membership
from thidua.domain.pledge import TopicKind
from thidua.domain.proposals import Award, Verdict
from thidua.domain.rights import Action
from thidua.domain.rules import YearRules
from thidua.domain.scorecard import Layer

Units = Annotated[tuple[Code, ...], Field("many", MANY_UNITS)]
Items = Annotated[tuple[Name, ...], Field("many", MANY_ITEMS)]  # evidence, documents
Texts = Annotated[tuple[Text, ...], Field("many", MANY_ITEMS)]  # commitments, targets

# Whose year decides the right: the year the command names, the year before it (opening
# a year), or none (the city's own acts).
RightsYear = Literal["this", "previous", "none"]


@dataclass(frozen=True)
class Command:
    """The base of every command: checked when made, named as the API names it.

    `occurred_on` is the day it happened (a conference, a signature on paper, a tally
    counted at a meeting), given by whoever records it; without it, the day it is
    recorded. Rights, deadlines and standings follow that day (`domain.days`)."""

    action: ClassVar[Action]
    rights_year: ClassVar[RightsYear] = "this"
    occurred_on: date | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        check_fields(self)

    @classmethod
    def command_name(cls) -> str:
        """The command's name in the API and in the audit trail: `selfScore`."""
        return cls.__name__[0].lower() + cls.__name__[1:]

    @property
    def about(self) -> str | None:
        """The unit whose rights the command touches, if it is about one."""
        found = getattr(self, "unit", None)
        return found if isinstance(found, str) else None

    def target(self) -> dict[str, str]:
        """What an auditor filters a refusal by: the codes, numbers, days and kinds."""
        hints = hints_of(type(self))
        found: dict[str, str] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Enum):
                found[f.name] = str(value.value)
            elif value is not None and (
                isinstance(value, int | Decimal | date) or hints[f.name] in (Code, Code | None)
            ):
                found[f.name] = str(value)
        return found


# Given values: the parts of a command a person fills in.


@dataclass(frozen=True)
class MemberGiven:
    unit: Code
    name: Name
    joined_on: date

    def __post_init__(self) -> None:
        check_fields(self)

    def membership(self) -> Membership:
        return Membership(self.unit, self.name, self.joined_on)


@dataclass(frozen=True)
class ScoreGiven:
    """One criterion of a scoring form: its points, the explanation and the evidence."""

    criterion: Code
    points: Decimal
    explanation: Text
    evidence: Items = ()

    def __post_init__(self) -> None:
        check_fields(self)


# The city board.


@dataclass(frozen=True)
class RegisterCluster(Command):
    action = Action.REGISTER_CLUSTER
    rights_year = "none"
    code: ClusterCode
    name: Annotated[str, Field("name", 200)]


@dataclass(frozen=True)
class PublishTemplate(Command):
    action = Action.PUBLISH_CRITERIA
    rights_year = "none"
    name: Code
    criteria: CriteriaSet


# Opening a year, members and leadership.


@dataclass(frozen=True)
class OpenYear(Command):
    """Opened by the city board, or by the secretariat of the year before."""

    action = Action.OPEN_YEAR
    rights_year = "previous"
    year: Year
    members: Annotated[tuple[MemberGiven, ...], Field("many", MANY_UNITS)]
    leader: Code
    deputies: Units = ()
    rules: YearRules | None = None


@dataclass(frozen=True)
class JoinMember(Command):
    action = Action.MANAGE_YEAR
    year: Year
    unit: Code
    name: Name
    on: date

    @property
    def about(self) -> None:
        return None  # managing members is the secretariat's, whichever unit


@dataclass(frozen=True)
class LeaveMember(Command):
    action = Action.MANAGE_YEAR
    year: Year
    unit: Code
    on: date
    merged_into: Code | None = None

    @property
    def about(self) -> None:
        return None


@dataclass(frozen=True)
class RotateLeadership(Command):
    action = Action.ROTATE_LEADERSHIP
    year: Year
    leader: Code
    on: date
    deputies: Units = ()


@dataclass(frozen=True)
class SetRules(Command):
    action = Action.MANAGE_YEAR
    year: Year
    rules: YearRules


# Criteria and cross-inspection.


@dataclass(frozen=True)
class AdoptCriteria(Command):
    action = Action.MANAGE_YEAR
    year: Year
    template_name: Code
    template_version: Code
    criteria: CriteriaSet


@dataclass(frozen=True)
class AssignInspection(Command):
    action = Action.MANAGE_YEAR
    year: Year
    inspection_id: Code
    inspector: Code
    units: Units


# The pledge, topics and new models.


@dataclass(frozen=True)
class DraftPledge(Command):
    action = Action.MANAGE_YEAR
    year: Year
    commitments: Texts
    targets: Texts


@dataclass(frozen=True)
class SignPledge(Command):
    action = Action.SIGN_PLEDGE
    year: Year
    unit: Code


@dataclass(frozen=True)
class RegisterTopic(Command):
    action = Action.REGISTER_TOPIC
    year: Year
    unit: Code
    topic_id: Code
    kind: TopicKind
    title: Name


@dataclass(frozen=True)
class MarkTopic(Command):
    action = Action.MANAGE_YEAR
    year: Year
    topic_id: Code
    carried_out: bool
    note: Text


# Scores.


@dataclass(frozen=True)
class Score(Command):
    """Scores one layer of a unit's card: every entry lands in one append, or none."""

    layer: ClassVar[Layer]

    def entries(self) -> tuple[ScoreGiven, ...]:
        raise NotImplementedError

    def target(self) -> dict[str, str]:
        return super().target() | {"layer": self.layer.value}


@dataclass(frozen=True)
class SelfScore(Score):
    action = Action.SELF_SCORE
    layer = Layer.SELF
    year: Year
    unit: Code
    criterion: Code
    points: Decimal
    explanation: Text
    evidence: Items

    def entries(self) -> tuple[ScoreGiven, ...]:
        return (ScoreGiven(self.criterion, self.points, self.explanation, self.evidence),)


@dataclass(frozen=True)
class SelfScoreMany(Score):
    """The unit's whole self-assessment form in one command: every entry, or none."""

    action = Action.SELF_SCORE
    layer = Layer.SELF
    year: Year
    unit: Code
    scores: Annotated[tuple[ScoreGiven, ...], Field("many", MANY_SCORES)]

    def entries(self) -> tuple[ScoreGiven, ...]:
        return self.scores

    def target(self) -> dict[str, str]:
        return super().target() | {"criteria": ",".join(s.criterion for s in self.scores)}


@dataclass(frozen=True)
class VerifyScore(Score):
    action = Action.VERIFY_SCORE
    layer = Layer.VERIFIED
    year: Year
    unit: Code
    criterion: Code
    points: Decimal
    explanation: Text
    evidence: Items = ()

    def entries(self) -> tuple[ScoreGiven, ...]:
        return (ScoreGiven(self.criterion, self.points, self.explanation, self.evidence),)


@dataclass(frozen=True)
class CityAdjust(Score):
    action = Action.CITY_ADJUST
    layer = Layer.CITY
    year: Year
    unit: Code
    criterion: Code
    points: Decimal
    explanation: Text

    def entries(self) -> tuple[ScoreGiven, ...]:
        return (ScoreGiven(self.criterion, self.points, self.explanation),)


@dataclass(frozen=True)
class AnswerFinding(Command):
    action = Action.ANSWER_FINDING
    year: Year
    unit: Code
    criterion: Code
    text: Text


def require_reason(reason: str | None, message: str) -> None:
    """A reason that is missing or blank makes no command."""
    if not (reason or "").strip():
        raise InvalidInput("REASON_REQUIRED", message)


@dataclass(frozen=True)
class AcceptExplanation(Command):
    """The secretariat accepts a unit's explanation: the verified score becomes `points`."""

    action = Action.DECIDE_EXPLANATION
    year: Year
    unit: Code
    criterion: Code
    points: Decimal
    reason: Text

    def __post_init__(self) -> None:
        super().__post_init__()
        require_reason(self.reason, "Chấp nhận giải trình phải nêu lý do.")


@dataclass(frozen=True)
class RejectExplanation(Command):
    """The secretariat rejects a unit's explanation: the finding stands."""

    action = Action.DECIDE_EXPLANATION
    year: Year
    unit: Code
    criterion: Code
    reason: Text

    def __post_init__(self) -> None:
        super().__post_init__()
        require_reason(self.reason, "Không chấp nhận giải trình phải nêu lý do.")


@dataclass(frozen=True)
class SubmitSelfAssessment(Command):
    action = Action.SUBMIT_SELF_ASSESSMENT
    year: Year
    unit: Code


# Meetings and secret ballots.


@dataclass(frozen=True)
class ConveneMeeting(Command):
    action = Action.MANAGE_YEAR
    year: Year
    meeting_id: Code
    title: Name
    held_on: date


@dataclass(frozen=True)
class RecordAttendance(Command):
    action = Action.MANAGE_YEAR
    year: Year
    meeting_id: Code
    present: Units


@dataclass(frozen=True)
class OpenBallot(Command):
    action = Action.MANAGE_YEAR
    year: Year
    meeting_id: Code
    candidate: Code
    question: Text


@dataclass(frozen=True)
class RecordTally(Command):
    """The counting committee's tally of a secret ballot: numbers only, never ballots."""

    action = Action.MANAGE_YEAR
    year: Year
    meeting_id: Code
    yes: Count
    no: Count
    blank: Count


# Results: mid-year review, finalisation, reopening, proposals.


@dataclass(frozen=True)
class RecordMidYearReview(Command):
    action = Action.MANAGE_YEAR
    year: Year


@dataclass(frozen=True)
class Finalise(Command):
    action = Action.FINALISE
    year: Year


@dataclass(frozen=True)
class Reopen(Command):
    action = Action.REOPEN
    year: Year
    reason: Text

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.reason.strip():
            raise InvalidInput("REASON_REQUIRED", "Mở lại kết quả đã chốt cần nêu lý do.")


@dataclass(frozen=True)
class Propose(Command):
    action = Action.MANAGE_YEAR
    year: Year
    proposal_id: Code
    award: Award
    units: Units
    documents: Items = ()


@dataclass(frozen=True)
class SendResults(Command):
    """The secretariat sends the finalised result, its dossier and proposals to the city.

    After the deadline it is still sent, marked late, with the reason it is late."""

    action = Action.MANAGE_YEAR
    year: Year
    proposal_letter: Name
    minutes: Name
    achievement_report: Name
    reason: Text | None = None


@dataclass(frozen=True)
class DecideProposal(Command):
    """The city's decision on a proposal sent to it: approved, cut or rejected.

    A cut names the units it keeps; a cut or a rejection gives its reason."""

    action = Action.DECIDE_PROPOSAL
    year: Year
    proposal_id: Code
    outcome: Verdict
    units_kept: Units = ()
    reason: Text | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.outcome is not Verdict.APPROVED:
            require_reason(
                self.reason, "Quyết định cắt giảm hoặc không khen thưởng phải nêu lý do."
            )
        if self.outcome is Verdict.CUT and not self.units_kept:
            raise InvalidInput(
                "UNITS_KEPT_REQUIRED", "Quyết định cắt giảm phải nêu các đơn vị được giữ lại."
            )
        if self.outcome is not Verdict.CUT and self.units_kept:
            raise InvalidInput(
                "UNITS_KEPT_ONLY_FOR_CUT",
                "Chỉ nêu các đơn vị được giữ lại khi quyết định cắt giảm đề nghị.",
            )


COMMANDS: tuple[type[Command], ...] = (
    RegisterCluster,
    PublishTemplate,
    OpenYear,
    JoinMember,
    LeaveMember,
    RotateLeadership,
    SetRules,
    AdoptCriteria,
    AssignInspection,
    DraftPledge,
    SignPledge,
    RegisterTopic,
    MarkTopic,
    SelfScore,
    SelfScoreMany,
    VerifyScore,
    CityAdjust,
    AnswerFinding,
    AcceptExplanation,
    RejectExplanation,
    SubmitSelfAssessment,
    ConveneMeeting,
    RecordAttendance,
    OpenBallot,
    RecordTally,
    RecordMidYearReview,
    Finalise,
    Reopen,
    Propose,
    SendResults,
    DecideProposal,
)
