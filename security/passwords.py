"""argon2id password hashing off the event loop, with bounded concurrency.

argon2 is deliberately slow and memory hungry. Each hash runs in a worker
thread (argon2-cffi releases the GIL), and a semaphore keeps at most
`concurrency` of them running, so a flood of sign-ins queues here instead of
starving every other request of CPU and memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from starlette.concurrency import run_in_threadpool

# argon2-cffi's defaults are RFC 9106's low-memory profile (argon2id, 64 MiB,
# t=3, p=4): above OWASP's minimum (19 MiB, t=2, p=1).
_HASHER = PasswordHasher()
T = TypeVar("T")


class PasswordHashing:
    def __init__(self, concurrency: int, hasher: PasswordHasher = _HASHER) -> None:
        self._hasher = hasher
        self._semaphore = asyncio.Semaphore(concurrency)
        self._dummy_hash: str | None = None
        self.waiting = 0

    async def _dummy(self) -> str:
        # Compared against when there is no account, so that an unknown
        # address costs as much time as a known one (no enumeration by timing).
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash("service360 dummy password for equal work")
        return self._dummy_hash

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when `password` matches; runs a dummy check when there is no hash."""
        target = password_hash or await self._dummy()
        matched = await self._run(self._verify_sync, target, password)
        return matched and password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def _verify_sync(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def _run(self, func: Callable[..., T], *args: Any) -> T:
        self.waiting += 1
        try:
            await self._semaphore.acquire()
        finally:
            self.waiting -= 1
        try:
            return await run_in_threadpool(func, *args)
        finally:
            self._semaphore.release()


def hash_password_sync(password: str) -> str:
    """For command-line tools and demo data, outside the event loop."""
    return _HASHER.hash(password)
