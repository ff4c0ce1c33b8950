"""The committed schema.graphql is the schema the server serves."""

from __future__ import annotations

from pathlib import Path

from config import Settings
from schema import build_schema

ROOT = Path(__file__).resolve().parent.parent


def test_committed_schema_graphql_is_current() -> None:
    exported = build_schema(Settings(env="test")).as_str() + "\n"
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == exported, "schema.graphql is stale: run `make schema`"
