"""A TCP proxy in front of PostgreSQL that a test can break on purpose.

Real connections, real server: the proxy only forwards bytes, and on demand
refuses new connections (the server is down) or cuts a connection the
moment a statement containing some text passes (the connection is lost in
the middle of an operation, as when PostgreSQL restarts under a query).
asyncpg sends a statement's text when it prepares it, once per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit, urlunsplit


@dataclass
class PostgresProxy:
    upstream_dsn: str
    port: int = 0
    refusing: bool = False
    cuts: dict[bytes, int] = field(default_factory=dict)
    cut_count: int = 0
    _server: asyncio.Server | None = None
    _transports: set[asyncio.StreamWriter] = field(default_factory=set)

    def dsn(self) -> str:
        """The upstream DSN (user, database) reached through the proxy."""
        parts = urlsplit(self.upstream_dsn)
        user = parts.username or "postgres"
        return urlunsplit(("postgresql", f"{user}@127.0.0.1:{self.port}", parts.path, "", ""))

    def cut_when(self, text: bytes, times: int = 1) -> None:
        """Cut the next `times` connections that send `text`, before it is forwarded."""
        self.cuts[text] = self.cuts.get(text, 0) + times

    def cut_all(self) -> None:
        """Close every open connection (the server went away)."""
        for writer in list(self._transports):
            writer.transport.abort()

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        parts = urlsplit(self.upstream_dsn)
        socket_dir = parse_qs(parts.query).get("host", [parts.hostname or ""])[0]
        port = parts.port or 5432
        if socket_dir.startswith("/"):
            return await asyncio.open_unix_connection(f"{socket_dir}/.s.PGSQL.{port}")
        return await asyncio.open_connection(socket_dir, port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        up_reader, up_writer = await self._open_upstream()
        self._transports.update((writer, up_writer))

        async def pump(
            source: asyncio.StreamReader, sink: asyncio.StreamWriter, to_server: bool
        ) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while chunk := await source.read(65536):
                    if to_server and self._should_cut(chunk):
                        break
                    sink.write(chunk)
                    await sink.drain()
            writer.transport.abort()
            up_writer.transport.abort()

        try:
            await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))
        finally:
            self._transports.difference_update((writer, up_writer))

    def _should_cut(self, chunk: bytes) -> bool:
        for text, left in self.cuts.items():
            if left > 0 and text in chunk:
                self.cuts[text] = left - 1
                self.cut_count += 1
                return True
        return False


@contextlib.asynccontextmanager
async def postgres_proxy(upstream_dsn: str) -> AsyncIterator[PostgresProxy]:
    proxy = PostgresProxy(upstream_dsn)
    server = await asyncio.start_server(proxy._handle, "127.0.0.1", 0)
    proxy._server = server
    proxy.port = server.sockets[0].getsockname()[1]
    try:
        yield proxy
    finally:
        server.close()
        proxy.cut_all()
        await server.wait_closed()
