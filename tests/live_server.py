"""A real `python server.py serve` on a free loopback port, for tests that need
a live HTTP server (the conformance audit, the browser, several workers,
graceful shutdown)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_when(self, text: str, timeout: float = 10.0) -> str:
        """The log once it contains `text`: the request line is written
        after the answer has gone, so a client may read the log too early."""
        deadline = time.monotonic() + timeout
        while text not in (log := self.log()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return log


@contextmanager
def live_server(
    database_url: str | None, log_path: Path, startup_seconds: float = 60, **env: str
) -> Iterator[LiveServer]:
    """`database_url` None: the server starts its embedded PostgreSQL (under DATA_DIR)."""
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": database_url or "",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "ENV": "test",
        "LOG_LEVEL": "INFO",
        **env,
    }
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if database_url is None:
        del environment["DATABASE_URL"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "server.py", "serve"],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", process, log_path)
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}:\n{server.log()}")
            try:
                if httpx.get(server.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{server.log()}")
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
