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

MAX_ANSWERS = 1024
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
    """The most recently used answers, at most MAX_ANSWERS of them."""

    def __init__(self, size: int = MAX_ANSWERS) -> None:
        self._kept: OrderedDict[Key, Answer] = OrderedDict()
        self._size = size

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
        if not _asks_a_query(request_body, request.query_params) or "errors" in json.loads(body):
            return
        etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
        response.headers["etag"] = etag
        response.headers["cache-control"] = CACHE_CONTROL
        self._kept[key] = Answer(body, response.headers["content-type"], etag)
        if len(self._kept) > self._size:
            self._kept.popitem(last=False)


def _asks_a_query(request_body: bytes, params: Mapping[str, str]) -> bool:
    """A single query operation, sent as a JSON body (POST) or in the URL (GET)."""
    data: Any = params
    if request_body:
        try:
            data = json.loads(request_body)
        except ValueError:
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
    except GraphQLError:
        return False
    return found is not None and found.operation is OperationType.QUERY
