"""Helpers the tests import: the app served in-process, its GraphQL client, SMTP.

Fixtures stay in tests/conftest.py; these are plain objects any test module may use.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import asyncpg
import httpx
from starlette.applications import Starlette

from app_state import State
from config import Settings
from db.embedded import dsn_for_database

ROOT = Path(__file__).resolve().parent.parent.parent


# Statements run on the server's maintenance database (create and drop databases).
async def admin_execute(server_dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn_for_database(server_dsn, "postgres"))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


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


class LifespanApp:
    """Runs an app's lifespan and hands its state to every request, as uvicorn does."""

    def __init__(self, app: Starlette, state: State) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app({**scope, "state": dict(self.state)}, receive, send)


def graphql_post_scope(content_length: int) -> dict[str, Any]:
    """The ASGI scope of a JSON POST to /graphql that declares `content_length` bytes,
    for tests that drive the app's receive/send by hand (bodies cut short or late)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(content_length).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


def without_throttles(settings: Settings) -> Settings:
    """Per-address and per-client limits out of the way of tests not about them."""
    return replace(settings, throttle_per_address=1000, throttle_per_client=1000)


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[tuple[LifespanApp, State]]:
    from server import create_app

    app = create_app(settings)
    async with app.router.lifespan_context(app) as state:
        yield LifespanApp(app, cast(State, state)), cast(State, state)


@dataclass
class GraphQLClient:
    http: httpx.AsyncClient
    state: State
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
