"""A load whose caller went away leaves nothing for asyncio to log as unhandled."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Sequence
from typing import Any, cast

import pytest

from resolvers.loaders import Loader


class FailingLoader(Loader[int, int]):
    async def batch_load_fn(self, keys: Sequence[int]) -> list[int]:
        await asyncio.sleep(0.01)
        raise RuntimeError("the batch failed")


async def test_a_failed_load_nobody_awaited_is_not_logged_as_unhandled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loader = FailingLoader(cast(Any, object()))
    kept = loader.load(1)  # awaited: its caller sees the error
    loader.load(1)  # its caller was cancelled before awaiting: nobody reads it
    with pytest.raises(RuntimeError):
        await kept
    await asyncio.sleep(0.02)
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        gc.collect()
        await asyncio.sleep(0)
    assert [r for r in caplog.records if "never retrieved" in r.getMessage()] == []
