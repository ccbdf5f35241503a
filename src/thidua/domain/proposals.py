"""Proposals to the city: the emulation flag for the leading unit, certificates within a quota.

A proposal is built on a finalised result and sent to the city with the year's dossier;
the city decides it (approved, cut, rejected). A reopening supersedes the proposals built
on the result it reopens, and marks those already decided for revocation (thu hồi), with
the reopening's reason (Law on Emulation and Commendation 2022, chapter VII).
"""

from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from typing import Any

from thidua.domain.errors import InvalidState, RuleViolation
from thidua.domain.ranking import Floor, floor_words
from thidua.domain.rules import FlagCondition, YearRules, certificate_quota


class Award(StrEnum):
    FLAG = "flag"  # Cờ thi đua của UBND Thành phố
    CERTIFICATE = "certificate"  # Bằng khen


class Verdict(StrEnum):
    """What the city decided on a proposal."""

    APPROVED = "approved"  # every unit proposed
    CUT = "cut"  # some of them
    REJECTED = "rejected"  # none


@dataclass(frozen=True)
class CityDecision:
    verdict: Verdict
    units_kept: tuple[str, ...]  # approved: every unit; cut: those kept; rejected: none
    reason: str | None
    on: date


@dataclass(frozen=True)
class Revocation:
    """A decision built on a result a reopening superseded: to be revoked (thu hồi)."""

    reason: str  # the reopening's
    result_version: int  # the superseded result


