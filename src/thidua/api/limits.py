"""A per-request cost budget, checked before anything runs.

Each field costs 1, times the size of every list it is nested in: a list field counts
as its `first` argument when it has one, else as LIST_SIZE items. A document whose cost
exceeds the budget is refused as a validation error (GRAPHQL_VALIDATION_FAILED).
"""

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


def has_nul(value: Any) -> bool:
    """Whether a NUL hides anywhere in a value: PostgreSQL text cannot hold one."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


class NoNulRule(ValidationRule):
    """String literals must be storable text."""

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        if has_nul(node.value):
            self.report_error(GraphQLError(NUL_MESSAGE, node, extensions={"code": "BAD_INPUT"}))
