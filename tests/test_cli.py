"""The command line: help, staff accounts, configuration errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "server.py", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_help_lists_every_command() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("serve", "migrate", "seed-demo", "create-staff", "import", "export-schema"):
        assert command in result.stdout


def test_bad_configuration_stops_with_one_line() -> None:
    result = run_cli("migrate", env={"PORT": "not-a-port"})
    assert result.returncode == 2
    assert result.stderr.strip() == "configuration error: PORT must be an integer, got 'not-a-port'"


async def test_create_staff_makes_a_verified_staff_account(database_url: str) -> None:
    result = run_cli(
        "create-staff",
        "Ops@Service360.example",
        env={"DATABASE_URL": database_url, "STAFF_PASSWORD": "a long staff password"},
    )
    assert result.returncode == 0, result.stderr
    assert "staff account created: Ops@Service360.example" in result.stdout
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "select is_staff, step, password_hash from users where email = 'ops@service360.example'"
        )
    finally:
        await conn.close()
    assert row is not None and row["is_staff"] and row["step"] == "COMPLETE"
    assert row["password_hash"].startswith("$argon2id$")


def test_create_staff_refuses_a_short_password(database_url: str) -> None:
    result = run_cli(
        "create-staff",
        "ops@service360.example",
        env={"DATABASE_URL": database_url, "STAFF_PASSWORD": "short"},
    )
    assert result.returncode == 1
    assert "12 to 128 characters" in result.stderr
