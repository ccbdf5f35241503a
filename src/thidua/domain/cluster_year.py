"""A cluster's year: members, leadership, rules, criteria, inspections, meetings, results.

The pledge and each unit's scorecard are aggregates of their own, so units can sign and
score at the same time; the commands that span them gather their facts in the service.
"""

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date
from enum import StrEnum
from typing import Any

from eventsourcing.domain import event

from thidua.domain.criteria import CriteriaSet, changed_codes
from thidua.domain.entity import KEPT, Entity
from thidua.domain.errors import InvalidState, NotFound, RuleViolation
from thidua.domain.meetings import Meeting, Round, check_attendance, check_open_round, counted
from thidua.domain.membership import Membership, check_join, current_members, leaving
from thidua.domain.proposals import (
    Award,
    CityDecision,
    Dossier,
    FlagFacts,
    Proposal,
    Sending,
    Verdict,
    check_certificates,
    check_decision,
    check_flag,
    check_flag_quota,
    check_no_active,
    superseded,
)
from thidua.domain.results import RANKING_LAYER, Reopening, ResultDiff, YearResult, result_diff
from thidua.domain.rights import YearContext
from thidua.domain.rules import YearRules, amendments_allowed
from thidua.domain.text import nfc


class Status(StrEnum):
    OPEN = "open"
    FINALISED = "finalised"


MAX_DEPUTIES = 2


def check_leadership(leader: str, deputies: list[str], members: frozenset[str]) -> None:
    if leader not in members:
        raise RuleViolation(
            "LEADER_NOT_MEMBER", f"Cụm trưởng phải là thành viên hiện tại của cụm ({leader})."
        )
    if len(deputies) > MAX_DEPUTIES or len(set(deputies)) != len(deputies):
        raise RuleViolation("DEPUTIES_INVALID", "Cụm có một hoặc hai Cụm phó, không trùng nhau.")
    if leader in deputies or not set(deputies) <= members:
        raise RuleViolation(
            "DEPUTIES_INVALID",
            "Cụm phó phải là thành viên hiện tại của cụm và khác Cụm trưởng.",
        )


