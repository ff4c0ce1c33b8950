"""A worker's background work, owned in one place: the lifespan's `Supervisor`.

Long-running services (the change feed, the live summaries' sweep, the
replica monitor, the mail sender, housekeeping, the metrics sampler) are
started by name. Short-lived tasks that requests leave behind (a tenant's
contract refresh, a summary write-through, live summary pushes) are spawned
here instead of with a bare `create_task`: none is garbage-collected in
flight, none outlives the worker, a failure is logged at ERROR.

A service that crashes (or returns) is logged at ERROR with its traceback
and started again after a back-off: 1 s, doubling up to 60 s, back to 1 s
once it ran that long. Restarting rather than failing readiness: a worker
out of rotation would not send its mail again, and every worker would fail
alike; the ERROR line and `service360_background_restarts_total` are what
to alert on.

On shutdown the tasks are awaited while the services stop in reverse order
of start, everything within `stop_seconds`: a service given `request_stop`
is asked to finish (the mail sender ends the mail being sent and hands the
rest back), the others are cancelled; whatever has not ended by the
deadline is cancelled.

Not asyncio.TaskGroup: there one failing task cancels all the others, and
its exit waits for every task, unordered and unbounded.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Coroutine, Hashable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from prometheus_client import Counter

logger = logging.getLogger("service360.background")

RESTARTS = Counter(
    "service360_background_restarts_total",
    "Background services started again after they crashed, by service.",
    ["service"],
)
# A task cancelled at the deadline gets this long to unwind (hand mail back),
# and is cancelled again if it awaits something else meanwhile (an SMTP QUIT).
CANCEL_GRACE_SECONDS = 1.0
CANCELLATIONS = 3


@dataclass(eq=False)
class _Service:
    name: str
    run: Callable[[], Awaitable[None]]
    request_stop: Callable[[], None] | None
    task: asyncio.Task[None] | None = None
    running: bool = False  # inside `run` (not waiting to restart)
    stopping: bool = False


class Supervisor:
    """Starts, names, logs, restarts and stops a worker's background work."""

    def __init__(
        self,
        *,
        stop_seconds: float = 10.0,
        restart_min_seconds: float = 1.0,
        restart_max_seconds: float = 60.0,
    ) -> None:
        self.stop_seconds = stop_seconds
        self.restart_min_seconds = restart_min_seconds
        self.restart_max_seconds = restart_max_seconds
        self._services: dict[str, _Service] = {}  # in order of start
        self._tasks: set[asyncio.Task[None]] = set()
        self._by_key: dict[Hashable, asyncio.Task[None]] = {}
        self._running: collections.Counter[str] = collections.Counter()
        self._closed = False

    async def __aenter__(self) -> Supervisor:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.shutdown()

    # ------------------------------------------------------------ services

    def start(
        self,
        name: str,
        run: Callable[[], Awaitable[None]],
        *,
        request_stop: Callable[[], None] | None = None,
    ) -> None:
        """Run `run()` as the service `name` until shutdown, again after a crash.

        `request_stop`, if given, asks a running `run()` to return soon (a
        graceful stop); without it the service is stopped by cancellation.
        """
        if self._closed:
            raise RuntimeError(f"background service {name} started after shutdown")
        if name in self._services:
            raise ValueError(f"background service {name} is already running")
        service = _Service(name, run, request_stop)
        service.task = asyncio.get_running_loop().create_task(self._supervise(service), name=name)
        self._services[name] = service
        logger.info("background service %s started", name, extra={"service": name})

    async def stop(self, name: str) -> None:
        """Stop one service now (within `stop_seconds`)."""
        service = self._services.pop(name)
        await self._stop(service, asyncio.get_running_loop().time() + self.stop_seconds)

    async def _supervise(self, service: _Service) -> None:
        loop = asyncio.get_running_loop()
        delay = self.restart_min_seconds
        while True:
            started = loop.time()
            service.running = True
            try:
                await service.run()
                crash: BaseException | None = None
            except Exception as error:  # anything but cancellation: restart
                crash = error
            finally:
                service.running = False
            if service.stopping:
                if crash is not None:
                    logger.error(
                        "background service %s failed while stopping",
                        service.name,
                        exc_info=crash,
                        extra={"service": service.name},
                    )
                return
            if loop.time() - started >= self.restart_max_seconds:
                delay = self.restart_min_seconds  # it ran well for a while
            logger.error(
                "background service %s %s; restarting in %.1f s",
                service.name,
                "crashed" if crash is not None else "returned unexpectedly",
                delay,
                exc_info=crash,
                extra={"service": service.name, "restart_in_seconds": delay},
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.restart_max_seconds)
            RESTARTS.labels(service.name).inc()
            logger.info("background service %s restarted", service.name)

    async def _stop(self, service: _Service, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        task = service.task
        assert task is not None
        service.stopping = True
        if service.request_stop is not None and service.running:
            service.request_stop()
            await asyncio.wait({task}, timeout=max(0.0, deadline - loop.time()))
        cancelled = not task.done()
        if cancelled:
            await _cancel({task}, deadline)
        if not task.done():
            logger.error(
                "background service %s ignored its cancellation; left behind",
                service.name,
                extra={"service": service.name},
            )
        elif cancelled and service.request_stop is not None:
            logger.warning(
                "background service %s did not stop in time: cancelled",
                service.name,
                extra={"service": service.name},
            )
        else:
            logger.info(
                "background service %s stopped", service.name, extra={"service": service.name}
            )

    # ------------------------------------------------------------ tasks

    def spawn(
        self, name: str, work: Coroutine[Any, Any, None], *, key: Hashable | None = None
    ) -> asyncio.Task[None] | None:
        """Run `work` in the background, owned until it ends.

        None (and `work` is dropped) when shutting down, or when a task of
        the same `key` is still running: one at a time per key.
        """
        if self._closed or (key is not None and key in self._by_key):
            work.close()
            return None
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        self._running[name] += 1
        if key is not None:
            self._by_key[key] = task
        task.add_done_callback(lambda done: self._task_done(done, name, key))
        return task

    def running(self, name: str) -> int:
        """How many tasks spawned as `name` are still running."""
        return self._running[name]

    async def tasks_done(self, seconds: float | None = None) -> bool:
        """Wait (at most `seconds`) until no spawned task runs; whether none does."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=seconds)
        return not self._tasks

    def _task_done(self, task: asyncio.Task[None], name: str, key: Hashable | None) -> None:
        self._tasks.discard(task)
        self._running[name] -= 1
        if self._running[name] <= 0:
            del self._running[name]
        if key is not None and self._by_key.get(key) is task:
            del self._by_key[key]
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.error("background task %s failed", name, exc_info=error, extra={"task": name})

    # ------------------------------------------------------------ shutdown

    async def shutdown(self) -> None:
        """Await the tasks and stop the services (in reverse order), within `stop_seconds`."""
        self._closed = True
        deadline = asyncio.get_running_loop().time() + self.stop_seconds
        await asyncio.gather(self._end_tasks(deadline), self._stop_services(deadline))

    async def _stop_services(self, deadline: float) -> None:
        services = list(self._services.values())
        self._services.clear()
        for service in reversed(services):
            await self._stop(service, deadline)

    async def _end_tasks(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        if await self.tasks_done(max(0.0, deadline - loop.time())):
            return
        left = set(self._tasks)
        logger.warning("cancelling %d background task(s) at shutdown", len(left))
        await _cancel(left, deadline)
        if any(not task.done() for task in left):
            logger.error("background tasks ignored their cancellation; left behind")


async def _cancel(tasks: set[asyncio.Task[None]], deadline: float) -> None:
    """Cancel until done, waiting for the deadline or at least the grace each time."""
    loop = asyncio.get_running_loop()
    for _ in range(CANCELLATIONS):
        pending = {task for task in tasks if not task.done()}
        if not pending:
            return
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=max(CANCEL_GRACE_SECONDS, deadline - loop.time()))
