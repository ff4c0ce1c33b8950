"""Apollo automatic persisted queries and trusted documents.

Protocol (as Apollo Client, Apollo iOS and Apollo Kotlin send it): a request
carries `extensions.persistedQuery = {version: 1, sha256Hash}` and, on its
first try, no query text. An unknown hash answers PERSISTED_QUERY_NOT_FOUND;
the client then resends the text with the hash, which is checked and stored.

Modes (`PERSISTED_QUERIES`):
- `apq` (default): ad-hoc documents run; hashes are registered on demand.
- `only`: trusted documents mode. Only documents registered ahead with
  `python server.py persist-queries FILE` run; anything else is refused.
- `off`: every request must carry its text (a hash alone answers
  PERSISTED_QUERY_NOT_SUPPORTED, which makes Apollo clients stop sending them).

Documents live in PostgreSQL so that every worker shares them. A small
per-worker cache keeps hot documents off the database: a document never
changes under its hash, so a cached entry cannot be stale.

An automatic document is stored only once its request ran through parsing
and validation (`register`, called by the app after execution: text that is
not GraphQL, or not valid against the schema, is never kept), and each
client address may register at most `max_per_client` of them, so that no
client can fill the store and evict everybody else's. Past its quota a
client's documents still run; they are just not kept (Apollo clients then
send the text again).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import asyncpg

from db.persisted_queries import (
    fetch_persisted_query,
    store_automatic_query,
    touch_persisted_query,
)
from schema.input_guard import control_character_in

MODES = ("off", "apq", "only")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
# A hit refreshes last_used_at at most this often (eviction is by last use).
TOUCH_INTERVAL_SECONDS = 3600


class PersistedQueryError(Exception):
    """A persisted-query request that cannot run; `status` is its HTTP status."""

    def __init__(self, message: str, code: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


def not_found() -> PersistedQueryError:
    # Apollo clients look for this exact message (older ones) or the code.
    # 200 as Apollo Server answers it: Apollo iOS's response-code interceptor
    # runs before its APQ retry and would turn any 4xx into a hard failure.
    return PersistedQueryError("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND", 200)


def sha256_hex(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


@dataclass(frozen=True)
class PersistedQueryRequest:
    sha256: str


@dataclass(frozen=True)
class Resolution:
    """The document a request runs; `sha256` when it is persisted, `new` when
    its text came with an unknown hash (to `register` once it validated)."""

    query: str | None
    sha256: str | None = None
    new: bool = False


def persisted_query_of(extensions: dict[str, Any] | None) -> PersistedQueryRequest | None:
    """The `persistedQuery` extension of a request, checked; None when absent."""
    if not extensions or "persistedQuery" not in extensions:
        return None
    extension = extensions["persistedQuery"]
    if not isinstance(extension, dict):
        raise PersistedQueryError(
            "extensions.persistedQuery must be an object.", "BAD_REQUEST", 400
        )
    if extension.get("version") != 1:
        raise PersistedQueryError(
            "Unsupported persisted query version (only version 1 is).",
            "PERSISTED_QUERY_VERSION_NOT_SUPPORTED",
            400,
        )
    sha = extension.get("sha256Hash")
    if not isinstance(sha, str) or not _SHA256_HEX.match(sha.lower()):
        raise PersistedQueryError(
            "extensions.persistedQuery.sha256Hash must be a hex SHA-256.", "BAD_REQUEST", 400
        )
    return PersistedQueryRequest(sha256=sha.lower())


class PersistedQueries:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        mode: str,
        max_document_bytes: int,
        max_stored: int,
        max_per_client: int = 100,
        cache_size: int = 1000,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown persisted queries mode {mode!r}")
        self.pool = pool
        self.mode = mode
        self.max_document_bytes = max_document_bytes
        self.max_stored = max_stored
        self.max_per_client = max_per_client
        self._cache_size = cache_size
        # hash -> cached entry, most recently used last.
        self._cache: OrderedDict[str, _Cached] = OrderedDict()

    async def resolve(self, query: str | None, extensions: dict[str, Any] | None) -> Resolution:
        """The document to run for a request and its hash when it is persisted.

        Raises PersistedQueryError when the request cannot run as sent.
        Stores nothing: see `register`.
        """
        if self.mode == "off":
            if query is None and extensions and "persistedQuery" in extensions:
                # Apollo clients then stop sending hashes and send the text.
                raise PersistedQueryError(
                    "PersistedQueryNotSupported", "PERSISTED_QUERY_NOT_SUPPORTED", 400
                )
            return Resolution(query)
        requested = persisted_query_of(extensions)
        if requested is None:
            if self.mode == "only" and query is not None:
                raise PersistedQueryError(
                    "Only registered (trusted) documents may run on this server; "
                    "send extensions.persistedQuery with the hash of a registered document.",
                    "PERSISTED_QUERY_REQUIRED",
                    400,
                )
            return Resolution(query)
        sha = requested.sha256
        known = await self._lookup(sha)
        if query is None:
            if known is None or (self.mode == "only" and not known[1]):
                raise not_found()
            return Resolution(known[0], sha)
        if sha256_hex(query) != sha:
            raise PersistedQueryError(
                "The provided sha256Hash does not match the query text.",
                "PERSISTED_QUERY_HASH_MISMATCH",
                400,
            )
        if self.mode == "only":
            if known is None or not known[1]:
                raise PersistedQueryError(
                    "This document is not registered on this server (trusted documents only).",
                    "PERSISTED_QUERY_NOT_ALLOWED",
                    400,
                )
            return Resolution(query, sha)
        if known is None:
            # PostgreSQL refuses NUL in text; no document needs these characters.
            character = control_character_in(query)
            if character is not None:
                raise PersistedQueryError(
                    f"The document contains the control character {character}.",
                    "BAD_USER_INPUT",
                    400,
                )
            if len(query.encode()) > self.max_document_bytes:
                raise PersistedQueryError(
                    f"The document is larger than {self.max_document_bytes} bytes "
                    "and cannot be persisted.",
                    "PERSISTED_QUERY_TOO_LARGE",
                    400,
                )
            return Resolution(query, sha, new=True)
        return Resolution(query, sha)

    async def register(self, resolution: Resolution, client: str) -> bool:
        """Keep a new automatic document whose request parsed and validated;
        False when `client` has used its quota (the document is not kept)."""
        if not resolution.new or resolution.query is None or resolution.sha256 is None:
            return False
        stored = await store_automatic_query(
            self.pool,
            resolution.sha256,
            resolution.query,
            cap=self.max_stored,
            client=client,
            per_client=self.max_per_client,
        )
        if stored:
            self._remember(resolution.sha256, resolution.query, trusted=False)
        return stored

    async def _lookup(self, sha: str) -> tuple[str, bool] | None:
        cached = self._cache.get(sha)
        if cached is not None:
            self._cache.move_to_end(sha)
            if time.monotonic() - cached.touched_at > TOUCH_INTERVAL_SECONDS:
                # Hot documents served from this cache still count as used,
                # so that the cap evicts the ones nobody sends any more.
                cached.touched_at = time.monotonic()
                await touch_persisted_query(self.pool, sha, TOUCH_INTERVAL_SECONDS)
            return cached.document, cached.trusted
        row = await fetch_persisted_query(self.pool, sha)
        if row is None:
            return None
        await touch_persisted_query(self.pool, sha, TOUCH_INTERVAL_SECONDS)
        self._remember(sha, row["document"], trusted=row["trusted"])
        return row["document"], row["trusted"]

    def _remember(self, sha: str, document: str, *, trusted: bool) -> None:
        self._cache[sha] = _Cached(document, trusted, time.monotonic())
        self._cache.move_to_end(sha)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)


@dataclass
class _Cached:
    document: str
    trusted: bool
    touched_at: float


def read_document_map(raw: Any) -> list[tuple[str, str]]:
    """Hash → document pairs from a Relay / GraphQL Codegen persisted-documents JSON.

    Accepts `{"<sha256>": "<document>", ...}`. Every hash must be the SHA-256
    of its document, else nothing is registered (ValueError names the first).
    """
    if not isinstance(raw, dict) or not raw:
        raise ValueError('expected a JSON object {"<sha256>": "<document>", ...}')
    pairs = []
    for key, document in raw.items():
        if not isinstance(key, str) or not isinstance(document, str):
            raise ValueError("every key and value must be a string")
        sha = key.removeprefix("sha256:").lower()
        if sha256_hex(document) != sha:
            raise ValueError(f"hash {key} is not the SHA-256 of its document")
        pairs.append((sha, document))
    return pairs
