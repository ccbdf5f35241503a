"""Answers to queries, kept while their cluster stands still.

Every read model derives from the cluster's log, so the log's head and the projections'
checkpoints (`Reads.log_version`) version everything a cluster's endpoint can answer.
With the caller's claims, the day (deadlines and memberships turn on it) and the request
itself, they key an answer exactly: a kept answer is the one the query would give now.
Only queries answered without errors are kept, since a refusal must run to be recorded.
Each kept answer has an ETag, so a client that already holds it gets a 304.
"""

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError, OperationType, get_operation_ast
from starlette.requests import Request
from starlette.responses import Response

from thidua.api.schema import MAX_TOKENS, parsed

KEPT_BYTES = 64 * 1024 * 1024  # answers kept are sized by memory, whatever the clusters
MAX_BODY = 256 * 1024  # larger answers are not worth the memory
CACHE_CONTROL = "private, no-cache"  # the caller's own answer; revalidate with the ETag

Key = tuple[Any, ...]


@dataclass(frozen=True)
class Answer:
    body: bytes
    content_type: str
    etag: str

    def response(self, request: Request) -> Response:
        headers = {"etag": self.etag, "cache-control": CACHE_CONTROL}
        if self.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        headers["content-type"] = self.content_type
        return Response(self.body, headers=headers)


class Answers:
    """The most recently used answers, their bodies at most `budget` bytes in all."""

    def __init__(self, budget: int = KEPT_BYTES) -> None:
        self._kept: OrderedDict[Key, Answer] = OrderedDict()
        self._budget = budget
        self._bytes = 0

    def get(self, key: Key) -> Answer | None:
        answer = self._kept.get(key)
        if answer is not None:
            self._kept.move_to_end(key)
        return answer

    def keep(self, key: Key, request: Request, request_body: bytes, response: Response) -> None:
        """Keep the response if it is a query's answer without errors."""
        body = bytes(response.body)
        if response.status_code != 200 or len(body) > MAX_BODY:
            return
        if not asks_a_query(request_body, request.query_params) or "errors" in json.loads(body):
            return
        etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
        response.headers["etag"] = etag
        response.headers["cache-control"] = CACHE_CONTROL
        replaced = self._kept.pop(key, None)
        self._bytes += len(body) - (len(replaced.body) if replaced else 0)
        self._kept[key] = Answer(body, response.headers["content-type"], etag)
        while self._bytes > self._budget:
            _, dropped = self._kept.popitem(last=False)
            self._bytes -= len(dropped.body)


def asks_a_query(request_body: bytes, params: Mapping[str, str]) -> bool:
    """A single query operation, sent as a JSON body (POST) or in the URL (GET)."""
    data: Any = params
    if request_body:
        try:
            data = json.loads(request_body)
        except (ValueError, RecursionError):  # parse_json refuses it, coded
            return False
    if not isinstance(data, Mapping):
        return False
    document, operation = data.get("query"), data.get("operationName")
    if not isinstance(document, str) or not isinstance(operation, str | None):
        return False
    return _is_query(document, operation)


def _is_query(document: str, operation: str | None) -> bool:
    try:
        found = get_operation_ast(parsed(document, MAX_TOKENS), operation)
    except (GraphQLError, RecursionError):
        return False
    return found is not None and found.operation is OperationType.QUERY
