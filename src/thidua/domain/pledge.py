"""The emulation pledge of a cluster-year: commitments, signatures, topics and new models."""

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from eventsourcing.domain import event

from thidua.domain.days import local_day
from thidua.domain.entity import Entity
from thidua.domain.errors import InvalidState, RuleViolation
from thidua.domain.text import nfc


class TopicKind(StrEnum):
    TOPIC = "topic"  # chuyên đề thi đua
    NEW_MODEL = "new_model"  # mô hình mới


class Pledge(Entity):
    @staticmethod
    def create_id(year: int, **_: Any) -> str:
        return f"pledge/{year}"

    @classmethod
    def draft(cls, year: int, commitments: list[str], targets: list[str]) -> "Pledge":
        check_text(
            commitments, "PLEDGE_EMPTY", "Giao ước thi đua cần ít nhất một nội dung cam kết."
        )
        return cls(
            year=year, commitments=[nfc(c) for c in commitments], targets=[nfc(t) for t in targets]
        )

    @event("Drafted")
    def __init__(self, year: int, commitments: list[str], targets: list[str]) -> None:
        self.year = year
        self.commitments = list(commitments)
        self.targets = list(targets)
        self.signatures: dict[str, dict[str, Any]] = {}  # unit -> who and when
        self.topics: dict[str, dict[str, Any]] = {}

    def sign(self, unit: str, person: str, at: datetime, members: frozenset[str]) -> None:
        if unit not in members:
            raise RuleViolation("NOT_A_MEMBER", f"Đơn vị {unit} không phải thành viên của cụm.")
        if unit in self.signatures:
            raise InvalidState("ALREADY_SIGNED", f"Đơn vị {unit} đã ký giao ước thi đua.")
        self._signed(unit=unit, person=nfc(person), at=at)

    @event("Signed")
    def _signed(self, unit: str, person: str, at: datetime) -> None:
        self.signatures[unit] = {"person": person, "at": at}

    def register_topic(
        self,
        topic_id: str,
        unit: str,
        kind: TopicKind,
        title: str,
        at: datetime,
        deadline: date,
        members: frozenset[str] | None = None,
    ) -> None:
        check_text([title], "TOPIC_TITLE_REQUIRED", "Chuyên đề hoặc mô hình mới cần có tên.")
        if members is not None and unit not in members:
            raise RuleViolation("NOT_A_MEMBER", f"Đơn vị {unit} không phải thành viên của cụm.")
        if local_day(at) > deadline:
            raise RuleViolation(
                "TOPIC_DEADLINE_PASSED",
                f"Đã quá hạn đăng ký chuyên đề, mô hình mới ({deadline:%d/%m/%Y}).",
            )
        if topic_id in self.topics:
            raise InvalidState("TOPIC_EXISTS", f"Chuyên đề {topic_id} đã được đăng ký.")
        self._topic_registered(
            topic_id=topic_id, unit=unit, kind=kind.value, title=nfc(title), at=at
        )

    @event("TopicRegistered")
    def _topic_registered(
        self, topic_id: str, unit: str, kind: str, title: str, at: datetime
    ) -> None:
        self.topics[topic_id] = {
            "unit": unit,
            "kind": kind,
            "title": title,
            "registered_at": at,
            "carried_out": None,
            "note": None,
        }

    def topic(self, topic_id: str) -> dict[str, Any]:
        if topic_id not in self.topics:
            raise InvalidState("UNKNOWN_TOPIC", f"Không có chuyên đề, mô hình {topic_id}.")
        return self.topics[topic_id]

    def mark_topic(self, topic_id: str, carried_out: bool, note: str) -> None:
        self.topic(topic_id)
        self._topic_marked(topic_id=topic_id, carried_out=carried_out, note=nfc(note))

    @event("TopicMarked")
    def _topic_marked(self, topic_id: str, carried_out: bool, note: str) -> None:
        self.topics[topic_id] |= {"carried_out": carried_out, "note": note}

    def new_model_carried_out(self, unit: str) -> bool:
        return any(
            t["unit"] == unit and t["kind"] == TopicKind.NEW_MODEL and t["carried_out"]
            for t in self.topics.values()
        )


def check_text(texts: list[str], code: str, message: str) -> None:
    if not texts or not all(t.strip() for t in texts):
        raise RuleViolation(code, message)