@dataclass(frozen=True)
class Proposal:
    proposal_id: str
    award: Award
    units: tuple[str, ...]
    result_version: int  # the finalised result it was built on
    documents: tuple[str, ...]  # proposal letter, minutes, achievement report
    superseded: bool = False
    sent_on: date | None = None  # the day the secretariat sent it to the city
    decision: CityDecision | None = None
    revocation: Revocation | None = None

    def to_json(self) -> dict[str, Any]:
        """The `Proposed` payload: what was proposed, never what happened to it later."""
        return {
            "proposal_id": self.proposal_id,
            "award": self.award.value,
            "units": list(self.units),
            "result_version": self.result_version,
            "documents": list(self.documents),
            "superseded": self.superseded,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Proposal":
        return cls(
            proposal_id=data["proposal_id"],
            award=Award(data["award"]),
            units=tuple(data["units"]),
            result_version=data["result_version"],
            documents=tuple(data["documents"]),
            superseded=data["superseded"],
        )


@dataclass(frozen=True)
class Dossier:
    """What goes to the city with a finalised result (hồ sơ đề nghị)."""

    proposal_letter: str  # tờ trình
    minutes: str  # biên bản họp
    achievement_report: str  # báo cáo thành tích

    def check(self) -> None:
        documents = (self.proposal_letter, self.minutes, self.achievement_report)
        if not all(d.strip() for d in documents):
            raise RuleViolation(
                "DOSSIER_INCOMPLETE",
                "Hồ sơ gửi thành phố cần có tờ trình, biên bản họp và báo cáo thành tích.",
            )


@dataclass(frozen=True)
class Sending:
    """A finalised result sent to the city with its dossier and the proposals on it."""

    result_version: int
    proposals: tuple[str, ...]
    dossier: Dossier
    on: date  # the day it was sent
    deadline: date  # results to the city, in the year after
    late: bool
    reason: str | None  # why it is late (required then)


def superseded(
    proposals: dict[str, Proposal], result_version: int, reason: str
) -> dict[str, Proposal]:
    """Every proposal built on this result version, marked superseded; those the city
    had decided, marked for revocation with the reopening's reason."""

    def mark(p: Proposal) -> Proposal:
        if p.result_version != result_version:
            return p
        revocation = None if p.decision is None else Revocation(reason, result_version)
        return replace(p, superseded=True, revocation=p.revocation or revocation)

    return {pid: mark(p) for pid, p in proposals.items()}


def check_decision(
    proposal: Proposal | None,
    proposal_id: str,
    verdict: Verdict,
    units_kept: tuple[str, ...],
    reason: str | None,
) -> tuple[str, ...]:
    """The city may decide a proposal that was sent and still stands, once; a cut keeps
    some of its units and drops at least one; a cut or a rejection gives its reason.
    The units the decision keeps."""
    if proposal is None:
        raise InvalidState("UNKNOWN_PROPOSAL", f"Không có đề nghị khen thưởng {proposal_id}.")
    if proposal.superseded:
        raise InvalidState(
            "PROPOSAL_SUPERSEDED",
            f"Đề nghị {proposal_id} dựa trên kết quả phiên bản {proposal.result_version} đã bị "
            "thay thế sau khi mở lại kết quả.",
        )
    if proposal.sent_on is None:
        raise InvalidState(
            "PROPOSAL_NOT_SENT",
            f"Đề nghị {proposal_id} chưa được cơ quan thường trực gửi thành phố cùng hồ sơ.",
        )
    if proposal.decision is not None:
        raise InvalidState(
            "PROPOSAL_DECIDED", f"Thành phố đã quyết định đối với đề nghị {proposal_id}."
        )
    if verdict is not Verdict.APPROVED and not (reason or "").strip():
        raise RuleViolation(
            "REASON_REQUIRED", "Quyết định cắt giảm hoặc không khen thưởng phải nêu lý do."
        )
    if verdict is not Verdict.CUT:
        if units_kept:
            raise RuleViolation(
                "UNITS_KEPT_ONLY_FOR_CUT",
                "Chỉ nêu các đơn vị được giữ lại khi quyết định cắt giảm đề nghị.",
            )
        return proposal.units if verdict is Verdict.APPROVED else ()
    kept = set(units_kept)
    if not units_kept or len(kept) != len(units_kept) or not kept < set(proposal.units):
        raise RuleViolation(
            "CUT_UNITS_INVALID",
            f"Cắt giảm đề nghị {proposal_id} phải giữ lại ít nhất một và bớt ít nhất một trong "
            f"các đơn vị đã đề nghị ({', '.join(proposal.units)}), không trùng lặp.",
        )
    return tuple(u for u in proposal.units if u in kept)


@dataclass(frozen=True)
class FlagFacts:
    """What the flag rule needs, gathered from the result, the meeting and the pledge."""

    first: str | None  # first place of the finalised ranking, after the floor rule
    vote_won: bool  # a ballot round on this unit passed
    new_model_carried_out: bool


def check_flag(
    unit: str,
    facts: FlagFacts,
    members: frozenset[str],
    rules: YearRules,
    floor: tuple[Floor, ...] | None,
) -> None:
    """A flag for this unit, as the year's rules require it.

    `floor` is the unit's floor reasons in the finalised ranking, None when it has no place
    in it. The floor rule holds whatever the year requires; first place already implies it.
    """
    if unit not in members:
        raise RuleViolation("NOT_A_MEMBER", f"Đơn vị {unit} không còn là thành viên của cụm.")
    if rules.requires(FlagCondition.FIRST) and facts.first != unit:
        raise RuleViolation(
            "FLAG_NOT_FIRST",
            f"Đơn vị {unit} không xếp thứ nhất của cụm (sau khi áp dụng điều kiện tối thiểu) "
            "nên không được đề nghị Cờ thi đua.",
        )
    if floor is None:
        raise RuleViolation(
            "FLAG_NOT_RANKED",
            f"Đơn vị {unit} không có trong bảng xếp hạng của kết quả đã chốt "
            "nên không được đề nghị Cờ thi đua.",
        )
    if floor:
        reasons = "; ".join(floor_words(reason, rules) for reason in floor)
        raise RuleViolation(
            "FLAG_FLOOR_RULE",
            f"Đơn vị {unit} không đạt điều kiện tối thiểu ({reasons}) "
            "nên không được đề nghị Cờ thi đua.",
        )
    if rules.requires(FlagCondition.VOTE_WON) and not facts.vote_won:
        raise RuleViolation(
            "FLAG_NOT_VOTED",
            f"Đơn vị {unit} chưa được hội nghị cụm bỏ phiếu suy tôn đạt tỷ lệ quy định.",
        )
    if rules.requires(FlagCondition.NEW_MODEL) and not facts.new_model_carried_out:
        raise RuleViolation(
            "FLAG_NO_NEW_MODEL",
            f"Đơn vị {unit} chưa có mô hình mới được đăng ký và triển khai thực hiện "
            "nên chưa đủ điều kiện đề nghị Cờ thi đua.",
        )


def check_certificates(units: tuple[str, ...], members: frozenset[str], rules: YearRules) -> None:
    outsiders = [u for u in units if u not in members]
    if outsiders:
        raise RuleViolation(
            "NOT_A_MEMBER",
            "Chỉ đề nghị Bằng khen cho thành viên hiện tại của cụm: " + ", ".join(outsiders) + ".",
        )
    if len(set(units)) != len(units):
        raise RuleViolation("DUPLICATE_UNIT", "Một đơn vị bị nêu nhiều lần trong đề nghị.")
    quota = certificate_quota(len(members), rules)
    if len(units) > quota:
        raise RuleViolation(
            "CERTIFICATE_QUOTA_EXCEEDED",
            f"Số đơn vị đề nghị Bằng khen ({len(units)}) vượt quá chỉ tiêu {quota} "
            f"({rules.certificate_share} của {len(members)} thành viên, làm tròn xuống).",
        )


def check_flag_quota(count: int, rules: YearRules) -> None:
    if count > rules.flag_quota:
        raise RuleViolation(
            "FLAG_QUOTA_EXCEEDED",
            f"Mỗi cụm chỉ được đề nghị {rules.flag_quota} Cờ thi đua.",
        )


def check_no_active(proposals: dict[str, Proposal], award: Award, result_version: int) -> None:
    for p in proposals.values():
        if p.award is award and p.result_version == result_version and not p.superseded:
            raise InvalidState(
                "PROPOSAL_EXISTS",
                "Đã có đề nghị khen thưởng loại này cho kết quả hiện hành.",
            )
