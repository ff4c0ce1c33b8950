"""GraphQL over HTTP: reading a request's parameters and judging its answer.

Follows the GraphQL over HTTP spec. Two kinds of failure are told apart:
`MalformedRequest` (the HTTP request itself is wrong: bad JSON, bad
parameters, wrong method; always a 4xx) and GraphQL request errors (the
document does not parse or validate; 4xx only under
`application/graphql-response+json`, 200 under legacy `application/json`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from graphql import (
    GraphQLError,
    GraphQLSyntaxError,
    OperationType,
    Source,
    TokenKind,
    get_operation_ast,
    parse,
)
from graphql.language.lexer import Lexer
from starlette.datastructures import QueryParams

from web.failures import UNAVAILABLE_RETRY_AFTER_SECONDS
from web.negotiation import GRAPHQL_RESPONSE_JSON


class MalformedRequest(Exception):
    """The HTTP request is not a GraphQL-over-HTTP request we can read."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str = "BAD_REQUEST",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


@dataclass(frozen=True)
class GraphQLParams:
    query: str | None
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None


def _decode_json(raw: bytes | str, what: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise MalformedRequest(400, f"{what} is not valid JSON.") from None


def _object_or_none(value: Any, name: str) -> dict[str, Any] | None:
    if value is None or isinstance(value, dict):
        return value
    raise MalformedRequest(400, f"The `{name}` parameter must be an object or null.")


def _string_or_none(value: Any, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise MalformedRequest(400, f"The `{name}` parameter must be a string or null.")


def params_from_mapping(data: Any) -> GraphQLParams:
    if isinstance(data, list):
        raise MalformedRequest(400, "Batched requests (a JSON array) are not supported.")
    if not isinstance(data, dict):
        raise MalformedRequest(400, "The request body must be a JSON object.")
    return GraphQLParams(
        query=_string_or_none(data.get("query"), "query"),
        variables=_object_or_none(data.get("variables"), "variables"),
        operation_name=_string_or_none(data.get("operationName"), "operationName"),
        extensions=_object_or_none(data.get("extensions"), "extensions"),
    )


def params_from_query_string(query_params: QueryParams) -> GraphQLParams:
    data: dict[str, Any] = {}
    for name in ("query", "variables", "operationName", "extensions"):
        values = query_params.getlist(name)
        if len(values) > 1:
            raise MalformedRequest(400, f"The `{name}` parameter is given more than once.")
        if values:
            data[name] = values[0]
    for name in ("variables", "extensions"):
        if name in data:
            data[name] = _decode_json(data[name], f"The `{name}` parameter")
    return params_from_mapping(data)


def params_from_body(body: bytes) -> GraphQLParams:
    if not body:
        raise MalformedRequest(400, "The request body is empty.")
    return params_from_mapping(_decode_json(body, "The request body"))


def is_json_content_type(content_type: str | None) -> bool:
    """`application/json`, with no charset or UTF-8 (the only one we read)."""
    if not content_type:
        return False
    media, *params = (part.strip().lower() for part in content_type.split(";"))
    if media != "application/json":
        return False
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "charset" and value.strip().strip('"') not in ("utf-8", "utf8"):
            return False
    return True


def operation_name_in(document: str, requested: str | None) -> str | None:
    """The name of the operation a request runs, for logs and metrics.

    `operationName` when the client sent one, else the name of the first
    operation of the document, found with the lexer only (no parse).
    """
    if requested:
        return requested
    lexer = Lexer(Source(document))
    depth = 0
    try:
        token = lexer.advance()
        while token.kind != TokenKind.EOF:
            if token.kind == TokenKind.BRACE_L:
                if depth == 0:
                    return None  # `{ ... }` shorthand: an anonymous query
                depth += 1
            elif token.kind == TokenKind.BRACE_R:
                depth -= 1
            elif (
                depth == 0
                and token.kind == TokenKind.NAME
                and token.value in ("query", "mutation", "subscription")
            ):
                following = lexer.advance()
                return following.value if following.kind == TokenKind.NAME else None
            elif depth == 0 and token.kind == TokenKind.NAME and token.value == "fragment":
                # Skip the fragment up to its selection set and through it.
                while token.kind not in (TokenKind.BRACE_L, TokenKind.EOF):
                    token = lexer.advance()
                depth += 1
            token = lexer.advance()
    except GraphQLSyntaxError:
        return None
    return None


def is_query_operation(document: str, operation_name: str | None) -> bool:
    """Whether the operation a request runs is a query (a read).

    Parses the document: called only when a read may be retried, never on
    the common path.
    """
    try:
        operation = get_operation_ast(parse(document), operation_name)
    except GraphQLError:
        return False
    return operation is not None and operation.operation == OperationType.QUERY


OPERATION_TYPES = ("query", "mutation", "subscription")


def operation_type_in(document: str, requested: str | None, max_tokens: int) -> str | None:
    """`query`, `mutation` or `subscription`: the type of the operation a
    request runs (named by `requested`, else the first), for metrics labels.

    Found with the lexer only, reading at most `max_tokens` tokens; None when
    there is no such operation within them.
    """
    lexer = Lexer(Source(document))
    depth = 0
    read = 0

    def advance() -> Any:
        nonlocal read
        read += 1
        if read > max_tokens:
            raise GraphQLSyntaxError(Source(document), 0, "too many tokens")
        return lexer.advance()

    def skip_to_selection_set(token: Any) -> Any:
        # Variable definitions and directive arguments may hold `{` in
        # default values, never outside parentheses.
        parentheses = 0
        while token.kind != TokenKind.EOF:
            if token.kind == TokenKind.PAREN_L:
                parentheses += 1
            elif token.kind == TokenKind.PAREN_R:
                parentheses -= 1
            elif token.kind == TokenKind.BRACE_L and parentheses == 0:
                break
            token = advance()
        return token

    try:
        token = advance()
        while token.kind != TokenKind.EOF:
            if token.kind == TokenKind.BRACE_L:
                if depth == 0 and requested is None:
                    return "query"  # `{ ... }` shorthand
                depth += 1
            elif token.kind == TokenKind.BRACE_R:
                depth -= 1
            elif depth == 0 and token.kind == TokenKind.NAME:
                keyword = token.value
                token = advance()
                if keyword in OPERATION_TYPES:
                    name = token.value if token.kind == TokenKind.NAME else None
                    if requested is None or name == requested:
                        return keyword
                token = skip_to_selection_set(token)
                if token.kind == TokenKind.BRACE_L:
                    depth += 1
                    token = advance()
                continue
            token = advance()
    except GraphQLSyntaxError:
        return None
    return None


def error_body(message: str, code: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


@dataclass
class Verdict:
    """How to answer a GraphQL result over HTTP."""

    status: int
    outcome: str
    headers: dict[str, str] = field(default_factory=dict)
    drop_data: bool = False


DEFAULT_RETRY_AFTER_SECONDS = 60


def _codes(errors: list[dict[str, Any]]) -> set[str]:
    codes = set()
    for error in errors:
        extensions = error.get("extensions")
        if isinstance(extensions, dict) and isinstance(extensions.get("code"), str):
            codes.add(extensions["code"])
    return codes


def _retry_after(errors: list[dict[str, Any]]) -> int:
    for error in errors:
        extensions = error.get("extensions") or {}
        value = extensions.get("retryAfter")
        if isinstance(value, int | float) and value > 0:
            return max(1, int(value + 0.999))
    return DEFAULT_RETRY_AFTER_SECONDS


def judge(response: dict[str, Any], media_type: str) -> Verdict:
    """Status, outcome and headers for a processed GraphQL result.

    A result with no data whose errors carry no path failed before execution
    (parse, validation, variable coercion, limits): a request error, which
    has no `data` entry and, under the spec's own media type, a 4xx status.
    """
    errors: list[dict[str, Any]] = response.get("errors") or []
    if not errors:
        return Verdict(200, "ok")
    codes = _codes(errors)
    strict = media_type == GRAPHQL_RESPONSE_JSON
    data = response.get("data")
    if "SERVICE_UNAVAILABLE" in codes:
        # The database is down (a read was already retried once): 503 under
        # either media type, so that clients and proxies back off and retry.
        headers = {"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)}
        return Verdict(503, "unavailable", headers)
    if "RATE_LIMITED" in codes and (data is None or not any(v is not None for v in data.values())):
        # The whole request was refused: tell the client when to come back.
        headers = {"Retry-After": str(_retry_after(errors))}
        return Verdict(429 if strict else 200, "rate_limited", headers)
    if "INTERNAL_SERVER_ERROR" in codes:
        request_failed = data is None and not any(e.get("path") for e in errors)
        return Verdict(500 if strict and request_failed else 200, "internal_error")
    if data is None and not any(e.get("path") for e in errors):
        return Verdict(400 if strict else 200, "request_error", drop_data=True)
    return Verdict(200, "graphql_error")
