"""Request ids and log lines: JSON for machines, one readable line for people.

The request id lives in a context variable set by the request-id middleware,
so every log line written while serving a request carries it, whatever layer
writes it.

`LOG_FORMAT`: `json` (one object a line, for log collectors), `console` (a
short line, a traceback below it), or `auto` (console on a terminal, else JSON).
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any, TextIO

import orjson

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

# Attributes every LogRecord has; anything else was passed with `extra=`.
_STANDARD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def current_request_id() -> str:
    return request_id_var.get()


def _extras(record: logging.LogRecord) -> Iterator[tuple[str, Any]]:
    for key, value in record.__dict__.items():
        if key not in _STANDARD_ATTRS and not key.startswith("_"):
            yield key, value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        entry.update(_extras(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class ConsoleFormatter(logging.Formatter):
    """`12:03:04.120 INFO  service360.request: POST /graphql 200 [rid] key=value`."""

    def format(self, record: logging.LogRecord) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(record.created))
        line = f"{clock}.{int(record.msecs):03d} {record.levelname:<7} {record.name}: "
        line += record.getMessage()
        extras = dict(_extras(record))
        request_id = extras.pop("request_id", None) or request_id_var.get()
        if request_id:
            line += f" [{request_id}]"
        if extras:
            line += " " + " ".join(f"{key}={value}" for key, value in extras.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def log_formatter(log_format: str, stream: TextIO) -> logging.Formatter:
    """The formatter for `LOG_FORMAT` (`auto`: console on a terminal, else JSON)."""
    if log_format == "auto":
        log_format = "console" if stream.isatty() else "json"
    return ConsoleFormatter() if log_format == "console" else JsonFormatter()


def configure_logging(level: str, log_format: str = "auto") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(log_formatter(log_format, sys.stderr))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log duplicates our request log line.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
