"""Subscriptions (graphql-transport-ws on /graphql): the Summary tab, live.

Authenticate in `connection_init` with `{"Authorization": "Bearer <token>"}`.
The subscription answers the current summary at once and then each time it
changes; it sees exactly what the `summary` query sees.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from resolvers.context import Context
from resolvers.live import watch_summary
from resolvers.permissions import HasFullAccess
from schema.fleet import Summary

Info = strawberry.Info[Context, None]


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The Summary tab, live: the summary now, then again each time it "
        "changes (and only then). The whole visible fleet, or one of your custom groups.",
        permission_classes=[HasFullAccess],
    )
    async def summary(
        self, info: Info, group_id: strawberry.ID | None = None
    ) -> AsyncGenerator[Summary, None]:
        async for row in watch_summary(info.context, group_id):
            yield Summary.from_row(row)
