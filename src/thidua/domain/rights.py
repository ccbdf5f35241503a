"""Who may do what (docs/domain.md), decided by one pure function."""

from dataclasses import dataclass
from enum import StrEnum

from thidua.domain.errors import Forbidden


class Role(StrEnum):
    MEMBER_OFFICER = "member_officer"
    MEMBER_HEAD = "member_head"
    CROSS_INSPECTOR = "cross_inspector"
    SECRETARIAT = "secretariat"
    CITY_BOARD = "city_board"
    AUDITOR = "auditor"
    DASHBOARD = "dashboard"


ROLE_NAMES = {
    Role.MEMBER_OFFICER: "cán bộ thi đua của đơn vị",
    Role.MEMBER_HEAD: "thủ trưởng đơn vị",
    Role.CROSS_INSPECTOR: "thành viên kiểm tra chéo",
    Role.SECRETARIAT: "cơ quan thường trực cụm",
    Role.CITY_BOARD: "Ban Thi đua - Khen thưởng thành phố",
    Role.AUDITOR: "kiểm toán viên",
    Role.DASHBOARD: "bảng theo dõi",
}


@dataclass(frozen=True)
class Actor:
    """A person acting in one role, for one unit where the role belongs to a unit."""

    person: str
    role: Role
    unit: str | None = None

    def caller(self) -> "Caller":
        return Caller(self.person, (self.role,), self.unit)


@dataclass(frozen=True)
class Caller:
    """A person with every role their token gives, for one unit where roles belong to one.

    What they do is done as one of those roles: the first that may (`authorise`)."""

    person: str
    roles: tuple[Role, ...]
    unit: str | None = None

    def actors(self) -> list[Actor]:
        return [Actor(self.person, role, self.unit) for role in self.roles]


class Action(StrEnum):
    REGISTER_CLUSTER = "register_cluster"
    PUBLISH_CRITERIA = "publish_criteria"
    OPEN_YEAR = "open_year"
    MANAGE_YEAR = "manage_year"  # members, criteria, rules, inspections, meetings, proposals
    ROTATE_LEADERSHIP = "rotate_leadership"
    SIGN_PLEDGE = "sign_pledge"
    REGISTER_TOPIC = "register_topic"
    SELF_SCORE = "self_score"
    SUBMIT_SELF_ASSESSMENT = "submit_self_assessment"
    ANSWER_FINDING = "answer_finding"
    VERIFY_SCORE = "verify_score"
    DECIDE_EXPLANATION = "decide_explanation"  # accept or reject a unit's explanation
    CITY_ADJUST = "city_adjust"
    DECIDE_PROPOSAL = "decide_proposal"  # the city's decision on a proposal sent to it
    FINALISE = "finalise"
    REOPEN = "reopen"
    READ_YEAR = "read_year"  # the year's shared documents and every unit's scores
    READ_OWN_UNIT = "read_own_unit"
    READ_PUBLISHED = "read_published"
    READ_AUDIT = "read_audit"


@dataclass(frozen=True)
class YearContext:
    """What the decision needs to know of the cluster-year."""

    leader: str | None
    former_leaders: frozenset[str] = frozenset()
    members: frozenset[str] = frozenset()
    inspected_by: frozenset[tuple[str, str]] = frozenset()  # (inspector unit, inspected unit)
    former_members: frozenset[str] = frozenset()  # left during the year
    mergers: frozenset[tuple[str, str]] = frozenset()  # (unit merged, unit it merged into)


_CITY = {
    Action.REGISTER_CLUSTER,
    Action.PUBLISH_CRITERIA,
    Action.OPEN_YEAR,
    Action.CITY_ADJUST,
    Action.DECIDE_PROPOSAL,
    Action.REOPEN,
    Action.READ_YEAR,
    Action.READ_OWN_UNIT,
    Action.READ_PUBLISHED,
    Action.READ_AUDIT,
}
_SECRETARIAT = {
    Action.OPEN_YEAR,
    Action.MANAGE_YEAR,
    Action.ROTATE_LEADERSHIP,
    Action.VERIFY_SCORE,
    Action.DECIDE_EXPLANATION,
    Action.FINALISE,
    Action.READ_YEAR,
    Action.READ_OWN_UNIT,
    Action.READ_PUBLISHED,
}
# Judging a unit's score: never one's own (an inspector's, the secretariat's alike).
_JUDGING = {Action.VERIFY_SCORE, Action.DECIDE_EXPLANATION}
_OWN_UNIT = {
    Role.MEMBER_OFFICER: {Action.REGISTER_TOPIC, Action.SELF_SCORE, Action.ANSWER_FINDING},
    Role.MEMBER_HEAD: {Action.SIGN_PLEDGE, Action.SUBMIT_SELF_ASSESSMENT, Action.SELF_SCORE},
}


