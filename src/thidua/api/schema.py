"""The schema and its limits: depth, tokens, aliases, cost, introspection, coded errors."""

import contextlib
from collections.abc import Iterator
from decimal import Decimal
from functools import lru_cache
from typing import Any

from graphql import BREAK, DocumentNode, GraphQLError, SelectionSetNode, Visitor, parse, visit
from graphql.validation import (
    ASTValidationRule,
    NoSchemaIntrospectionCustomRule,
    ValidationContext,
)
from strawberry import Schema
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)

from thidua.api.errors import CodedErrors
from thidua.api.limits import TextRule, cost_rule
from thidua.api.mutations import Mutation
from thidua.api.queries import Query
from thidua.api.subscriptions import Subscription
from thidua.api.types import FINITE_DECIMAL

MAX_DEPTH = 10
MAX_TOKENS = 2_000
MAX_ALIASES = 30
CACHED_DOCUMENTS = 512  # parsed and validated documents kept, the most recently used


@lru_cache(maxsize=CACHED_DOCUMENTS)
def parsed(query: str, max_tokens: int | None) -> DocumentNode:
    """The document of a query text, parsed once while it is among the recently used."""
    return parse(query, max_tokens=max_tokens)


class ParsedOnce(SchemaExtension):
    """Each distinct document parsed once: the same text gives the same DocumentNode, so
    ValidationCache finds it. A document that does not parse is left to Strawberry, which
    reports the error with the others."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query:
            with contextlib.suppress(GraphQLError):
                tokens = context.parse_options.get("max_tokens")
                context.graphql_document = parsed(context.query, tokens)
        yield


def _empty_selection(node: Any) -> Any:
    """The first `{ }` that selects nothing (graphql-core 3.3 parses one), if any."""
    found = None

    class Finder(Visitor):
        def enter_selection_set(self, selection: SelectionSetNode, *_: Any) -> Any:
            nonlocal found
            if not selection.selections:
                found = selection
                return BREAK
            return None

    visit(node, Finder())
    return found


def guarded(rule: type[ASTValidationRule]) -> type[ASTValidationRule]:
    """A rule that cannot read a `{ }` selecting nothing: such a document is refused with a
    clear error instead of crashing it."""

    class Guarded(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            empty = _empty_selection(context.document)
            if empty is not None:
                context.report_error(
                    GraphQLError("Mỗi khối { } phải chọn ít nhất một trường.", empty)
                )
            else:
                self.inner = rule(context)

    return Guarded


class ApiSchema(Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Refusals are answers, not failures: CodedErrors logs the unexpected ones."""


def build_schema(introspection: bool = True) -> Schema:
    # The rule classes are made once, so a document's validation is cached across requests
    # (every rule looks at the document alone, never at variables).
    rules: list[type[ASTValidationRule]] = [
        *map(guarded, QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules),
        *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
        cost_rule(),
        TextRule,
    ]
    if not introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    extensions: list[Any] = [  # a fresh instance per request
        CodedErrors,
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: AddValidationRules(rules),
        ParsedOnce,
        lambda: ValidationCache(maxsize=CACHED_DOCUMENTS),
    ]
    return ApiSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        scalar_overrides={Decimal: FINITE_DECIMAL},
    )


if __name__ == "__main__":  # python -m thidua.api.schema > schema/schema.graphql
    print(build_schema())
