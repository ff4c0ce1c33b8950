"""Prometheus metrics of the stream consumer (`server.py consume`).

The consumer serves them on its own `/metrics` (CONSUME_METRICS_PORT). With
PROMETHEUS_MULTIPROC_DIR set to the server's metrics directory (METRICS_DIR),
its samples are also added to the server's own `/metrics` (web/metrics.py).
"""

from __future__ import annotations

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

BATCHES = Counter("service360_sync_batches_total", "Batches of changes applied from the stream.")
CHANGES = Counter(
    "service360_sync_changes_total",
    "Changes applied from the stream, by outcome "
    "(created, updated, removed, unchanged, stale, pending, rejected).",
    ["outcome"],
)
REJECTS = Counter("service360_sync_rejected_total", "Changes from the stream that were rejected.")
BATCH_SIZE = Histogram(
    "service360_sync_batch_size",
    "Messages in one applied batch.",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000),
)
APPLY_SECONDS = Histogram(
    "service360_sync_apply_seconds",
    "Time to apply one batch (its transaction, retries and halving included).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DELIVERY_SECONDS = Histogram(
    "service360_sync_publish_to_commit_seconds",
    "From a message's publication in the stream to the commit of its batch.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
LAG_MESSAGES = Gauge(
    "service360_sync_lag_messages",
    "Messages in the stream not yet delivered to the consumer (at its last batch).",
    multiprocess_mode="livemax",
)
LAG_SECONDS = Gauge(
    "service360_sync_lag_seconds",
    "Age of the oldest message of the last applied batch when it committed.",
    multiprocess_mode="livemax",
)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.split("?")[0] != "/metrics":
            self.send_error(404)
            return
        if MULTIPROC_ENV in os.environ:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            body = generate_latest(registry)
        else:
            body = generate_latest(REGISTRY)
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE_LATEST)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return  # scrapes are not worth a log line


def serve_metrics(host: str, port: int) -> ThreadingHTTPServer:
    """`/metrics` on host:port in a daemon thread; `.shutdown()` stops it."""
    server = ThreadingHTTPServer((host, port), _Handler)
    threading.Thread(target=server.serve_forever, name="consume-metrics", daemon=True).start()
    return server
