"""Schema extensions: codes on errors, error masking with a request id, and
the logging of GraphQL errors, each at its level.

Client mistakes (a refused document or variable, a bad argument, a coded
`PublicError`) are logged by `LogClientErrors` at INFO with their code and no
traceback; unexpected failures, which `MaskUnexpectedErrors` hides from the
client, at ERROR with their traceback and the request id the client is given.
`Schema` turns off Strawberry's own logging, which puts every error at ERROR.

The limits on a document are in schema/document_bounds.py (tokens, aliases,
selections, depth) and schema/cost.py (cost, list arguments).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import strawberry
from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.types import ExecutionContext

from db.availability import database_unavailable
from telemetry import current_request_id

logger = logging.getLogger("service360.errors")
INTERNAL_MESSAGE = "Internal server error."
UNAVAILABLE_MESSAGE = "The service is briefly unavailable. Try again in a few seconds."

INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"


def is_unexpected(error: GraphQLError) -> bool:
    """Mask errors raised by our code that are not meant for clients.

    Parse, validation and coercion errors (no original error, or a
    GraphQLError such as our `PublicError`) are the client's to read.
    """
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


class MaskUnexpectedErrors(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message=INTERNAL_MESSAGE)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        request_id = current_request_id()
        original = error.original_error
        extra = {
            "request_id": request_id,
            "path": error.path,
            "operation": self.execution_context.operation_name,
        }
        if original is not None and database_unavailable(original):
            # An outage, not a bug: the HTTP edge answers 503 with Retry-After.
            logger.warning(
                "database unavailable in resolver",
                extra={**extra, "error": f"{type(original).__name__}: {original}"},
            )
            code, message = SERVICE_UNAVAILABLE, UNAVAILABLE_MESSAGE
        else:
            logger.error(f"unexpected error: {error.message}", exc_info=original, extra=extra)
            code, message = INTERNAL_SERVER_ERROR, self.error_message
        return GraphQLError(
            message=message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions={"code": code, "requestId": request_id},
        )


class LogClientErrors(SchemaExtension):
    """One INFO line per error the client caused, with its code, no traceback.

    Listed before `RequestErrorCodes` and `MaskUnexpectedErrors`, so that it
    runs after them: every error has its code, and masked ones (logged when
    masked: ERROR, or WARNING for a database outage) are INTERNAL_SERVER_ERROR
    or SERVICE_UNAVAILABLE.
    """

    def on_operation(self) -> Iterator[None]:
        yield
        context = self.execution_context
        for error in getattr(context.result, "errors", None) or ():
            code = (error.extensions or {}).get("code")
            if code not in (INTERNAL_SERVER_ERROR, SERVICE_UNAVAILABLE):
                logger.info(
                    f"client error: {error.message}",
                    extra={"code": code, "path": error.path, "operation": context.operation_name},
                )


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log nothing here: the extensions above log each error at its level."""


class RequestErrorCodes(SchemaExtension):
    """`extensions.code` on errors of the request itself: the document did
    not parse (or had too many tokens), failed validation, or its variables'
    values do not fit their types."""

    def on_execute(self) -> Iterator[None]:
        yield
        # Execution errors without a path come before any field runs: a
        # variable's value that does not coerce to its type, or a missing one.
        result = self.execution_context.result
        for error in getattr(result, "errors", None) or ():
            if error.path is not None or (error.extensions and "code" in error.extensions):
                continue
            if error.original_error is None or isinstance(error.original_error, GraphQLError):
                error.extensions = {**(error.extensions or {}), "code": "BAD_USER_INPUT"}

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        for error in getattr(result, "errors", None) or ():
            if error.extensions and "code" in error.extensions:
                continue
            if isinstance(error, GraphQLSyntaxError):
                # graphql-core's wording for its `max_tokens` parse option.
                too_large = "tokens. Parsing aborted" in error.message
                code = "QUERY_TOO_LARGE" if too_large else "GRAPHQL_PARSE_FAILED"
            elif error.path is None and error.original_error is None:
                code = "GRAPHQL_VALIDATION_FAILED"
            else:
                continue
            error.extensions = {**(error.extensions or {}), "code": code}
