"""Exact answer cache: encoded GraphQL answers kept per worker.

A fleet query's answer depends only on the document, the operation and its
variables, who asks (organization, user — their groups and site set —, role,
site scope, language), the tenant's data version and the tenant's day. All of
these are the key, so an entry is either the exact answer or unreachable:

- the data version and day are read with the viewer's session, in the one
  statement every request runs anyway (`resolvers.viewer_state`): a read that
  starts after a write's commit was acknowledged sees the new version, on any
  worker or host, whether or not this worker has heard the notification yet;
- the change feed (`db.changes`) only frees memory early: entries of a tenant
  older than its notified version are dropped, and everything after the
  listener reconnects.

Only documents whose root fields are all fleet reads (`summary`,
`customGroups`, `products`, `sites`) are cached, and only answers without
errors. A hit runs no GraphQL and encodes nothing: the JSON bytes and their
gzip are stored. The same key names GET answers (`ETag`), so a client holding
the current one gets 304 without anything being executed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    parse,
)
from prometheus_client import Counter, Gauge
from starlette.requests import Request
from starlette.responses import Response

from db.changes import TenantChange
from resolvers.viewer_state import ViewerState

logger = logging.getLogger("service360.answer_cache")

# Root fields whose answers depend only on the tenant's fleet data and the
# viewer's scope: everything under them is versioned by fleet_versions.
FLEET_ROOT_FIELDS = frozenset({"summary", "customGroups", "products", "sites", "__typename"})
GZIP_MIN_BYTES = 1024
GZIP_LEVEL = 5  # as the GZip middleware (server.py)

LOOKUPS = Counter(
    "service360_answer_cache_lookups_total",
    "Answer cache lookups of cacheable requests by result (hit, miss, not_modified).",
    ["result"],
)
COALESCED = Counter(
    "service360_answer_cache_coalesced_total",
    "Cacheable requests that waited for the same answer being computed by another request "
    "of this worker instead of computing it again.",
)
EVICTIONS = Counter(
    "service360_answer_cache_evictions_total",
    "Answers dropped from the cache, by reason (size, version, reset).",
    ["reason"],
)
CACHED_BYTES = Gauge(
    "service360_answer_cache_bytes",
    "Bytes of answers held (JSON and gzip), summed over live workers.",
    multiprocess_mode="livesum",
)
CACHED_ENTRIES = Gauge(
    "service360_answer_cache_entries",
    "Answers held, summed over live workers.",
    multiprocess_mode="livesum",
)

AnswerKey = tuple[Any, ...]


@dataclass(frozen=True)
class CachedAnswer:
    body: bytes
    gzipped: bytes | None
    organization_id: int
    data_version: int

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzipped or b"") + 200  # ~ the entry's own overhead


@dataclass(frozen=True)
class Probe:
    """What the cache knows about one request before it runs."""

    state: ViewerState | None
    key: AnswerKey | None  # None: this request's answer is not cacheable
    etag: str | None
    answer: CachedAnswer | None


def etag_of(key: AnswerKey) -> str:
    digest = hashlib.blake2b(repr(key).encode(), digest_size=16).hexdigest()
    # Weak: compression may change the bytes, not the meaning.
    return f'W/"{digest}"'


def accepts_gzip(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "").lower()


def if_none_match(request: Request, etag: str) -> bool:
    candidates = {
        tag.strip().removeprefix("W/")
        for tag in request.headers.get("if-none-match", "").split(",")
    }
    return etag.removeprefix("W/") in candidates or "*" in candidates


class AnswerCache:
    """Per-worker LRU of encoded answers, bounded in bytes."""

    def __init__(self, max_bytes: int, max_documents: int = 1000) -> None:
        self.max_bytes = max_bytes
        self.max_documents = max_documents
        self.bytes = 0
        self._entries: OrderedDict[AnswerKey, CachedAnswer] = OrderedDict()
        self._by_tenant: dict[int, set[AnswerKey]] = {}
        self._shapes: OrderedDict[tuple[bytes, str | None], bool] = OrderedDict()
        # Answers being computed: concurrent misses of one key (every poller
        # right after a write) wait for the first instead of each computing.
        self._computing: dict[AnswerKey, asyncio.Future[CachedAnswer | None]] = {}

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def __len__(self) -> int:
        return len(self._entries)

    # ------------------------------------------------------------ keys

    def cacheable_document(self, query: str, digest: bytes, operation_name: str | None) -> bool:
        """Whether the operation is a query of fleet root fields only (memoized per document)."""
        shape_key = (digest, operation_name)
        known = self._shapes.get(shape_key)
        if known is None:
            known = _fleet_query_only(query, operation_name)
            self._shapes[shape_key] = known
            if len(self._shapes) > self.max_documents:
                self._shapes.popitem(last=False)
        return known

    def key_for(
        self,
        state: ViewerState | None,
        query: str,
        operation_name: str | None,
        variables: dict[str, Any] | None,
    ) -> AnswerKey | None:
        if state is None or state.viewer.organization_id is None:
            return None  # fleet reads need an organization: the answer is an error
        digest = hashlib.sha256(query.encode()).digest()
        if not self.cacheable_document(query, digest, operation_name):
            return None
        viewer = state.viewer
        try:
            encoded_variables = orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            return None
        return (
            digest,
            operation_name,
            encoded_variables,
            viewer.organization_id,
            viewer.user_id,
            viewer.role,
            viewer.site_scope,
            viewer.step,
            viewer.preferred_language,
            state.data_version,
            state.today,
        )

    def probe(
        self,
        state: ViewerState | None,
        query: str,
        operation_name: str | None,
        variables: dict[str, Any] | None,
    ) -> Probe:
        key = self.key_for(state, query, operation_name, variables) if self.enabled else None
        if key is None:
            return Probe(state, None, None, None)
        answer = self._entries.get(key)
        if answer is not None:
            self._entries.move_to_end(key)
        return Probe(state, key, etag_of(key), answer)

    # ------------------------------------------------------------ single flight

    async def wait_or_lead(self, key: AnswerKey, seconds: float = 30.0) -> CachedAnswer | None:
        """The answer another request of this worker is computing for `key`, or
        None when this request must compute it (it then calls `finish`)."""
        pending = self._computing.get(key)
        if pending is None:
            self._computing[key] = asyncio.get_running_loop().create_future()
            return None
        with contextlib.suppress(TimeoutError):
            answer = await asyncio.wait_for(asyncio.shield(pending), seconds)
            if answer is not None:
                COALESCED.inc()
            return answer
        return None

    def finish(self, key: AnswerKey, answer: CachedAnswer | None) -> None:
        """The leader's result (None: not cacheable after all; waiters compute)."""
        pending = self._computing.pop(key, None)
        if pending is not None and not pending.done():
            pending.set_result(answer)

    def peek(self, key: AnswerKey) -> CachedAnswer | None:
        return self._entries.get(key)

    # ------------------------------------------------------------ storing

    def store(self, key: AnswerKey, body: bytes) -> CachedAnswer:
        organization_id, data_version = key[3], key[9]
        gzipped = gzip.compress(body, GZIP_LEVEL) if len(body) >= GZIP_MIN_BYTES else None
        answer = CachedAnswer(body, gzipped, organization_id, data_version)
        if answer.size > self.max_bytes // 4:
            return answer  # too large to keep without pushing everything else out
        previous = self._entries.pop(key, None)
        if previous is not None:
            self.bytes -= previous.size
        self._entries[key] = answer
        self._by_tenant.setdefault(organization_id, set()).add(key)
        self.bytes += answer.size
        while self.bytes > self.max_bytes and self._entries:
            self._drop(next(iter(self._entries)), "size")
        self._publish()
        return answer

    def _drop(self, key: AnswerKey, reason: str) -> None:
        answer = self._entries.pop(key)
        self.bytes -= answer.size
        keys = self._by_tenant.get(answer.organization_id)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_tenant[answer.organization_id]
        EVICTIONS.labels(reason).inc()

    def _publish(self) -> None:
        CACHED_BYTES.set(self.bytes)
        CACHED_ENTRIES.set(len(self._entries))

    # ------------------------------------------------------------ change feed

    def tenant_changed(self, change: TenantChange) -> None:
        keys = self._by_tenant.get(change.organization_id)
        if not keys:
            return
        for key in [k for k in keys if self._entries[k].data_version < change.data_version]:
            self._drop(key, "version")
        self._publish()

    def sessions_changed(self, user_id: int) -> None:
        # Every request checks its own session: nothing cached depends on it.
        return None

    def everything_changed(self) -> None:
        for key in list(self._entries):
            self._drop(key, "reset")
        self._publish()

    # ------------------------------------------------------------ answering

    def respond(self, request: Request, answer: CachedAnswer, media_type: str) -> Response:
        """The stored bytes as they are; gzip ones when the client takes gzip."""
        headers = {"Vary": "Accept-Encoding"}
        body = answer.body
        if answer.gzipped is not None and accepts_gzip(request):
            body = answer.gzipped
            headers["Content-Encoding"] = "gzip"
        return Response(body, status_code=200, media_type=media_type, headers=headers)


def _fleet_query_only(query: str, operation_name: str | None) -> bool:
    try:
        document = parse(query, no_location=True, max_tokens=20_000)
    except GraphQLError:
        return False
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    if operation_name is None:
        if len(operations) != 1:
            return False
        operation = operations[0]
    else:
        named = [o for o in operations if o.name is not None and o.name.value == operation_name]
        if len(named) != 1:
            return False
        operation = named[0]
    if operation.operation != OperationType.QUERY:
        return False
    return _root_fields_in(operation.selection_set, fragments, set())


def _root_fields_in(
    selection_set: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    seen: set[str],
) -> bool:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value not in FLEET_ROOT_FIELDS:
                return False
        elif isinstance(selection, InlineFragmentNode):
            if not _root_fields_in(selection.selection_set, fragments, seen):
                return False
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in seen:
                return False
            if not _root_fields_in(fragment.selection_set, fragments, {*seen, name}):
                return False
    return True
