"""The real server as a child process: start, wait until ready, read its request
log, sample its memory, stop.

The server writes one JSON line per request (`web/request_context.py`) with
`request_id`, `duration_ms` and `sql_statements`. The load driver sends
`X-Request-ID: bench-<workload>-<n>`, so each line is charged to its workload
without any hook inside the server.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import psutil

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class RequestLine:
    request_id: str
    duration_ms: float
    sql_statements: int
    status: int


@dataclass
class ServerProcess:
    database_url: str
    port: int
    workers: int
    extra_env: dict[str, str] = field(default_factory=dict)
    # /metrics answers only with it (web/metrics.py).
    metrics_token: str = field(default_factory=lambda: secrets.token_hex(16))
    process: subprocess.Popen[bytes] | None = None
    lines: list[RequestLine] = field(default_factory=list)
    other_lines: deque[str] = field(default_factory=lambda: deque(maxlen=40))
    peak_rss: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    def start(self) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "WORKERS": str(self.workers),
            "LOG_LEVEL": "INFO",
            # Every worker must share one key (cursors, code hashes).
            "SECRET_KEY": secrets.token_hex(32),
            "METRICS_TOKEN": self.metrics_token,
            **self.extra_env,
        }
        self.process = subprocess.Popen(  # noqa: S603 - our own server, fixed arguments
            [sys.executable, str(ROOT / "server.py"), "serve"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        threading.Thread(target=self._read_log, daemon=True).start()
        threading.Thread(target=self._sample_memory, daemon=True).start()
        self._wait_ready()

    def _wait_ready(self, timeout: float = 90.0) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        ready_url = f"http://127.0.0.1:{self.port}/readyz"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the server exited:\n" + "\n".join(self.other_lines))
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(ready_url, timeout=2).status_code == 200:
                    # Every worker must be up, not only the first to answer.
                    time.sleep(0.5 * self.workers)
                    return
            time.sleep(0.2)
        raise RuntimeError("the server did not become ready:\n" + "\n".join(self.other_lines))

    def _read_log(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for raw in self.process.stderr:
            try:
                entry = orjson.loads(raw)
            except orjson.JSONDecodeError:
                self.other_lines.append(raw.decode(errors="replace").rstrip())
                continue
            if entry.get("msg") == "request" and "sql_statements" in entry:
                line = RequestLine(
                    request_id=entry.get("request_id", ""),
                    duration_ms=float(entry.get("duration_ms", 0.0)),
                    sql_statements=int(entry["sql_statements"]),
                    status=int(entry.get("status", 0)),
                )
                with self._lock:
                    self.lines.append(line)
            else:
                self.other_lines.append(raw.decode(errors="replace").rstrip())

    def _processes(self) -> list[psutil.Process]:
        assert self.process is not None
        try:
            parent = psutil.Process(self.process.pid)
            return [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def rss(self) -> int:
        total = 0
        for proc in self._processes():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                total += proc.memory_info().rss
        return total

    def _sample_memory(self) -> None:
        while not self._stop.is_set():
            self.peak_rss = max(self.peak_rss, self.rss())
            time.sleep(0.1)

    def reset_peak(self) -> None:
        self.peak_rss = self.rss()

    def line_count(self) -> int:
        with self._lock:
            return len(self.lines)

    def take_lines(self, prefix: str) -> list[RequestLine]:
        """The request lines whose id starts with `prefix`, removed from the buffer."""
        with self._lock:
            taken = [line for line in self.lines if line.request_id.startswith(prefix)]
            self.lines = [line for line in self.lines if not line.request_id.startswith(prefix)]
        return taken

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self._processes():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def pids(self) -> list[int]:
        return [proc.pid for proc in self._processes()]

    def stop(self) -> None:
        self._stop.set()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def running_server(
    database_url: str, workers: int, extra_env: dict[str, str] | None = None
) -> Iterator[ServerProcess]:
    port = int(os.environ.get("BENCH_PORT") or free_port())
    server = ServerProcess(database_url, port, workers, extra_env or {})
    try:
        server.start()
        yield server
    finally:
        server.stop()
