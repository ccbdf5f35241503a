"""Refusals as GraphQL errors with stable `extensions.code`; anything else is masked.

A domain refusal is the answer, not a failure: its code and Vietnamese message reach the
caller. An unexpected exception is logged with the request id and shown only as
INTERNAL_ERROR with that id, so nothing internal leaks.
"""

import logging
from typing import Any

from graphql import GraphQLError
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.extensions import MaskErrors

from thidua.api.tokens import Unauthenticated
from thidua.domain.errors import Forbidden, InvalidInput, InvalidState, NotFound, RuleViolation
from thidua.errors import ConcurrencyConflict, DatabaseUnavailable, ThiduaError
from thidua.telemetry import metrics

log = logging.getLogger("thidua.api")

KINDS: list[tuple[type[ThiduaError], str]] = [
    (Unauthenticated, "UNAUTHENTICATED"),
    (Forbidden, "FORBIDDEN"),
    (NotFound, "NOT_FOUND"),
    (InvalidState, "INVALID_STATE"),
    (RuleViolation, "RULE_VIOLATION"),
    (ConcurrencyConflict, "CONFLICT"),
    (InvalidInput, "BAD_INPUT"),
    (DatabaseUnavailable, "UNAVAILABLE"),
]


class BadInput(ThiduaError):
    code = "BAD_INPUT"


def extensions(error: ThiduaError) -> dict[str, Any]:
    kind = next((k for cls, k in KINDS if isinstance(error, cls)), "REFUSED")
    found: dict[str, Any] = {"code": error.code, "kind": kind}
    if isinstance(error, ConcurrencyConflict):
        found |= {"expectedVersion": error.expected, "actualVersion": error.actual}
    if isinstance(error, DatabaseUnavailable):  # nothing wrong with the request: send it again
        found |= {"retryable": True, "retryAfter": error.retry_after}
    return found


def retry_after(errors: object) -> int | None:
    """The seconds to wait before sending again when an answer's errors are all worth a
    retry and one of them says so (the database away or full); None otherwise."""
    if not isinstance(errors, list) or not errors:
        return None
    found = [e.get("extensions", {}) for e in errors if isinstance(e, dict)]
    if any(e.get("retryable") for e in found):
        return max(int(e.get("retryAfter") or 1) for e in found if e.get("retryable"))
    return None


class CodedErrors(MaskErrors):
    """Gives every error a code: refusals their own, invalid documents
    GRAPHQL_VALIDATION_FAILED, variables that cannot be read BAD_INPUT, the rest masked
    as INTERNAL_ERROR (logged with the request id)."""

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        request_id = getattr(self.execution_context.context, "request_id", None)
        log.error("internal error (request %s)", request_id, exc_info=error.original_error)
        return GraphQLError(
            f"Lỗi nội bộ của máy chủ; mã yêu cầu {request_id}.",
            nodes=error.nodes,
            path=error.path,
            extensions={"code": "INTERNAL_ERROR", "requestId": request_id},
        )

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        coded = [self._coded(e) for e in errors]
        for error in coded:
            metrics.refused((error.extensions or {}).get("code"))
        return coded

    def _coded(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if isinstance(original, ThiduaError):
            if isinstance(original, DatabaseUnavailable):  # the operator's business too
                request_id = getattr(self.execution_context.context, "request_id", None)
                log.warning("%s (request %s): %s", original.code, request_id, original.__cause__)
            error.extensions = {**(error.extensions or {}), **extensions(original)}
            error.message = original.message
            return error
        if original is None:
            error.extensions = {"code": "GRAPHQL_VALIDATION_FAILED", **(error.extensions or {})}
            return error
        if isinstance(original, StrawberryInputCoercionError) or (
            isinstance(original, GraphQLError) and error.path is None  # graphql-core's own
        ):  # a variable's value, before anything ran (null for a non-null one, a wrong type)
            error.extensions = {"code": BadInput.code, **(error.extensions or {})}
            return error
        return self.anonymise_error(error)
