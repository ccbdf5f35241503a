"""Proposals to the city: the emulation flag for the leading unit, certificates within a quota."""

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from thidua.domain.errors import InvalidState, RuleViolation
from thidua.domain.ranking import Floor, floor_words
from thidua.domain.rules import FlagCondition, YearRules, certificate_quota


class Award(StrEnum):
    FLAG = "flag"  # Cờ thi đua của UBND Thành phố
    CERTIFICATE = "certificate"  # Bằng khen


@dataclass(frozen=True)
class Proposal:
    proposal_id: str
    award: Award
    units: tuple[str, ...]
    result_version: int  # the finalised result it was built on
    documents: tuple[str, ...]  # proposal letter, minutes, achievement report
    superseded: bool = False

    def to_json(self) -> dict[str, Any]:
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


def superseded(proposals: dict[str, Proposal], result_version: int) -> dict[str, Proposal]:
    """Every proposal built on this result version, marked superseded."""
    return {
        pid: replace(p, superseded=True) if p.result_version == result_version else p
        for pid, p in proposals.items()
    }


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
