"""What a value a person sends must be before anything reads it: a short code, a name or a
text in NFC without control characters, a bounded list, an exact number in range.

Each kind of field is a `typing.Annotated` type (`Code`, `Name`, `Text`...), so a command
says what it takes in its annotations and `check_fields` holds every command to them.
"""

import dataclasses
import re
import types
import typing
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

from thidua.domain.errors import InvalidInput
from thidua.domain.text import nfc

CODE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?")
# A cluster's code is also its URL and the tenant of its rows: lowercase, digits, hyphens.
CLUSTER_CODE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
POINTS_LIMIT = Decimal(1000)  # no criterion or deduction comes near it
POINTS_PLACES = 2  # points are written to two decimal places at most


@dataclass(frozen=True)
class Field:
    """How one annotated field is checked: its kind and its bound."""

    kind: str  # "code", "name", "text", "many", "number"
    limit: int
    low: int = 0  # for numbers


Code = Annotated[str, Field("code", 64)]  # a unit, criterion, meeting or document id
ClusterCode = Annotated[str, Field("cluster", 63)]
Name = Annotated[str, Field("name", 300)]  # a unit's or a document's name, a title
TEXT = Field("text", 5_000)
Text = Annotated[str, TEXT]  # an explanation, a reason, a note
Year = Annotated[int, Field("number", 2100, low=2000)]
Count = Annotated[int, Field("number", 100_000)]

# Bounds on lists, so a request stays bounded whatever it names.
MANY_UNITS = 500
MANY_ITEMS = 50  # evidence, commitments, targets, documents
MANY_SCORES = 200  # entries of one scoring form
MANY_CRITERIA = 500

_LABELS = {"code": "mã", "name": "tên", "text": "nội dung"}


_HINTS: dict[type[Any], dict[str, Any]] = {}  # one entry per class: bounded by the code


def hints_of(cls: type[Any]) -> dict[str, Any]:
    """A class's type hints with their annotations, worked out once per class."""
    found = _HINTS.get(cls)
    if found is None:
        found = _HINTS[cls] = typing.get_type_hints(cls, include_extras=True)
    return found


def check_fields(value: Any) -> None:
    """Check every annotated field of a dataclass (nested ones too); text becomes NFC."""
    hints = hints_of(type(value))
    for f in dataclasses.fields(value):
        found = _checked(getattr(value, f.name), hints[f.name], f.name)
        object.__setattr__(value, f.name, found)


def _checked(value: Any, hint: Any, name: str) -> Any:
    hint, rule = _unwrap(hint)
    if value is None:
        if not _optional(hint):
            raise InvalidInput("MISSING_VALUE", f"Thiếu giá trị của trường {name}.")
        return None
    if _is_union(hint):
        hint, inner = _unwrap(_without_none(hint))
        rule = rule or inner
    if typing.get_origin(hint) is tuple:
        return _checked_list(value, hint, rule, name)
    if isinstance(hint, type):
        return _checked_scalar(value, hint, rule, name)
    return value


