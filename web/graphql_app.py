"""The GraphQL endpoint: Strawberry's ASGI view with a GraphQL-over-HTTP edge.

Strawberry executes (`schema.execute`, with our context); this class owns
what happens over HTTP around it: content negotiation and status codes as
the GraphQL over HTTP spec says, persisted queries, caching of GET answers,
the GraphiQL page, metrics and the operation name in the request log.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import process_result
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema.base import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UnsetType

from db.availability import database_unavailable
from db.pool import StatementStats, current_stats
from resolvers.context import Context, build_context
from resolvers.throttle import client_bucket
from resolvers.viewer import keep_session_alive
from resolvers.viewer_state import load_viewer_state
from web.answer_cache import LOOKUPS, AnswerCache, Probe, if_none_match
from web.body_limit import BODY_TIMEOUT_MESSAGE, BodyReadTimeout
from web.graphiql import graphiql_page
from web.http_graphql import (
    GraphQLParams,
    MalformedRequest,
    error_body,
    is_json_content_type,
    is_query_operation,
    judge,
    operation_name_in,
    operation_type_in,
    params_from_body,
    params_from_query_string,
)
from web.metrics import PERSISTED_QUERIES, observe_request, operation_label
from web.negotiation import APPLICATION_JSON, GRAPHQL_RESPONSE_JSON, choose_media_type, wants_html
from web.persisted_queries import PersistedQueries, PersistedQueryError, Resolution
from web.ws_protocol import CheckedTransportWSHandler

OFFERED_MEDIA_TYPES = (GRAPHQL_RESPONSE_JSON, APPLICATION_JSON)
# Before a read runs again after an outage: time for the pool to see its
# connections close and for a restarting server to take new ones, short
# enough to add little to the answer's wait.
READ_RETRY_PAUSE_SECONDS = 0.25
logger = logging.getLogger("service360.graphql")
T = TypeVar("T")

if TYPE_CHECKING:  # the app's state imports this edge's parts
    from app_state import AppResources


class TextFrameWebSocketAdapter(ASGIWebSocketAdapter):
    """graphql-transport-ws messages are text frames; `encode_json` gives bytes
    (for HTTP bodies), which Strawberry's adapter would send as binary frames."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class GraphQLApp(GraphQL[Context, None]):
    websocket_adapter_class = TextFrameWebSocketAdapter
    graphql_transport_ws_handler_class = CheckedTransportWSHandler

    def __init__(
        self,
        schema: BaseSchema,
        *,
        graphiql: bool = True,
        ws_init_timeout_seconds: float = 10,
        subscriptions_per_connection: int = 60,
    ) -> None:
        # Strawberry's own GraphiQL page loads from a CDN: ours is served instead.
        # Subscriptions: graphql-transport-ws only (the legacy protocol is not offered).
        super().__init__(
            schema,
            graphql_ide=None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=ws_init_timeout_seconds),
            max_subscriptions_per_connection=subscriptions_per_connection,
        )
        self.graphiql = graphiql

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None = None
    ) -> Context:
        if isinstance(request, WebSocket):
            return await self._websocket_context(request)
        state: Any = request.state
        stats = current_stats.get() or StatementStats()
        probe: Probe | None = getattr(state, "answer_probe", None)
        return await build_context(
            request,
            response if isinstance(response, Response) else None,
            pool=state.pool,
            settings=state.settings,
            stats=stats,
            resources=state.resources,
            viewer_state=probe.state if probe is not None else None,
            viewer_known=probe is not None,
        )

    async def _websocket_context(self, websocket: WebSocket) -> Context:
        """One context for a subscription connection; its viewer comes with
        connection_init (`on_ws_connect`)."""
        state: Any = websocket.state
        context = await build_context(
            websocket,
            None,
            pool=state.pool,
            settings=state.settings,
            stats=StatementStats(),
            resources=state.resources,
            viewer_known=True,
        )
        websocket.scope["service360.context"] = context
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        if not await context.resources.live.connect(context):
            raise ConnectionRejectionError()
        return await super().on_ws_connect(context)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            try:
                await super().__call__(scope, receive, send)
            finally:
                context: Context | None = scope.get("service360.context")
                if context is not None:
                    context.resources.live.disconnect(context)
            return
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        if self._is_ide_request(request):
            await graphiql_page(request)(scope, receive, send)
            return
        started = time.perf_counter()
        # Stays so when an exception escapes (answered by web.failures).
        outcome = "internal_error"
        media_type = APPLICATION_JSON
        try:
            try:
                media_type = self._negotiate(request)
                params = await self._read_params(request)
                response, _, outcome = await self._run(request, params, media_type)
            except MalformedRequest as error:
                outcome = "request_error"
                response = self._error_response(error.status, error.message, error.code, media_type)
                response.headers.update(error.headers)
            except PersistedQueryError as error:
                outcome = "persisted_query_not_found" if error.status == 200 else "request_error"
                response = self._error_response(error.status, error.message, error.code, media_type)
            except Exception as error:
                if database_unavailable(error):
                    outcome = "unavailable"
                raise
        finally:
            label = operation_label(getattr(request.state, "operation_type", None))
            observe_request(label, outcome, time.perf_counter() - started, current_stats.get())
        await response(scope, receive, send)

    # ------------------------------------------------------------ reading

    def _negotiate(self, request: Request) -> str:
        if request.method not in ("GET", "POST"):
            raise MalformedRequest(
                405,
                "GraphQL is served over GET and POST only.",
                "METHOD_NOT_ALLOWED",
                headers={"Allow": "GET, POST"},
            )
        accept = request.headers.get("accept")
        media_type = choose_media_type(accept, OFFERED_MEDIA_TYPES)
        if media_type is None:
            raise MalformedRequest(
                406,
                "Ask for application/graphql-response+json or application/json "
                "(in UTF-8) in the Accept header.",
                "NOT_ACCEPTABLE",
            )
        return media_type

    def _is_ide_request(self, request: Request) -> bool:
        return (
            self.graphiql
            and request.method == "GET"
            and "query" not in request.query_params
            and "extensions" not in request.query_params
            and wants_html(request.headers.get("accept"))
        )

    async def _read_params(self, request: Request) -> GraphQLParams:
        if request.method == "GET":
            return params_from_query_string(request.query_params)
        if not is_json_content_type(request.headers.get("content-type")):
            raise MalformedRequest(
                415,
                "Send the request as JSON: Content-Type: application/json (UTF-8).",
                "UNSUPPORTED_MEDIA_TYPE",
            )
        try:
            body = await request.body()
        except ClientDisconnect:
            # Gone before its body arrived: a client's doing, not a failure of
            # ours (no ERROR, no internal_error); the answer reaches nobody.
            raise MalformedRequest(
                400, "The connection closed before the request body arrived."
            ) from None
        except BodyReadTimeout:
            # A client's doing too (web/body_limit.py): a request error, not
            # an internal one; the connection closes after the answer.
            raise MalformedRequest(
                408, BODY_TIMEOUT_MESSAGE, "REQUEST_TIMEOUT", headers={"Connection": "close"}
            ) from None
        return params_from_body(body)

    # ------------------------------------------------------------ running

    async def _run(
        self, request: Request, params: GraphQLParams, media_type: str
    ) -> tuple[Response, str | None, str]:
        resources: AppResources = request.state.resources
        try:
            resolution = await resources.persisted_queries.resolve(params.query, params.extensions)
        except PersistedQueryError as error:
            PERSISTED_QUERIES.labels("miss" if error.status == 200 else "refused").inc()
            raise
        if resolution.sha256 is not None and not resolution.new:
            PERSISTED_QUERIES.labels("hit").inc()
        query = resolution.query
        if not query:
            raise MalformedRequest(400, "The request has no `query` (a GraphQL document).")
        operation = operation_name_in(query, params.operation_name)
        request.state.operation_name = operation
        request.state.operation_type = operation_type_in(
            query, params.operation_name, request.state.settings.max_tokens
        )

        is_get = request.method == "GET"
        answers = resources.answer_cache
        # Statements without side effects: retried once whatever the operation.
        probe = await _once_more_if_unavailable(
            lambda: self._probe(request, answers, query, params)
        )
        if probe.etag is not None and is_get and if_none_match(request, probe.etag):
            LOOKUPS.labels("not_modified").inc()
            return self._not_modified(probe.etag), operation, "ok"
        if probe.answer is not None:
            LOOKUPS.labels("hit").inc()
            response = answers.respond(request, probe.answer, _with_charset(media_type))
            if is_get and probe.etag is not None:
                response.headers.update(self._cache_headers(probe.etag))
            return response, operation, "ok"
        if probe.key is not None:
            # Concurrent misses of one key (every poller right after a
            # write) wait for the first instead of each computing it.
            shared = await answers.wait_or_lead(probe.key)
            if shared is not None:
                LOOKUPS.labels("hit").inc()
                response = answers.respond(request, shared, _with_charset(media_type))
                if is_get and probe.etag is not None:
                    response.headers.update(self._cache_headers(probe.etag))
                return response, operation, "ok"
            LOOKUPS.labels("miss").inc()
            try:
                return await self._answer(
                    request, params, media_type, query, operation, probe, resolution
                )
            finally:
                # Whatever happened, requests waiting for this answer never hang:
                # they get the stored answer, or compute their own.
                answers.finish(probe.key, answers.peek(probe.key))
        return await self._answer(request, params, media_type, query, operation, probe, resolution)

    async def _answer(
        self,
        request: Request,
        params: GraphQLParams,
        media_type: str,
        query: str,
        operation: str | None,
        probe: Probe,
        resolution: Resolution,
    ) -> tuple[Response, str | None, str]:
        """Execute the request and answer it (storing a cacheable answer, and a
        new persisted document once it parsed and validated)."""
        is_get = request.method == "GET"
        resources: AppResources = request.state.resources
        answers = resources.answer_cache
        allowed = {OperationType.QUERY} if is_get else {OperationType.QUERY, OperationType.MUTATION}
        try:
            result, sub_response, context = await self._execute(request, params, query, allowed)
        except InvalidOperationTypeError as error:
            if is_get:
                raise MalformedRequest(
                    405,
                    f"{error.operation_type.value.capitalize()}s must be sent with POST.",
                    "METHOD_NOT_ALLOWED",
                    headers={"Allow": "POST"},
                ) from None
            raise MalformedRequest(
                400, f"{error.operation_type.value.capitalize()}s are not served over HTTP."
            ) from None
        except CannotGetOperationTypeError as error:
            response = self._graphql_request_error(error.as_http_error_reason(), media_type)
            return response, operation, "request_error"
        except MissingQueryError:
            raise MalformedRequest(400, "The request has no GraphQL document.") from None

        body = process_result(result)
        verdict = judge(dict(body), media_type)
        if resolution.new:
            await self._register(request, resources.persisted_queries, resolution, verdict.outcome)
        if verdict.drop_data:
            body.pop("data", None)
        encoded = self.encode_json(body)
        if (
            probe.key is not None
            and verdict.outcome == "ok"
            and not sub_response.headers.raw
            and context.answer_is_current
        ):
            stored = answers.store(probe.key, encoded)
            response = answers.respond(request, stored, _with_charset(media_type))
            if is_get and probe.etag is not None:
                response.headers.update(self._cache_headers(probe.etag))
            return response, operation, verdict.outcome
        response = Response(
            encoded, status_code=verdict.status, media_type=_with_charset(media_type)
        )
        response.headers.update(verdict.headers)
        # Headers a resolver set on the context's response (none today).
        response.headers.raw.extend(sub_response.headers.raw)
        if is_get and verdict.outcome == "ok":
            response = self._cacheable(request, response, encoded)
        return response, operation, verdict.outcome

    async def _probe(
        self, request: Request, answers: AnswerCache, query: str, params: GraphQLParams
    ) -> Probe:
        """The viewer with their tenant's versions (one statement), and the cached
        answer under that key if any; the context reuses the viewer."""
        state = await load_viewer_state(request.state.pool, request.headers.get("authorization"))
        if state is not None:
            # Where the session is looked up: a cached answer keeps it alive too.
            await keep_session_alive(
                request.state.pool, state.viewer, request.state.settings.session_idle_minutes
            )
        probe = answers.probe(state, query, params.operation_name, params.variables)
        request.state.answer_probe = probe
        return probe

    @staticmethod
    async def _register(
        request: Request, persisted: PersistedQueries, resolution: Resolution, outcome: str
    ) -> None:
        """Keep a new automatic persisted query once it parsed and validated:
        a request error (parse, validation, limits) keeps nothing."""
        if outcome == "request_error":
            PERSISTED_QUERIES.labels("refused").inc()
            return
        client = client_bucket(request.client.host) if request.client else "unknown"
        stored = await persisted.register(resolution, client)
        PERSISTED_QUERIES.labels("registered" if stored else "over_quota").inc()

    @staticmethod
    def _cache_headers(etag: str) -> dict[str, str]:
        return {
            "ETag": etag,
            "Cache-Control": "private, no-cache",
            "Vary": "Accept, Accept-Encoding, Authorization",
        }

    def _not_modified(self, etag: str) -> Response:
        return Response(status_code=304, headers=self._cache_headers(etag))

    async def _execute(
        self,
        request: Request,
        params: GraphQLParams,
        query: str,
        allowed: set[OperationType],
    ) -> tuple[ExecutionResult, Response, Context]:
        """Execute the operation; a read that met an outage runs once more.

        The retry is of the whole operation, here, rather than of a pool
        checkout in db/pool.py: a connection also dies in the middle of a
        statement (asyncpg already replaces the ones it saw close while idle),
        and a read runs many statements through loaders. Only here is the
        operation's type known, so a query is retried (idempotent) on fresh
        connections and fresh loaders, and a mutation never is: its write may
        have committed before the connection went, the client decides.
        """

        def read() -> bool:
            return is_read(request, query, params.operation_name)

        for attempt in (1, 2):
            sub_response = await self.get_sub_response(request)
            try:
                context = await self.get_context(request, sub_response)
                result = await self.schema.execute(
                    query,
                    variable_values=params.variables,
                    context_value=context,
                    operation_name=params.operation_name,
                    allowed_operation_types=allowed,
                    operation_extensions=params.extensions,
                )
            except Exception as error:
                if attempt == 2 or not database_unavailable(error) or not read():
                    raise
            else:
                if attempt == 2 or not _met_outage(result) or not read():
                    return result, sub_response, context
            logger.warning("database unavailable, the read runs once more")
            await asyncio.sleep(READ_RETRY_PAUSE_SECONDS)
        raise AssertionError("the second attempt returns or raises")

    def _cacheable(self, request: Request, response: Response, body: bytes) -> Response:
        """A successful GET answer: private, revalidated with an ETag (304 when unchanged)."""
        # Weak: compression may change the bytes, not the meaning.
        etag = 'W/"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = {
            "ETag": etag,
            "Cache-Control": "private, no-cache",
            "Vary": "Accept, Authorization",
        }
        candidates = {
            tag.strip().removeprefix("W/")
            for tag in request.headers.get("if-none-match", "").split(",")
        }
        if etag.removeprefix("W/") in candidates or "*" in candidates:
            return Response(status_code=304, headers=headers)
        response.headers.update(headers)
        return response

    # ------------------------------------------------------------ answering

    def _graphql_request_error(self, message: str, media_type: str) -> Response:
        status = 400 if media_type == GRAPHQL_RESPONSE_JSON else 200
        return Response(
            self.encode_json(error_body(message, "BAD_REQUEST")),
            status_code=status,
            media_type=_with_charset(media_type),
        )

    def _error_response(self, status: int, message: str, code: str, media_type: str) -> Response:
        return Response(
            self.encode_json(error_body(message, code)),
            status_code=status,
            media_type=_with_charset(media_type),
        )


async def _once_more_if_unavailable(read: Callable[[], Awaitable[T]]) -> T:
    """Run a read; if it met a database outage, once more on fresh connections."""
    try:
        return await read()
    except Exception as error:
        if not database_unavailable(error):
            raise
    logger.warning("database unavailable, the read runs once more")
    await asyncio.sleep(READ_RETRY_PAUSE_SECONDS)
    return await read()


def is_read(request: Request, query: str, operation_name: str | None) -> bool:
    """Whether the request runs a query (GET runs nothing else)."""
    return request.method == "GET" or is_query_operation(query, operation_name)


def _met_outage(result: ExecutionResult) -> bool:
    return any(
        (error.extensions or {}).get("code") == "SERVICE_UNAVAILABLE"
        for error in result.errors or ()
    )


def _with_charset(media_type: str) -> str:
    return f"{media_type}; charset=utf-8"
