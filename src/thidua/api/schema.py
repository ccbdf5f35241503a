"""The schema and its limits: depth, tokens, aliases, cost, introspection, coded errors."""

from decimal import Decimal
from typing import Any

from graphql import GraphQLError
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from strawberry import Schema
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)

from thidua.api.errors import CodedErrors
from thidua.api.limits import NoNulRule, cost_rule
from thidua.api.mutations import Mutation
from thidua.api.queries import Query
from thidua.api.subscriptions import Subscription
from thidua.api.types import FINITE_DECIMAL

MAX_DEPTH = 10
MAX_TOKENS = 2_000
MAX_ALIASES = 30


class ApiSchema(Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Refusals are answers, not failures: CodedErrors logs the unexpected ones."""


def build_schema(introspection: bool = True) -> Schema:
    rules: list[type[ASTValidationRule]] = [cost_rule(), NoNulRule]
    if not introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    extensions: list[Any] = [  # a fresh instance per request
        CodedErrors,
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: AddValidationRules(rules),
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
