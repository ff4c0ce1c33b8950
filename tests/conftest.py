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

import asyncpg
import httpx
import pytest
from aiosmtpd.controller import Controller

from config import Settings
from db.embedded import dsn_for_database, embedded_postgres
from db.migrate import apply_migrations
from tests.support.app import ROOT, GraphQLClient, SMTPServer, admin_execute, running_app


def _order_seed_line(config: pytest.Config) -> str | None:
    # pytest-randomly prints its seed in the header, which `-q` (our addopts) hides.
    seed = (
        config.getoption("randomly_seed", None)
        if config.pluginmanager.has_plugin("randomly")
        else None
    )
    if seed is None:
        return None
    replay = f'make test PYTEST_ARGS="--randomly-seed={seed}"'
    return f"random order: --randomly-seed={seed} (replay: {replay})"


def pytest_collection_finish(session: pytest.Session) -> None:
    line = _order_seed_line(session.config)
    if line:
        session.config.get_terminal_writer().line(line)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    line = _order_seed_line(config)
    if line:
        terminalreporter.write_line(line)


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
    asyncio.run(admin_execute(pg_server_dsn, f'create database "{name}"'))
    asyncio.run(_migrate(dsn_for_database(pg_server_dsn, name)))
    # A template must have no connections when it is copied.
    yield name
    asyncio.run(admin_execute(pg_server_dsn, f'drop database if exists "{name}" with (force)'))


@pytest.fixture
async def database_url(pg_server_dsn: str, template_database: str) -> AsyncIterator[str]:
    name = f"s360_test_{secrets.token_hex(6)}"
    await admin_execute(pg_server_dsn, f'create database "{name}" template "{template_database}"')
    try:
        yield dsn_for_database(pg_server_dsn, name)
    finally:
        await admin_execute(pg_server_dsn, f'drop database if exists "{name}" with (force)')


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


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[GraphQLClient]:
    async with running_app(settings) as (app, state):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield GraphQLClient(http=http, state=state)
