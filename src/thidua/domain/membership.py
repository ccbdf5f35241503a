"""Dated membership of a cluster: units join, leave and merge on a date, mid-year included."""

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from thidua.domain.errors import InvalidState, RuleViolation
from thidua.domain.text import nfc


@dataclass(frozen=True)
class Membership:
    unit: str  # a short code, e.g. "bhxh-hn"
    name: str  # as people write it, e.g. "BHXH thành phố Hà Nội"
    joined_on: date
    left_on: date | None = None
    merged_into: str | None = None

    def current_on(self, day: date) -> bool:
        """A member from the day it joins until the day before it leaves."""
        return self.joined_on <= day and (self.left_on is None or day < self.left_on)

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "name": self.name,
            "joined_on": self.joined_on.isoformat(),
            "left_on": None if self.left_on is None else self.left_on.isoformat(),
            "merged_into": self.merged_into,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Membership":
        left = data.get("left_on")
        return cls(
            unit=data["unit"],
            name=nfc(data["name"]),
            joined_on=date.fromisoformat(data["joined_on"]),
            left_on=None if left is None else date.fromisoformat(left),
            merged_into=data.get("merged_into"),
        )


def current_members(
    members: dict[str, Membership], day: date, past: list[Membership] | None = None
) -> frozenset[str]:
    """The units that count on this day: quorum, vote and quota bases all use this.

    `past` holds the earlier periods of units that left and joined again."""
    periods = [*members.values(), *(past or [])]
    return frozenset(m.unit for m in periods if m.current_on(day))


def check_join(members: dict[str, Membership], unit: str, name: str, on: date) -> None:
    if not unit or not name.strip():
        raise RuleViolation("MEMBER_INCOMPLETE", "Đơn vị thành viên cần có mã và tên.")
    existing = members.get(unit)
    if existing is not None and (existing.left_on is None or existing.left_on > on):
        raise InvalidState("ALREADY_MEMBER", f"Đơn vị {existing.name} đã là thành viên của cụm.")


def leaving(
    members: dict[str, Membership], unit: str, on: date, merged_into: str | None = None
) -> Membership:
    """The membership as it ends on this day; refused for a unit that is not a member then."""
    membership = members.get(unit)
    if membership is None or not membership.current_on(on):
        raise InvalidState(
            "NOT_A_MEMBER", f"Đơn vị {unit} không phải thành viên của cụm vào ngày {on:%d/%m/%Y}."
        )
    if merged_into is not None:
        target = members.get(merged_into)
        if merged_into == unit or target is None or not target.current_on(on):
            raise RuleViolation(
                "MERGE_TARGET_NOT_MEMBER",
                f"Đơn vị {merged_into} phải là thành viên khác của cụm để nhận sáp nhập.",
            )
    return replace(membership, left_on=on, merged_into=merged_into)
