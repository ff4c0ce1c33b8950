"""Slow and idle clients at a live server: a body that does not arrive in time
is answered 408 and its connection closed; past MAX_CONNECTIONS a worker
answers 503 in JSON."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from config import Settings
from tests.live_server import live_server
from tests.support.app import graphql_post_scope, running_app

# Far beyond the deadlines set here: a hang fails the test instead of blocking it.
SOCKET_TIMEOUT_SECONDS = 60


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes, bool]:
    """Status, headers and body of one answer, and whether the server then
    closed the connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed without an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed in the middle of the answer"
        body += chunk
    try:
        closed = sock.recv(1) == b""
    except ConnectionResetError:
        closed = True
    return int(status_line.split()[1]), headers, body, closed


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=SOCKET_TIMEOUT_SECONDS)


def test_a_body_that_does_not_arrive_in_time_is_answered_408_and_the_connection_closed(
    database_url: str, tmp_path: Path
) -> None:
    with live_server(
        database_url, tmp_path / "server.log", BODY_READ_TIMEOUT_SECONDS="1"
    ) as server:
        with connect(server.url) as sock:
            sock.sendall(
                b"POST /graphql HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n"
                b'{"query":'
            )
            status, headers, body, closed = read_answer(sock)
        log = server.log()
    assert status == 408
    assert headers["content-type"].startswith("application/json")
    error = orjson.loads(body)["errors"][0]
    assert error["extensions"]["code"] == "REQUEST_TIMEOUT"
    assert headers["x-request-id"]
    assert closed
    assert '"level": "ERROR"' not in log and '"level":"ERROR"' not in log


async def test_a_body_read_timeout_is_a_request_error_not_an_internal_one(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Without uvicorn: the deadline is the app's own, whatever serves it."""
    caplog.set_level(logging.INFO)
    first = [{"type": "http.request", "body": b'{"query": "{ produ', "more_body": True}]

    async def receive() -> dict[str, Any]:
        if first:
            return first.pop()
        await asyncio.Event().wait()  # the rest of the body never comes
        raise AssertionError("unreachable")

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = graphql_post_scope(content_length=5000)
    quick = replace(settings, body_read_timeout_seconds=0.2)
    async with running_app(quick) as (app, _state):
        await app(scope, receive, send)
    assert sent[0]["status"] == 408
    assert (b"connection", b"close") in [(k.lower(), v) for k, v in sent[0]["headers"]]
    assert orjson.loads(sent[1]["body"])["errors"][0]["extensions"]["code"] == "REQUEST_TIMEOUT"
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_past_max_connections_a_worker_answers_503_in_json(
    database_url: str, tmp_path: Path
) -> None:
    """Idle connections fill the worker's limit: a request on one more is
    answered 503 SERVICE_UNAVAILABLE in JSON (uvicorn's own answer is plain
    text: web/overload.py), and served again once they close."""
    with live_server(database_url, tmp_path / "server.log", MAX_CONNECTIONS="3") as server:
        idle = [connect(server.url) for _ in range(3)]
        try:
            with connect(server.url) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
                status, headers, body, closed = read_answer(sock)
        finally:
            for sock in idle:
                sock.close()
        assert status == 503
        assert headers["content-type"].startswith("application/json")
        assert headers["retry-after"]
        error = orjson.loads(body)["errors"][0]
        assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        assert error["extensions"]["requestId"] == headers["x-request-id"]
        assert closed
        # The closed connections leave the count as the server notices them.
        for _ in range(200):
            with connect(server.url) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                status, *_ = read_answer(sock)
            if status == 200:
                break
            time.sleep(0.05)
        assert status == 200