class ClusterYear(Entity):
    @staticmethod
    def create_id(year: int, **_: Any) -> str:
        return f"year/{year}"

    @classmethod
    def open(
        cls,
        year: int,
        members: list[Membership],
        leader: str,
        deputies: list[str],
        rules: YearRules,
        former_leaders: list[str] | None = None,
    ) -> "ClusterYear":
        """A new cluster-year, refused unless its leadership is among its members."""
        starts = date(year, 1, 1)
        check_leadership(
            leader, deputies, frozenset(m.unit for m in members if m.current_on(starts))
        )
        return cls(
            year=year,
            members=[m.to_json() for m in members],
            leader=leader,
            deputies=deputies,
            rules=rules.to_json(),
            former_leaders=former_leaders or [],
        )

    @event("Opened")
    def __init__(
        self,
        year: int,
        members: list[dict[str, Any]],
        leader: str,
        deputies: list[str],
        rules: dict[str, Any],
        former_leaders: list[str],
    ) -> None:
        self.year = year
        self.members = {m["unit"]: Membership.from_json(m) for m in members}
        self.past_memberships: list[Membership] = []  # ended periods of units that rejoined
        self.leader = leader  # as last recorded; rights follow `leadership_on(day)`
        self.deputies = list(deputies)
        self.former_leaders = list(former_leaders)  # the years before, and rotated out
        # Each leadership and the day it takes effect, in the order recorded.
        self.leaderships: list[tuple[date, str, list[str]]] = [
            (date(year, 1, 1), leader, list(deputies))
        ]
        self.rules = YearRules.from_stored(rules, YearRules())
        self.criteria: list[dict[str, Any]] = []  # adopted versions, in order
        self.inspections: dict[str, dict[str, Any]] = {}
        self.meetings: dict[str, Meeting] = {}
        self.status = Status.OPEN
        self.result_version = 0
        self.results: dict[int, YearResult] = {}
        self.mid_year_review: YearResult | None = None
        self.proposals: dict[str, Proposal] = {}
        self.reopenings: list[dict[str, Any]] = []
        self.sendings: list[Sending] = []

    # What the rules and rights read.

    def members_on(self, day: date) -> frozenset[str]:
        return current_members(self.members, day, self.past_memberships)

    def leadership_on(self, day: date) -> tuple[str, list[str]]:
        """The leader and deputies in office on this day: a rotation takes effect on its day."""
        in_force = [
            (on, leader, deputies) for on, leader, deputies in self.leaderships if on <= day
        ]
        _, leader, deputies = max(in_force or self.leaderships[:1], key=lambda entry: entry[0])
        return leader, deputies

    def context(self, day: date) -> YearContext:
        """Who may do what on this day: its leader, members and inspections then."""
        leader, _ = self.leadership_on(day)
        rotated_out = {past for on, past, _ in self.leaderships if on <= day and past != leader}
        pairs = {
            (i["inspector"], unit)
            for i in self.inspections.values()
            if i.get("on") is None or date.fromisoformat(i["on"]) <= day
            for unit in i["units"]
        }
        before = {u for u in self.former_leaders if u != leader}
        members = self.members_on(day)
        every = [*self.members.values(), *self.past_memberships]
        left = {m for m in every if m.left_on is not None and m.left_on <= day}
        return YearContext(
            leader=leader,
            former_leaders=frozenset(before | rotated_out),
            members=members,
            inspected_by=frozenset(pairs),
            former_members=frozenset(m.unit for m in left if m.unit not in members),
            mergers=frozenset((m.unit, m.merged_into) for m in left if m.merged_into),
        )

    def criteria_on(self, day: date) -> CriteriaSet:
        """The version in force on this day: the latest adopted one effective by then."""
        in_force = [
            i for i, c in enumerate(self.criteria) if date.fromisoformat(c["effective_from"]) <= day
        ]
        if not in_force:
            raise InvalidState(
                "NO_CRITERIA",
                f"Cụm chưa thông qua bộ tiêu chí chấm điểm có hiệu lực vào ngày {day:%d/%m/%Y}.",
            )
        return self._criteria_set(in_force[-1])

    def latest_criteria(self) -> CriteriaSet:
        if not self.criteria:
            raise InvalidState("NO_CRITERIA", "Cụm chưa thông qua bộ tiêu chí chấm điểm.")
        return self._criteria_set(len(self.criteria) - 1)

    def _criteria_set(self, index: int) -> CriteriaSet:
        """An adopted version read once (the same object each time, so what is worked out
        from it can be kept): adopted versions are only ever added, never changed."""
        kept: dict[int, tuple[dict[str, Any], CriteriaSet]] = self.__dict__.setdefault(
            KEPT + "criteria", {}
        )
        adopted = self.criteria[index]
        found = kept.get(index)
        if found is None or found[0] is not adopted:
            found = kept[index] = (adopted, CriteriaSet.from_json(adopted["criteria"]))
        return found[1]

    def check_open(self) -> None:
        if self.status is Status.FINALISED:
            raise InvalidState(
                "YEAR_FINALISED",
                f"Kết quả năm {self.year} của cụm đã được chốt; chỉ Ban Thi đua - Khen thưởng "
                "thành phố mới có thể mở lại, kèm lý do.",
            )

    def check_self_score_deadline(self, today: date) -> None:
        deadline = self.rules.deadlines.self_scores_on(self.year)
        if today > deadline:
            raise RuleViolation(
                "SELF_SCORE_DEADLINE_PASSED",
                f"Đã quá hạn tự chấm điểm ({deadline:%d/%m/%Y}); mọi điều chỉnh sau hạn do "
                "cơ quan thường trực hoặc thành phố thực hiện.",
            )

    # Members and leadership.

    def join(self, unit: str, name: str, on: date) -> None:
        check_join(self.members, unit, nfc(name), on)
        self._joined(membership=Membership(unit, nfc(name), on).to_json())

    @event("MemberJoined")
    def _joined(self, membership: dict[str, Any]) -> None:
        earlier = self.members.get(membership["unit"])
        if earlier is not None:
            self.past_memberships.append(earlier)
        self.members[membership["unit"]] = Membership.from_json(membership)

    def leave(self, unit: str, on: date, merged_into: str | None = None) -> None:
        if unit == self.leader:
            raise RuleViolation(
                "LEADER_CANNOT_LEAVE",
                "Cụm trưởng không thể rời cụm trước khi cụm bầu Cụm trưởng mới.",
            )
        self._left(membership=leaving(self.members, unit, on, merged_into).to_json())

    @event("MemberLeft")
    def _left(self, membership: dict[str, Any]) -> None:
        self.members[membership["unit"]] = Membership.from_json(membership)
        if membership["unit"] in self.deputies:
            self.deputies.remove(membership["unit"])

    def rotate_leadership(self, leader: str, deputies: list[str], on: date) -> None:
        """The rotation agreed at the year-end meeting: in force from its day (`on`)."""
        check_leadership(leader, deputies, self.members_on(on))
        self._rotated(leader=leader, deputies=deputies, on=on)

    @event("LeadershipRotated")
    def _rotated(self, leader: str, deputies: list[str], on: date) -> None:
        if self.leader != leader and self.leader not in self.former_leaders:
            self.former_leaders.append(self.leader)
        self.leader, self.deputies = leader, list(deputies)
        self.leaderships.append((on, leader, list(deputies)))

    def set_rules(self, rules: YearRules) -> None:
        self.check_open()
        self._rules_set(rules=rules.to_json())

    @event("RulesSet")
    def _rules_set(self, rules: dict[str, Any]) -> None:
        self.rules = YearRules.from_stored(rules, self.rules)

    # Criteria.

    def adopt_criteria(
        self, criteria: CriteriaSet, template: CriteriaSet, template_name: str
    ) -> None:
        """Adopt a version of the city's template, amended in at most the allowed share."""
        self.check_open()
        amended = changed_codes(template, criteria)
        allowed = amendments_allowed(len(template.criteria), self.rules)
        if len(amended) > allowed:
            raise RuleViolation(
                "AMENDMENT_SHARE_EXCEEDED",
                f"Cụm chỉ được sửa đổi tối đa {allowed} trên {len(template.criteria)} tiêu chí "
                f"của dự thảo thành phố ({self.rules.amendment_share}); bộ tiêu chí này sửa "
                f"{len(amended)}: {', '.join(sorted(amended))}.",
            )
        if any(c["criteria"]["version"] == criteria.version for c in self.criteria):
            raise InvalidState(
                "CRITERIA_VERSION_EXISTS",
                f"Cụm đã thông qua phiên bản tiêu chí {criteria.version}.",
            )
        if self.criteria and criteria.effective_from < date.fromisoformat(
            self.criteria[-1]["effective_from"]
        ):
            raise RuleViolation(
                "CRITERIA_EFFECTIVE_DATE",
                "Phiên bản tiêu chí mới phải có hiệu lực sau phiên bản đang áp dụng.",
            )
        self._adopted(
            criteria=criteria.to_json(),
            template_name=template_name,
            template_version=template.version,
            amended=sorted(amended),
        )

    @event("CriteriaAdopted")
    def _adopted(
        self,
        criteria: dict[str, Any],
        template_name: str,
        template_version: str,
        amended: list[str],
    ) -> None:
        self.criteria.append(
            {
                "criteria": criteria,
                "effective_from": criteria["effective_from"],
                "template_name": template_name,
                "template_version": template_version,
                "amended": amended,
            }
        )

    # Cross-inspection.

    def assign_inspection(
        self, inspection_id: str, inspector: str, units: list[str], on: date
    ) -> None:
        self.check_open()
        members = self.members_on(on)
        if inspector in units:
            raise RuleViolation(
                "OWN_UNIT_INSPECTION", "Đơn vị không được phân công kiểm tra chéo chính mình."
            )
        if inspector not in members or not set(units) <= members or not units:
            raise RuleViolation(
                "NOT_A_MEMBER",
                "Đơn vị kiểm tra và đơn vị được kiểm tra phải là thành viên của cụm.",
            )
        if inspection_id in self.inspections:
            raise InvalidState(
                "INSPECTION_EXISTS", f"Đợt kiểm tra {inspection_id} đã được phân công."
            )
        self._inspection_assigned(
            inspection_id=inspection_id, inspector=inspector, units=units, on=on
        )

    @event("InspectionAssigned")
    def _inspection_assigned(
        self, inspection_id: str, inspector: str, units: list[str], on: date | None = None
    ) -> None:
        """In force from its day (`on`; assignments recorded before it had one: the year)."""
        assigned = {"inspector": inspector, "units": list(units)}
        if on is not None:
            assigned["on"] = on.isoformat()
        self.inspections[inspection_id] = assigned

    # Meetings and secret ballots.

    def meeting(self, meeting_id: str) -> Meeting:
        if meeting_id not in self.meetings:
            raise InvalidState("UNKNOWN_MEETING", f"Không có cuộc họp {meeting_id}.")
        return self.meetings[meeting_id]

    def convene(self, meeting_id: str, title: str, held_on: date) -> None:
        if meeting_id in self.meetings:
            raise InvalidState("MEETING_EXISTS", f"Cuộc họp {meeting_id} đã có.")
        members = sorted(self.members_on(held_on))
        self._convened(meeting_id=meeting_id, title=nfc(title), held_on=held_on, members=members)

    @event("MeetingConvened")
    def _convened(self, meeting_id: str, title: str, held_on: date, members: list[str]) -> None:
        self.meetings[meeting_id] = Meeting(meeting_id, title, held_on, frozenset(members))

    def record_attendance(self, meeting_id: str, present: list[str]) -> None:
        check_attendance(self.meeting(meeting_id), frozenset(present))
        self._attendance(meeting_id=meeting_id, present=sorted(set(present)))

    @event("AttendanceRecorded")
    def _attendance(self, meeting_id: str, present: list[str]) -> None:
        self.meetings[meeting_id] = replace(self.meetings[meeting_id], present=frozenset(present))

    def open_ballot(self, meeting_id: str, candidate: str, question: str) -> None:
        check_open_round(self.meeting(meeting_id), candidate, self.rules)
        self._ballot_opened(meeting_id=meeting_id, candidate=candidate, question=nfc(question))

    @event("BallotOpened")
    def _ballot_opened(self, meeting_id: str, candidate: str, question: str) -> None:
        meeting = self.meetings[meeting_id]
        number = len(meeting.rounds) + 1
        rounds = (*meeting.rounds, Round(number, candidate, question))
        self.meetings[meeting_id] = replace(meeting, rounds=rounds)

    def record_tally(self, meeting_id: str, yes: int, no: int, blank: int) -> None:
        """The counting committee's tally: numbers only, never who voted how."""
        tallied = counted(self.meeting(meeting_id), yes, no, blank, self.rules)
        self._tallied(meeting_id=meeting_id, round=tallied.to_json())

    @event("BallotTallied")
    def _tallied(self, meeting_id: str, round: dict[str, Any]) -> None:
        meeting = self.meetings[meeting_id]
        done = Round.from_json(round)
        rounds = tuple(done if r.number == done.number else r for r in meeting.rounds)
        self.meetings[meeting_id] = replace(meeting, rounds=rounds)

    def vote_won_by(self, unit: str) -> bool:
        return any(m.won_by(unit) for m in self.meetings.values())

    # Results: the frozen mid-year review, finalisation and reopening.

    def record_mid_year_review(self, result: YearResult) -> None:
        if self.mid_year_review is not None:
            raise InvalidState("MID_YEAR_REVIEW_EXISTS", "Đã sơ kết 6 tháng cho năm này.")
        self._mid_year_reviewed(result=result.to_json())

    @event("MidYearReviewRecorded")
    def _mid_year_reviewed(self, result: dict[str, Any]) -> None:
        self.mid_year_review = YearResult.from_json(result)

    def finalise(self, result: YearResult, flagged: Mapping[str, Sequence[str]]) -> None:
        """Lock the year on this result; refused while any unit has criteria to re-score."""
        self.check_open()
        waiting = {unit: codes for unit, codes in flagged.items() if codes}
        if waiting:
            listed = "; ".join(f"{u}: {', '.join(c)}" for u, c in sorted(waiting.items()))
            raise RuleViolation(
                "CRITERIA_FLAGGED",
                "Chưa thể chốt kết quả: các đơn vị sau còn tiêu chí phải chấm lại do bộ tiêu "
                f"chí đã thay đổi ({listed}).",
            )
        self._finalised(result=result.to_json(), result_version=self.result_version + 1)

    @event("Finalised")
    def _finalised(self, result: dict[str, Any], result_version: int) -> None:
        self.status = Status.FINALISED
        self.result_version = result_version
        self.results[result_version] = YearResult.from_json(result)

    def reopen(self, reason: str) -> None:
        if self.status is not Status.FINALISED:
            raise InvalidState(
                "YEAR_NOT_FINALISED", "Kết quả năm chưa được chốt nên không cần mở lại."
            )
        if not reason.strip():
            raise RuleViolation("REASON_REQUIRED", "Mở lại kết quả đã chốt phải nêu rõ lý do.")
        self._reopened(reason=nfc(reason), superseding=self.result_version)

    @event("Reopened")
    def _reopened(self, reason: str, superseding: int) -> None:
        self.status = Status.OPEN
        self.reopenings.append({"reason": reason, "result_version": superseding})
        self.proposals = superseded(self.proposals, superseding, reason)

    def current_result(self) -> YearResult:
        if self.status is not Status.FINALISED:
            raise InvalidState(
                "RESULT_NOT_FINALISED",
                "Kết quả năm chưa được chốt; đề nghị khen thưởng phải dựa trên kết quả đã chốt.",
            )
        return self.results[self.result_version]

    def result(self, version: int) -> YearResult:
        """A finalised result version, kept whatever reopened it."""
        found = self.results.get(version)
        if found is None:
            raise NotFound(
                "UNKNOWN_RESULT_VERSION",
                f"Năm {self.year} không có phiên bản kết quả đã chốt số {version}.",
            )
        return found

    def diff(self, from_version: int, to_version: int) -> ResultDiff:
        """What changed from one result version to another, and the reopenings between."""
        old, new = self.result(from_version), self.result(to_version)
        low, high = sorted((from_version, to_version))
        between = tuple(
            Reopening(r["reason"], r["result_version"])
            for r in self.reopenings
            if low <= r["result_version"] < high
        )
        return ResultDiff(from_version, to_version, result_diff(old, new), between)

    # Proposals to the city.

    def propose(
        self,
        proposal_id: str,
        award: Award,
        units: list[str],
        documents: list[str],
        on: date,
        flag_facts: Mapping[str, FlagFacts] | None = None,
    ) -> None:
        self.current_result()
        if not units:
            raise RuleViolation(
                "PROPOSAL_EMPTY", "Đề nghị khen thưởng phải nêu ít nhất một đơn vị."
            )
        members = self.members_on(on)
        check_no_active(self.proposals, award, self.result_version)
        if not documents:
            raise RuleViolation(
                "DOSSIER_INCOMPLETE",
                "Hồ sơ đề nghị cần có tờ trình, biên bản họp và báo cáo thành tích.",
            )
        if award is Award.FLAG:
            check_flag_quota(len(units), self.rules)
            ranking = self.current_result().layers.get(RANKING_LAYER)
            places = {} if ranking is None else {p.unit: p for p in ranking.ranking.places}
            for unit in units:
                facts = (flag_facts or {}).get(unit, FlagFacts(None, False, False))
                place = places.get(unit)
                floor = None if place is None else place.floor
                check_flag(unit, facts, members, self.rules, floor)
        else:
            check_certificates(tuple(units), members, self.rules)
        if proposal_id in self.proposals:
            raise InvalidState("PROPOSAL_EXISTS", f"Đề nghị {proposal_id} đã có.")
        proposal = Proposal(proposal_id, award, tuple(units), self.result_version, tuple(documents))
        self._proposed(proposal=proposal.to_json())

    @event("Proposed")
    def _proposed(self, proposal: dict[str, Any]) -> None:
        self.proposals[proposal["proposal_id"]] = Proposal.from_json(proposal)

    # The result and its dossier to the city, and the city's decisions.

    def send_results(self, dossier: Dossier, on: date, reason: str | None = None) -> None:
        """Send the finalised result to the city with the dossier and every proposal on it
        not sent yet. After the deadline (results to the city, in the year after) it is
        still sent, marked late, and needs a reason."""
        self.current_result()
        dossier.check()
        unsent = [
            p.proposal_id
            for p in self.proposals.values()
            if p.result_version == self.result_version and not p.superseded and p.sent_on is None
        ]
        if not unsent:
            raise InvalidState(
                "NOTHING_TO_SEND",
                f"Chưa có đề nghị khen thưởng nào dựa trên kết quả phiên bản {self.result_version} "
                "chưa được gửi thành phố.",
            )
        deadline = self.rules.deadlines.results_to_city_on(self.year)
        late = on > deadline
        if late and not (reason or "").strip():
            raise RuleViolation(
                "LATE_REASON_REQUIRED",
                f"Đã quá hạn gửi kết quả về thành phố ({deadline:%d/%m/%Y}); gửi muộn phải nêu "
                "lý do.",
            )
        self._results_sent(
            result_version=self.result_version,
            proposals=unsent,
            proposal_letter=nfc(dossier.proposal_letter),
            minutes=nfc(dossier.minutes),
            achievement_report=nfc(dossier.achievement_report),
            on=on,
            deadline=deadline,
            late=late,
            reason=nfc(reason) if reason and reason.strip() else None,
        )

    @event("ResultsSent")
    def _results_sent(
        self,
        result_version: int,
        proposals: list[str],
        proposal_letter: str,
        minutes: str,
        achievement_report: str,
        on: date,
        deadline: date,
        late: bool,
        reason: str | None,
    ) -> None:
        dossier = Dossier(proposal_letter, minutes, achievement_report)
        sending = Sending(result_version, tuple(proposals), dossier, on, deadline, late, reason)
        self.sendings.append(sending)
        for pid in proposals:
            self.proposals[pid] = replace(self.proposals[pid], sent_on=on)

    def decide_proposal(
        self,
        proposal_id: str,
        verdict: Verdict,
        units_kept: list[str],
        reason: str | None,
        on: date,
    ) -> None:
        """The city's decision on a proposal sent to it: approved, cut or rejected."""
        found = self.proposals.get(proposal_id)
        kept = check_decision(found, proposal_id, verdict, tuple(units_kept), reason)
        self._proposal_decided(
            proposal_id=proposal_id,
            outcome=verdict.value,
            units_kept=list(kept),
            reason=nfc(reason) if reason and reason.strip() else None,
            on=on,
        )

    @event("ProposalDecided")
    def _proposal_decided(
        self, proposal_id: str, outcome: str, units_kept: list[str], reason: str | None, on: date
    ) -> None:
        decision = CityDecision(Verdict(outcome), tuple(units_kept), reason, on)
        self.proposals[proposal_id] = replace(self.proposals[proposal_id], decision=decision)
