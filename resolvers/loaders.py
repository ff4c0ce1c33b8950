"""Per-request DataLoaders, kept in a registry on the request context.

Each loader class names its key (`FamilyById`); `context.loaders.get(Cls)`
returns the one instance of that class for the request, so every resolver
asking for it shares its batch. Batch functions answer in key order.

A load is shared by every path that asks for the same key, but each caller
awaits a future of its own (`Loader.load`): graphql-core cancels the siblings
of a field that fails under a non-null parent, and a cancelled caller must
not cancel the shared future, which would end every other path's await with
`CancelledError` (and leave the cancelled future cached for the request).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import asyncpg
from aiodataloader import DataLoader
from prometheus_client import Histogram

from db.catalog import fetch_families_by_ids

if TYPE_CHECKING:
    from resolvers.context import Context

L = TypeVar("L", bound="Loader[Any, Any]")
K = TypeVar("K")
V = TypeVar("V")


# Observed once per batch (not per key or field): exported on /metrics.
LOADER_BATCH_SIZE = Histogram(
    "service360_dataloader_batch_size",
    "Keys per DataLoader batch, by loader class.",
    ["loader"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)


class Loader(DataLoader, Generic[K, V]):
    """A DataLoader bound to one request's context."""

    def __init__(self, context: Context) -> None:
        super().__init__()
        self.context = context

    def load(self, key: K) -> asyncio.Future[V]:
        """The value of `key`, as a future of this caller's own.

        Cancelling it (the caller was cancelled) leaves the shared load, its
        batch and every other caller's future untouched.
        """
        shared: asyncio.Future[V] = super().load(key)
        own = asyncio.shield(shared)
        # A caller cancelled before it awaited leaves its future unread: the
        # error it holds is the shared load's, reported to whoever awaits it,
        # not an unhandled one for asyncio to log at ERROR.
        own.add_done_callback(_mark_read)
        return own

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Wrap each loader's batch function once, when its class is made, so
        # that every batch reports its size.
        super().__init_subclass__(**kwargs)
        batch_load_fn = cls.__dict__.get("batch_load_fn")
        if batch_load_fn is None:
            return
        sizes = LOADER_BATCH_SIZE.labels(cls.__name__)

        # A coroutine function itself: aiodataloader refuses anything else.
        @functools.wraps(batch_load_fn)
        async def observed_batch_load_fn(self: Loader[Any, Any], keys: Sequence[Any]) -> Any:
            sizes.observe(len(keys))
            return await batch_load_fn(self, keys)

        setattr(cls, "batch_load_fn", observed_batch_load_fn)  # noqa: B010 - typed as a method


def _mark_read(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class LoaderRegistry:
    def __init__(self, context: Context) -> None:
        self._context = context
        self._loaders: dict[type, Any] = {}

    def get(self, loader_class: type[L]) -> L:
        loader = self._loaders.get(loader_class)
        if loader is None:
            loader = self._loaders[loader_class] = loader_class(self._context)
        return loader


def in_key_order(keys: Sequence[K], rows: Sequence[asyncpg.Record], key: str = "id") -> list[Any]:
    by_key = {row[key]: row for row in rows}
    return [by_key.get(k) for k in keys]


class FamilyById(Loader[int, asyncpg.Record | None]):
    async def batch_load_fn(self, keys: Sequence[int]) -> list[asyncpg.Record | None]:
        rows = await fetch_families_by_ids(self.context.db, keys)
        return in_key_order(keys, rows)
