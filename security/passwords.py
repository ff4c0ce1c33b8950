"""argon2id password hashing off the event loop, with bounded concurrency.

argon2 is deliberately slow and memory hungry. Each hash runs on one thread
of a pool of its own (argon2-cffi releases the GIL) with `concurrency`
threads, so a flood of sign-ins queues here instead of starving every other
request of CPU and memory. The queue is bounded: past `max_waiting` callers
waiting their turn, a new one is refused at once (`HashingBusy`) rather than
left to wait seconds behind the others. On Linux the hashing threads run at a
lower scheduling priority: the event loop, which serves every other request,
goes first.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# argon2id with 64 MiB and t=3 (RFC 9106's low-memory profile), above OWASP's
# minimum (19 MiB, t=2, p=1); one lane (p=1) so that each hash is one thread
# and `concurrency` bounds the CPU that hashing takes. Hashes made with other
# parameters (e.g. argon2-cffi's default p=4) still verify: they carry theirs.
_HASHER = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=1)
T = TypeVar("T")


class HashingBusy(Exception):
    """Too many callers already wait for a hashing thread: try again shortly."""


def _lower_thread_priority(niceness: int) -> None:
    # Linux schedules threads on their own: this lowers only the hashing thread.
    if sys.platform == "linux" and niceness:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)


class PasswordHashing:
    def __init__(
        self,
        concurrency: int,
        niceness: int = 5,
        hasher: PasswordHasher = _HASHER,
        max_waiting: int = 4,
    ) -> None:
        """`niceness` (0-19) trades sign-in throughput under load for the
        latency of everything else: at 5 a hashing thread weighs a third of
        a serving one in the kernel's share of a busy CPU. `max_waiting`
        callers at most wait for a thread (about max_waiting / concurrency
        hash times); more are refused."""
        self._hasher = hasher
        self._max_waiting = max_waiting
        self._semaphore = asyncio.Semaphore(concurrency)
        self._threads = ThreadPoolExecutor(
            max_workers=concurrency,
            thread_name_prefix="argon2",
            initializer=_lower_thread_priority,
            initargs=(niceness,),
        )
        self._dummy_hash: str | None = None
        self.waiting = 0

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)

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
        if self._semaphore.locked() and self.waiting >= self._max_waiting:
            raise HashingBusy
        self.waiting += 1
        try:
            await self._semaphore.acquire()
        finally:
            self.waiting -= 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._threads, partial(func, *args))
        finally:
            self._semaphore.release()


def hash_password_sync(password: str) -> str:
    """For command-line tools and demo data, outside the event loop."""
    return _HASHER.hash(password)
