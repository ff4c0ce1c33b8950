"""Client mistakes are logged at INFO with their code and no traceback; only
unexpected failures are logged at ERROR, with the traceback and request id.
Development logs read as lines, production logs as JSON."""

from __future__ import annotations

import io
import logging
import os
import sys

import asyncpg
import pytest

from telemetry import ConsoleFormatter, JsonFormatter, log_formatter, request_id_var
from tests.fleet_data import create_tenant, create_user
from tests.support.app import GraphQLClient

CREATE_GROUP = """
mutation($name: String!) { createCustomGroup(input: {name: $name}) {
  customGroup { id } userErrors { code } } }
"""


async def test_client_mistakes_are_logged_at_info_with_their_code_and_no_traceback(
    client: GraphQLClient, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    tenant = await create_tenant(db, sites=1, products=2, seed=51)
    admin = await create_user(db, tenant, role="ADMIN")
    caplog.set_level(logging.DEBUG)
    mistakes = [
        ('{ customGroups(after: "彝") { totalCount } }', admin.token, "BAD_USER_INPUT"),
        ("{ customGroups(first: -1) { totalCount } }", admin.token, "BAD_USER_INPUT"),
        ("{ summary { productCount } }", None, "UNAUTHENTICATED"),
        ("{ nothingHere }", None, "GRAPHQL_VALIDATION_FAILED"),
        ("{ productFamilies { id ", None, "GRAPHQL_PARSE_FAILED"),
    ]
    for query, token, code in mistakes:
        body = await client.execute(query, token=token)
        assert [e["extensions"]["code"] for e in body["errors"]] == [code], body
    refused = await client.execute(CREATE_GROUP, {"name": " "}, token=admin.token)
    assert refused["data"]["createCustomGroup"]["userErrors"] == [{"code": "REQUIRED"}]

    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert [r for r in caplog.records if r.exc_info] == []
    logged = [getattr(r, "code", None) for r in caplog.records if r.name == "service360.errors"]
    assert logged == [code for _, _, code in mistakes] + ["REQUIRED"]


async def test_an_unexpected_failure_is_logged_at_error_with_traceback_and_request_id(
    client: GraphQLClient, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    # A real failure: the table the resolver reads is gone.
    await db.execute("drop table product_families cascade")
    caplog.set_level(logging.INFO)
    body = await client.execute("{ productFamilies { id } }")
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info is not None
    assert isinstance(errors[0].exc_info[1], asyncpg.UndefinedTableError)
    assert getattr(errors[0], "request_id", None) == error["extensions"]["requestId"]


def _record(with_traceback: bool) -> logging.LogRecord:
    try:
        raise ValueError("broken")
    except ValueError:
        exc_info = sys.exc_info() if with_traceback else None
    record = logging.LogRecord(
        "service360.test", logging.ERROR, __file__, 1, "it %s", ("broke",), exc_info
    )
    record.code = "SOMETHING"
    return record


def test_the_console_format_is_one_readable_line_with_the_request_id_and_a_traceback() -> None:
    token = request_id_var.set("req-123")
    try:
        text = ConsoleFormatter().format(_record(with_traceback=True))
    finally:
        request_id_var.reset(token)
    first, *rest = text.splitlines()
    assert first.endswith(" ERROR   service360.test: it broke [req-123] code=SOMETHING")
    assert rest[0] == "Traceback (most recent call last):" and rest[-1] == "ValueError: broken"


def test_logs_are_readable_lines_on_a_terminal_and_json_otherwise() -> None:
    primary, secondary = os.openpty()
    with os.fdopen(secondary, "w") as terminal:
        assert isinstance(log_formatter("auto", terminal), ConsoleFormatter)
        assert isinstance(log_formatter("json", terminal), JsonFormatter)
    os.close(primary)
    piped = io.StringIO()
    assert isinstance(log_formatter("auto", piped), JsonFormatter)
    assert isinstance(log_formatter("console", piped), ConsoleFormatter)


async def test_a_clients_operation_name_writes_no_line_of_its_own_and_no_megabyte_line(
    client: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    forged = "x\n01:00:00.000 ERROR   service360.errors: forged\x1b[31m"
    long_name = "B" * 300_000
    for query, operation_name in (
        ("{ __typename }", forged),
        ("{ __typename }", long_name),
        (f"query {long_name} {{ __typename }}", None),
    ):
        await client.http.post("/graphql", json={"query": query, "operationName": operation_name})
    assert caplog.records
    for formatter in (ConsoleFormatter(), JsonFormatter()):
        for record in caplog.records:
            text = formatter.format(record)
            assert "\n" not in text and "\x1b" not in text, text
            assert len(text) < 5000
    request_lines = [ConsoleFormatter().format(r) for r in caplog.records]
    assert not any(line.startswith("01:00:00.000") for line in request_lines)
    assert any("operation=x\\n01:00:00.000" in line for line in request_lines)
