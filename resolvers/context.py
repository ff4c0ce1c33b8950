"""The per-request context that every resolver receives as `info.context`.

Reads go through `context.db` (fleet data, on `read_pool`: a replica or the
primary) and `context.primary_db` (accounts, on the primary): during a query
operation, the request's `ReadSnapshot` (one consistent view for the whole
answer) where it is on that database. Writes take their own connection and
transaction from `context.pool`, and so does work that outlives the request.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg
from starlette.requests import HTTPConnection
from starlette.responses import Response

from config import Settings
from db.pool import StatementStats
from db.snapshot import ReadSnapshot
from resolvers.i18n import SUPPORTED_LANGUAGES
from resolvers.loaders import LoaderRegistry
from resolvers.viewer import Viewer, keep_session_alive, load_viewer
from resolvers.viewer_state import ViewerState
from telemetry import current_request_id

if TYPE_CHECKING:  # both import this module
    from app_state import AppResources
    from resolvers.live import LiveConnection


@dataclass
class Context:
    # A Request, or the WebSocket of a subscription connection.
    request: HTTPConnection
    response: Response | None
    pool: asyncpg.Pool
    settings: Settings
    viewer: Viewer | None
    language: str
    client_ip: str
    request_id: str
    stats: StatementStats
    resources: AppResources
    # Where this request reads fleet data: the primary (`pool`) unless the
    # request is a query and a replica has replayed the viewer's last write
    # (resolvers/read_routing.py). Writes always use `pool`.
    read_pool: asyncpg.Pool = field(init=False)
    # The chosen replica's replay position (0: reads on the primary), and the
    # primary's WAL position when the viewer's data versions were read.
    read_replay_lsn: int = 0
    versions_lsn: int = 0
    loaders: LoaderRegistry = field(init=False)
    # graphql-transport-ws: the connection_init payload (Strawberry sets it).
    connection_params: dict[str, Any] | None = None
    snapshot: ReadSnapshot | None = field(default=None, init=False)
    # A subscription connection's registration with the live summaries,
    # set once connection_init authenticated it (resolvers/live.py).
    live_connection: LiveConnection | None = field(default=None, init=False)

    @property
    def answer_is_current(self) -> bool:
        """Whether this answer may be cached under the data versions read at the start:
        read on the primary, or on a replica that had replayed past that point."""
        return self.read_pool is self.pool or self.read_replay_lsn >= self.versions_lsn > 0

    def __post_init__(self) -> None:
        self.read_pool = self.pool
        self.loaders = LoaderRegistry(self)

    @property
    def db(self) -> asyncpg.Pool | ReadSnapshot:
        """Where fleet reads go: the operation's snapshot while one is open (on
        `read_pool`), else `read_pool`."""
        return self.snapshot if self.snapshot is not None else self.read_pool

    @property
    def primary_db(self) -> asyncpg.Pool | ReadSnapshot:
        """Where reads that stay on the primary go (accounts): the operation's
        snapshot when it is on the primary, else the pool."""
        if self.snapshot is not None and self.read_pool is self.pool:
            return self.snapshot
        return self.pool

    @contextlib.asynccontextmanager
    async def read_snapshot(self) -> AsyncIterator[None]:
        """Reads within share one snapshot (opened by the first of them) on
        `read_pool`, so `route_reads` must have run before."""
        snapshot = self.snapshot = ReadSnapshot(self.read_pool)
        try:
            yield
        finally:
            self.snapshot = None
            await snapshot.close()


def language_from_header(accept_language: str | None) -> str:
    """The first supported language of an Accept-Language header, else English."""
    if not accept_language:
        return "en"
    ranked = []
    for index, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, index, tag.strip().lower()[:2]))
    for _, _, language in sorted(ranked):
        if language in SUPPORTED_LANGUAGES:
            return language
    return "en"


async def build_context(
    request: HTTPConnection,
    response: Response | None,
    *,
    pool: asyncpg.Pool,
    settings: Settings,
    stats: StatementStats,
    resources: AppResources,
    viewer_state: ViewerState | None = None,
    viewer_known: bool = False,
) -> Context:
    # `viewer_known`: the edge already looked the session up (with its
    # tenant's versions, for the answer cache): no second lookup.
    if viewer_known:
        viewer = viewer_state.viewer if viewer_state is not None else None
    else:
        viewer = await load_viewer(pool, request.headers.get("authorization"))
        if viewer is not None:
            await keep_session_alive(pool, viewer, settings.session_idle_minutes)
    language = (
        viewer.preferred_language
        if viewer is not None
        else language_from_header(request.headers.get("accept-language"))
    )
    context = Context(
        request=request,
        response=response,
        pool=pool,
        settings=settings,
        viewer=viewer,
        language=language,
        client_ip=request.client.host if request.client else "unknown",
        request_id=current_request_id(),
        stats=stats,
        resources=resources,
    )
    if viewer_state is not None:
        context.versions_lsn = viewer_state.wal_lsn
    return context
