"""The Strawberry ASGI app with our per-request context."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from db.pool import StatementStats, current_stats
from resolvers.context import Context, build_context


class GraphQLApp(GraphQL[Context, None]):
    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None = None
    ) -> Context:
        assert isinstance(request, Request)
        state: Any = request.state
        stats = current_stats.get() or StatementStats()
        return await build_context(
            request,
            response if isinstance(response, Response) else None,
            pool=state.pool,
            settings=state.settings,
            stats=stats,
            resources=state.resources,
        )
