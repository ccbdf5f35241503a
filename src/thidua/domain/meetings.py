"""Meetings, attendance and secret-ballot rounds: only tallies are kept, never who voted how."""

from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from thidua.domain.errors import InvalidState, RuleViolation
from thidua.domain.rules import YearRules, quorum_met, vote_base_size, vote_passed


@dataclass(frozen=True)
class Round:
    """One secret-ballot round on one candidate; a failed vote may be run again as a new round."""

    number: int
    candidate: str
    question: str
    yes: int | None = None  # None while the ballot is open
    no: int = 0
    blank: int = 0
    base: int = 0
    passed: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Round":
        return cls(**data)


@dataclass(frozen=True)
class Meeting:
    meeting_id: str
    title: str
    held_on: date
    members: frozenset[str]  # the current members on the day: the quorum's base
    present: frozenset[str] = frozenset()
    rounds: tuple[Round, ...] = field(default=())

    def quorum(self, rules: YearRules) -> bool:
        return quorum_met(len(self.present), len(self.members), rules)

    def open_round(self) -> Round | None:
        return next((r for r in self.rounds if r.passed is None), None)

    def won_by(self, unit: str) -> bool:
        return any(r.candidate == unit and r.passed for r in self.rounds)

    def to_json(self) -> dict[str, Any]:
        return {
            "meeting_id": self.meeting_id,
            "title": self.title,
            "held_on": self.held_on.isoformat(),
            "members": sorted(self.members),
            "present": sorted(self.present),
            "rounds": [r.to_json() for r in self.rounds],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Meeting":
        return cls(
            meeting_id=data["meeting_id"],
            title=data["title"],
            held_on=date.fromisoformat(data["held_on"]),
            members=frozenset(data["members"]),
            present=frozenset(data["present"]),
            rounds=tuple(Round.from_json(r) for r in data["rounds"]),
        )


def check_attendance(meeting: Meeting, present: frozenset[str]) -> None:
    strangers = present - meeting.members
    if strangers:
        raise RuleViolation(
            "NOT_A_MEMBER",
            "Chỉ thành viên của cụm vào ngày họp mới được ghi nhận có mặt: "
            + ", ".join(sorted(strangers))
            + ".",
        )
    if meeting.rounds:
        raise InvalidState("VOTING_STARTED", "Đã bắt đầu bỏ phiếu, không thể sửa danh sách có mặt.")


def check_open_round(meeting: Meeting, candidate: str, rules: YearRules) -> None:
    if not meeting.quorum(rules):
        raise RuleViolation(
            "NO_QUORUM",
            f"Cuộc họp chưa đủ số thành viên tham dự ({len(meeting.present)}/"
            f"{len(meeting.members)}, cần ít nhất {rules.quorum} số thành viên) "
            "nên không thể bỏ phiếu.",
        )
    if meeting.open_round() is not None:
        raise InvalidState("ROUND_OPEN", "Đang có một vòng bỏ phiếu chưa kiểm phiếu xong.")
    if candidate not in meeting.members:
        raise RuleViolation(
            "CANDIDATE_NOT_MEMBER", f"Đơn vị {candidate} không phải thành viên của cụm."
        )


def counted(meeting: Meeting, yes: int, no: int, blank: int, rules: YearRules) -> Round:
    """The open round with its tally: one ballot per unit present, at most."""
    current = meeting.open_round()
    if current is None:
        raise InvalidState("NO_OPEN_ROUND", "Không có vòng bỏ phiếu nào đang mở.")
    if min(yes, no, blank) < 0 or yes + no + blank > len(meeting.present):
        raise RuleViolation(
            "TALLY_INVALID",
            f"Tổng số phiếu ({yes + no + blank}) không được vượt quá số đơn vị có mặt "
            f"({len(meeting.present)}); mỗi đơn vị chỉ có một phiếu.",
        )
    base = vote_base_size(len(meeting.members), len(meeting.present), rules)
    return replace(
        current, yes=yes, no=no, blank=blank, base=base, passed=vote_passed(yes, base, rules)
    )
