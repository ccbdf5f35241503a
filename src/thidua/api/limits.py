"""What a request may hold, checked before anything runs.

At the door (an HTTP request or a subscribe message, before the document is parsed):

- a body of at most MAX_BODY_BYTES (1 MB): beyond, 413 REQUEST_TOO_LARGE;
- in the variables and extensions, JSON nested at most MAX_DEPTH deep, lists and objects of
  at most MAX_ITEMS entries, strings of at most MAX_TEXT_LENGTH characters;
- text anywhere in the request (document, operation name, variables) that PostgreSQL and
  UTF-8 can hold: no NUL, no lone UTF-16 surrogate (U+D800 to U+DFFF).

A value over a limit is refused as BAD_INPUT, naming the limit. String literals in the
document obey the same text rules (a validation rule); tokens and aliases are limited by the
schema (api/schema.py).

Then a per-request cost budget: each field costs 1, times the size of every list it is
nested in: a list field counts as its `first` argument when it has one, else as LIST_SIZE
items. A document whose cost exceeds the budget is refused as a validation error
(QUERY_TOO_COSTLY).
"""

import re
from typing import Any

from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    IntValueNode,
    StringValueNode,
    ValidationContext,
    ValidationRule,
)

MAX_BODY_BYTES = 1_000_000  # a request's body
MAX_DEPTH = 32  # arrays and objects nested in one variable, counted from `variables`
MAX_ITEMS = 1_000  # entries in one list or object of a variable
MAX_TEXT_LENGTH = 10_000  # characters in one string: a variable's or a literal's

LIST_SIZE = 20
PAGE_CAP = 100
BUDGET = 20_000


def _is_list(kind: Any) -> bool:
    while isinstance(kind, GraphQLNonNull):
        kind = kind.of_type
    return isinstance(kind, GraphQLList)


def _size(node: FieldNode, kind: Any) -> int:
    """How many items a field stands for: `first` (a page; a variable counts as the page
    cap, since validation runs before variables are known), a list, or one."""
    for argument in node.arguments or ():
        if argument.name.value == "first":
            value = argument.value
            return max(int(value.value), 1) if isinstance(value, IntValueNode) else PAGE_CAP
    if _is_list(kind) and node.name.value != "edges":  # a connection's page counted above
        return LIST_SIZE
    return 1


def cost_rule(budget: int = BUDGET) -> type[ValidationRule]:
    class CostRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.multipliers: list[int] = [1]
            self.cost = 0

        def enter_field(self, node: FieldNode, *_: Any) -> None:
            definition = self.context.get_field_def()
            self.cost += self.multipliers[-1]
            kind = definition.type if definition is not None else None
            self.multipliers.append(self.multipliers[-1] * _size(node, kind))

        def leave_field(self, *_: Any) -> None:
            self.multipliers.pop()

        def leave_document(self, *_: Any) -> None:
            if self.cost > budget:
                self.report_error(
                    GraphQLError(
                        f"Truy vấn quá lớn: chi phí ước tính {self.cost} vượt mức {budget}.",
                        extensions={"code": "QUERY_TOO_COSTLY", "cost": self.cost},
                    )
                )

    return CostRule


NUL_MESSAGE = "Văn bản không được chứa ký tự NUL (\\u0000)."
SURROGATE_MESSAGE = (
    "Văn bản chứa ký tự không hợp lệ (một nửa cặp thay thế UTF-16, \\ud800 đến \\udfff): "
    "hãy gõ lại đoạn văn bản đó."
)
SURROGATE = re.compile("[\ud800-\udfff]")


def number(n: int) -> str:
    """A count as Vietnamese writes it: 10.000."""
    return f"{n:,}".replace(",", ".")


def unstorable(text: str) -> str | None:
    """Why this text cannot be kept (PostgreSQL text holds no NUL, UTF-8 no lone
    surrogate), or None."""
    if "\x00" in text:
        return NUL_MESSAGE
    if not text.isascii() and SURROGATE.search(text):
        return SURROGATE_MESSAGE
    return None


def text_refusal(text: str, limit: int = MAX_TEXT_LENGTH) -> str | None:
    """Why this string may not come in, or None."""
    if len(text) > limit:
        return (
            f"Một đoạn văn bản dài tối đa {number(limit)} ký tự; "
            f"đoạn này dài {number(len(text))} ký tự."
        )
    return unstorable(text)


def value_refusal(value: Any) -> str | None:
    """Why a variables (or extensions) object may not come in, or None. Iterative, so a
    value nested deeper than the interpreter's stack is refused, not a crash."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            found = text_refusal(item)
        elif isinstance(item, dict | list):
            found = _container_refusal(item, depth)
            if found is None:
                entries = item.items() if isinstance(item, dict) else enumerate(item)
                for key, child in entries:
                    if isinstance(key, str):
                        stack.append((key, depth))
                    stack.append((child, depth + 1))
        else:
            found = None
        if found is not None:
            return found
    return None


def _container_refusal(item: dict[Any, Any] | list[Any], depth: int) -> str | None:
    if depth > MAX_DEPTH:
        return f"Dữ liệu gửi lên lồng nhau quá {MAX_DEPTH} tầng."
    if len(item) > MAX_ITEMS:
        return (
            f"Một danh sách có tối đa {number(MAX_ITEMS)} mục; "
            f"danh sách này có {number(len(item))} mục."
        )
    return None


class TextRule(ValidationRule):
    """String literals in the document obey the same rules as variables."""

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        found = text_refusal(node.value)
        if found is not None:
            self.report_error(GraphQLError(found, node, extensions={"code": "BAD_INPUT"}))