def may(actor: Actor, action: Action, year: YearContext, unit: str | None = None) -> bool:
    """Whether the actor may do the action in this cluster-year, on this unit if it names one."""
    if actor.role is Role.CITY_BOARD:
        return action in _CITY
    if actor.role is Role.AUDITOR:
        return action in {
            Action.READ_YEAR,
            Action.READ_OWN_UNIT,
            Action.READ_PUBLISHED,
            Action.READ_AUDIT,
        }
    if actor.role is Role.DASHBOARD:
        return action is Action.READ_PUBLISHED
    if actor.role is Role.SECRETARIAT:
        if actor.unit is not None and actor.unit == year.leader:
            # The secretariat verifies the others and decides their explanations; its own
            # unit is checked by an inspector.
            own_unit = action in _JUDGING and unit == actor.unit
            return action in _SECRETARIAT and not own_unit
        # Rights follow the leader; a former leader keeps reading the year it led.
        return actor.unit in year.former_leaders and action in {
            Action.READ_YEAR,
            Action.READ_OWN_UNIT,
            Action.READ_PUBLISHED,
        }
    if actor.unit is None:
        return False
    if actor.unit not in year.members:
        # A unit that left keeps reading the year's published results and its own records.
        own = action is Action.READ_OWN_UNIT and unit in (None, actor.unit)
        return actor.unit in year.former_members and (action is Action.READ_PUBLISHED or own)
    if action is Action.READ_PUBLISHED:
        return True  # published results are every member's to read
    if actor.role is Role.CROSS_INSPECTOR:
        assigned = (actor.unit, unit) in year.inspected_by
        if action is Action.VERIFY_SCORE:
            return unit != actor.unit and assigned
        # An inspector reads the drafts and evidence of the units it checks.
        return action is Action.READ_OWN_UNIT and (unit in (None, actor.unit) or assigned)
    if action is Action.READ_OWN_UNIT:
        # The unit a member merged into takes its records with it.
        return unit in (None, actor.unit) or (unit, actor.unit) in year.mergers
    # Writing is always about a named unit, and only one's own.
    return action in _OWN_UNIT.get(actor.role, set()) and unit == actor.unit


# The refusal that says the most, when every role of a caller is refused.
_TELLING = ("OWN_UNIT_INSPECTION", "NOT_ASSIGNED_INSPECTOR", "NOT_THE_LEADER", "FORBIDDEN")


def authorise(caller: Caller, action: Action, year: YearContext, unit: str | None = None) -> Actor:
    """The caller acting in the first of its roles that may; else Forbidden, in the words
    of the role whose refusal says the most (an inspector not assigned, say, rather than
    a plain "no"), whatever the order of the roles. The refusal names that role."""
    refusals: list[Forbidden] = []
    for actor in caller.actors():
        if may(actor, action, year, unit):
            return actor
        refusals.append(refusal(actor, action, year, unit))
    if not refusals:
        raise Forbidden("NO_ROLE", "Tài khoản của bạn không có vai trò nào.")
    raise min(refusals, key=lambda r: _TELLING.index(r.code))


def refusal(actor: Actor, action: Action, year: YearContext, unit: str | None = None) -> Forbidden:
    """Why this role may not, in words the actor understands."""
    own_unit = action in _JUDGING and unit == actor.unit
    if own_unit and actor.role in (Role.CROSS_INSPECTOR, Role.SECRETARIAT):
        code = "OWN_UNIT_INSPECTION"
        message = "Không đơn vị nào được kiểm tra, thẩm định điểm của chính đơn vị mình."
    elif actor.role is Role.CROSS_INSPECTOR and action is Action.VERIFY_SCORE:
        code = "NOT_ASSIGNED_INSPECTOR"
        message = f"Đơn vị {actor.unit} không được phân công kiểm tra đơn vị {unit}."
    elif actor.role is Role.SECRETARIAT and actor.unit != year.leader:
        code = "NOT_THE_LEADER"
        message = (
            f"Đơn vị {actor.unit} không phải Cụm trưởng năm nay nên không có quyền "
            "của cơ quan thường trực."
        )
    else:
        target = f" đối với đơn vị {unit}" if unit else ""
        code = "FORBIDDEN"
        message = f"Vai trò {ROLE_NAMES[actor.role]} không có quyền thực hiện thao tác này{target}."
    return Forbidden(code, message, role=actor.role.value)
