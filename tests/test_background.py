"""The background supervisor (background.py): services are started by name,
restarted after a crash that is logged at ERROR, and stopped in reverse order
within the shutdown bound; short-lived tasks are owned until they end, and
awaited or cancelled at shutdown."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

import asyncpg
import pytest
from prometheus_client import REGISTRY

from background import Supervisor
from config import Settings
from db.pool import create_pool
from mail.sender import MailSender
from resolvers.i18n import Mail
from resolvers.outbox import enqueue_mail
from tests.support.app import SMTPServer


async def eventually(condition: Callable[[], bool], within_seconds: float = 10.0) -> None:
    for _ in range(int(within_seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


def restarts(service: str) -> float:
    value = REGISTRY.get_sample_value("service360_background_restarts_total", {"service": service})
    return value or 0.0


async def test_a_crashed_service_is_logged_at_error_with_its_traceback_and_runs_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs = 0
    running_again = asyncio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise RuntimeError("the first run breaks")
        running_again.set()
        await asyncio.Event().wait()

    before = restarts("flaky")
    with caplog.at_level(logging.INFO, logger="service360.background"):
        async with Supervisor(restart_min_seconds=0.01) as background:
            background.start("flaky", flaky)
            await asyncio.wait_for(running_again.wait(), 10)
    crashes = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(crashes) == 1
    assert "flaky crashed; restarting" in crashes[0].getMessage()
    assert crashes[0].exc_info is not None
    assert str(crashes[0].exc_info[1]) == "the first run breaks"
    assert runs == 2
    assert restarts("flaky") == before + 1
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert messages == [
        "background service flaky started",
        "background service flaky restarted",
        "background service flaky stopped",
    ]


async def test_a_service_that_returns_on_its_own_is_run_again() -> None:
    runs = 0

    async def returns_at_once() -> None:
        nonlocal runs
        runs += 1

    async with Supervisor(restart_min_seconds=0.01) as background:
        background.start("returns", returns_at_once)
        await eventually(lambda: runs >= 3)


async def test_shutdown_stops_services_in_reverse_order_and_cancels_one_past_the_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stopped: list[str] = []

    def service(
        name: str, *, obeys: bool
    ) -> tuple[Callable[[], Awaitable[None]], Callable[[], None]]:
        stop = asyncio.Event()

        async def run() -> None:
            try:
                # One that obeys returns once asked; the other never does.
                await (stop.wait() if obeys else asyncio.Event().wait())
                stopped.append(f"{name} returned")
            except asyncio.CancelledError:
                stopped.append(f"{name} cancelled")
                raise

        return run, stop.set

    background = Supervisor(stop_seconds=0.2)
    for name, obeys in (("first", True), ("stubborn", False), ("last", True)):
        run, request_stop = service(name, obeys=obeys)
        background.start(name, run, request_stop=request_stop)
    plain_cancelled = asyncio.Event()

    async def plain() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            plain_cancelled.set()
            raise

    background.start("plain", plain)
    await asyncio.sleep(0)
    with caplog.at_level(logging.INFO, logger="service360.background"):
        # A hang guard, not a timing: the stubborn service never ends by itself.
        await asyncio.wait_for(background.shutdown(), 30)
    assert plain_cancelled.is_set()
    assert stopped == ["last returned", "stubborn cancelled", "first returned"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["background service stubborn did not stop in time: cancelled"]
    with pytest.raises(RuntimeError):
        background.start("late", plain)


async def test_tasks_are_awaited_at_shutdown_and_those_still_running_at_the_bound_cancelled() -> (
    None
):
    finished: list[str] = []
    hanging_cancelled = asyncio.Event()

    async def short() -> None:
        await asyncio.sleep(0.01)
        finished.append("short")

    async def hanging() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            hanging_cancelled.set()
            raise

    background = Supervisor(stop_seconds=0.2)
    background.spawn("short", short())
    background.spawn("hanging", hanging())
    assert background.running("short") == background.running("hanging") == 1
    await asyncio.wait_for(background.shutdown(), 30)
    assert finished == ["short"]
    assert hanging_cancelled.is_set()
    assert background.running("short") == background.running("hanging") == 0
    # Nothing starts once shut down (the coroutine is closed, never left unawaited).
    late = short()
    assert background.spawn("late", late) is None
    assert inspect.getcoroutinestate(late) == inspect.CORO_CLOSED


async def test_one_task_per_key_runs_at_a_time_and_a_failed_task_is_logged_at_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()
    runs: list[int] = []

    async def refresh(organization_id: int) -> None:
        runs.append(organization_id)
        await release.wait()
        if organization_id == 2:
            raise RuntimeError("refresh failed")

    async with Supervisor() as background:
        assert background.spawn("refresh", refresh(1), key=("refresh", 1)) is not None
        assert background.spawn("refresh", refresh(1), key=("refresh", 1)) is None
        assert background.spawn("refresh", refresh(2), key=("refresh", 2)) is not None
        with caplog.at_level(logging.ERROR, logger="service360.background"):
            release.set()
            assert await background.tasks_done(10)
        # The key is free again once its task ended.
        again = background.spawn("refresh", refresh(1), key=("refresh", 1))
        assert again is not None
        await again
    assert runs == [1, 2, 1]
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in failures] == ["background task refresh failed"]
    assert failures[0].exc_info is not None


class CrashingOnceSender(MailSender):
    """A mail sender whose first round meets a bug (an unexpected exception)."""

    crashed = False

    async def deliver_due(self) -> int:
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("a bug in the sender")
        return await super().deliver_due()


async def test_a_crashed_mail_sender_is_logged_and_started_again_and_the_mail_goes(
    database_url: str,
    db: asyncpg.Connection,
    settings: Settings,
    smtp_server: SMTPServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await enqueue_mail(
        db,
        to="jane@acme.example",
        mail=Mail.VERIFICATION_CODE,
        language="en",
        code="123456",
        minutes=10,
    )
    pool = await create_pool(database_url, min_size=1, max_size=2)
    sender = CrashingOnceSender(
        pool, replace(settings, smtp_url=smtp_server.url, mail_poll_seconds=0.05)
    )
    try:
        with caplog.at_level(logging.ERROR, logger="service360.background"):
            async with Supervisor(restart_min_seconds=0.01) as background:
                background.start("mail-sender", sender.run, request_stop=sender.request_stop)
                await eventually(lambda: len(smtp_server.messages) == 1)
    finally:
        await pool.close()
    assert [m.recipients for m in smtp_server.messages] == [["jane@acme.example"]]
    crash = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(crash) == 1 and "mail-sender crashed" in crash[0].getMessage()
