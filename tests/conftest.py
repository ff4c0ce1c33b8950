"""Fixtures: a real PostgreSQL (embedded, or TEST_DATABASE_URL), a fresh
database per test cloned from a migrated template, the app served in-process
with its lifespan, and a real SMTP server on loopback.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiosmtpd.controller import Controller
from starlette.applications import Starlette

from config import Settings
from db.embedded import dsn_for_database, embedded_postgres
from db.migrate import apply_migrations

ROOT = Path(__file__).resolve().parent.parent


async def _admin(server_dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn_for_database(server_dsn, "postgres"))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _migrate(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_server_dsn() -> Iterator[str]:
    """A PostgreSQL server: TEST_DATABASE_URL's, else an embedded one."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    with embedded_postgres(ROOT / ".data" / "test-postgres") as dsn:
        yield dsn


@pytest.fixture(scope="session")
def template_database(pg_server_dsn: str) -> Iterator[str]:
    """A migrated database that each test's database is cloned from."""
    name = f"s360_template_{os.getpid()}_{secrets.token_hex(3)}"
    asyncio.run(_admin(pg_server_dsn, f'create database "{name}"'))
    asyncio.run(_migrate(dsn_for_database(pg_server_dsn, name)))
    # A template must have no connections when it is copied.
    yield name
    asyncio.run(_admin(pg_server_dsn, f'drop database if exists "{name}" with (force)'))


@pytest.fixture
async def database_url(pg_server_dsn: str, template_database: str) -> AsyncIterator[str]:
    name = f"s360_test_{secrets.token_hex(6)}"
    await _admin(pg_server_dsn, f'create database "{name}" template "{template_database}"')
    try:
        yield dsn_for_database(pg_server_dsn, name)
    finally:
        await _admin(pg_server_dsn, f'drop database if exists "{name}" with (force)')


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to the test's database, for setup and assertions."""
    conn = await asyncpg.connect(database_url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        pool_min_size=1,
        pool_max_size=5,
    )


@dataclass
class ReceivedMail:
    sender: str
    recipients: list[str]
    content: bytes


@dataclass
class SMTPServer:
    host: str
    port: int
    messages: list[ReceivedMail] = field(default_factory=list)
    refuse: bool = False
    refuse_with: str | None = None
    # A slow server: each message is accepted (and recorded) this long after
    # its data arrived; `data_started` counts the messages that arrived.
    delay_seconds: float = 0.0
    data_started: int = 0

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_started += 1
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if self.refuse_with:
            return self.refuse_with
        if self.refuse:
            return "451 Try again later"
        self.messages.append(
            ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
        )
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    """A real SMTP server (aiosmtpd) on loopback, collecting what it receives."""
    # aiosmtpd checks that it started by connecting to its own port, so it
    # needs a real one: ask the OS for a free port first.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = SMTPServer(host="127.0.0.1", port=port)
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


class LifespanApp:
    """Runs an app's lifespan and hands its state to every request, as uvicorn does."""

    def __init__(self, app: Starlette, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app({**scope, "state": dict(self.state)}, receive, send)


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[tuple[LifespanApp, dict[str, Any]]]:
    from server import create_app

    app = create_app(settings)
    async with app.router.lifespan_context(app) as state:
        yield LifespanApp(app, dict(state or {})), dict(state or {})


@dataclass
class GraphQLClient:
    http: httpx.AsyncClient
    state: dict[str, Any]
    token: str | None = None

    async def execute(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        all_headers = dict(headers or {})
        bearer = token or self.token
        if bearer:
            all_headers["Authorization"] = f"Bearer {bearer}"
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=all_headers
        )
        body: dict[str, Any] = response.json()
        return body

    def signed_in(self, token: str) -> GraphQLClient:
        return replace(self, token=token)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[GraphQLClient]:
    async with running_app(settings) as (app, state):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield GraphQLClient(http=http, state=state)