def _checked_list(value: Any, hint: Any, rule: Field | None, name: str) -> tuple[Any, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise InvalidInput("BAD_VALUE", f"Trường {name} phải là một danh sách.")
    if Ellipsis not in typing.get_args(hint):
        return tuple(value)  # a fixed pair, such as a deadline's month and day
    limit = rule.limit if rule else MANY_CRITERIA  # a criteria set, the longest list
    if len(value) > limit:
        raise InvalidInput(
            "TOO_MANY", f"Trường {name} có {len(value)} mục, vượt quá mức tối đa {limit} mục."
        )
    (item,) = [a for a in typing.get_args(hint) if a is not Ellipsis]
    return tuple(_checked(v, item, name) for v in value)


def _checked_scalar(value: Any, hint: type, rule: Field | None, name: str) -> Any:
    if hint is bool:
        if not isinstance(value, bool):
            raise InvalidInput("BAD_VALUE", f"Trường {name} phải là đúng hoặc sai.")
        return value
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise InvalidInput("BAD_VALUE", f"Giá trị của trường {name} không đúng kiểu.")
    if isinstance(value, str) and not issubclass(hint, Enum):
        return checked_text(value, rule or TEXT, name)
    if isinstance(value, Decimal):
        return checked_points(value, name)
    if isinstance(value, int) and rule is not None and not rule.low <= value <= rule.limit:
        raise InvalidInput("OUT_OF_RANGE", f"Trường {name} phải từ {rule.low} đến {rule.limit}.")
    if isinstance(value, date) and not 2000 <= value.year <= 2100:
        raise InvalidInput("OUT_OF_RANGE", f"Ngày ở trường {name} phải trong các năm 2000-2100.")
    if dataclasses.is_dataclass(value):
        check_fields(value)
    return value


def checked_text(value: str, rule: Field, name: str) -> str:
    """A code matches its pattern; a name or text is NFC, without surrogates or control
    characters (line breaks and tabs only in a text), within its length."""
    if rule.kind == "cluster" and not CLUSTER_CODE.fullmatch(value):
        raise InvalidInput(
            "INVALID_CLUSTER_CODE",
            f"Mã cụm thi đua '{value[:80]}' không hợp lệ: chỉ dùng chữ thường không dấu, "
            "chữ số và dấu gạch ngang, ví dụ 'cum-xii'.",
        )
    if rule.kind == "code" and not CODE.fullmatch(value):
        raise InvalidInput(
            "BAD_CODE",
            f"Mã '{value[:80]}' ở trường {name} không hợp lệ: chỉ dùng chữ không dấu, chữ số và "
            "các dấu '.', '-', '_' (không ở đầu hoặc cuối), tối đa 64 ký tự.",
        )
    for ch in value:
        category = unicodedata.category(ch)
        allowed = rule.kind == "text" and ch in "\n\t"
        if category in ("Cc", "Cs", "Co", "Cn") and not allowed:
            raise InvalidInput(
                "BAD_CHARACTER",
                f"Trường {name} chứa ký tự điều khiển hoặc ký tự không hợp lệ (U+{ord(ch):04X}).",
            )
    text = nfc(value)
    if len(text) > rule.limit:
        raise InvalidInput(
            "TOO_LONG",
            f"Trường {name} dài {len(text)} ký tự, vượt quá mức tối đa {rule.limit} ký tự.",
        )
    if rule.kind == "name" and not text.strip():
        raise InvalidInput("EMPTY_NAME", f"Trường {name} không được để trống.")
    return text


def checked_points(value: Decimal, name: str) -> Decimal:
    """A finite decimal of at most two places, within ±1000."""
    if not value.is_finite() or abs(value) > POINTS_LIMIT:
        raise InvalidInput(
            "OUT_OF_RANGE", f"Trường {name} phải là một số trong khoảng ±{POINTS_LIMIT}."
        )
    exponent = value.as_tuple().exponent
    if (
        isinstance(exponent, int)
        and exponent < -POINTS_PLACES
        and value != value.quantize(Decimal(1).scaleb(-POINTS_PLACES))
    ):
        raise InvalidInput(
            "TOO_PRECISE", f"Trường {name} có nhiều hơn {POINTS_PLACES} chữ số thập phân."
        )
    return value


def _unwrap(hint: Any) -> tuple[Any, Field | None]:
    if typing.get_origin(hint) is Annotated:
        base, *extras = typing.get_args(hint)
        rule = next((e for e in extras if isinstance(e, Field)), None)
        return base, rule
    return hint, None


def _optional(hint: Any) -> bool:
    return _is_union(hint) and type(None) in typing.get_args(hint)


def _without_none(hint: Any) -> Any:
    if not _is_union(hint):
        return hint
    (rest,) = [a for a in typing.get_args(hint) if a is not type(None)]
    return rest


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)
