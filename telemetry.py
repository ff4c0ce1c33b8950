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
import re
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


# What a client sends reaches log lines (an operation name, a document excerpt
# in an error message): bounded, so that a megabyte name is not a megabyte
# line on every request, and, on the console, with control characters
# escaped, so that a name holding a newline cannot write a line of its own.
MAX_MESSAGE_CHARS = 2000
MAX_VALUE_CHARS = 200
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _bounded(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…(+{len(text) - limit} chars)"


def _bounded_value(value: Any) -> Any:
    return _bounded(value, MAX_VALUE_CHARS) if isinstance(value, str) else value


def _printable(text: str) -> str:
    return _CONTROL.sub(lambda found: repr(found.group())[1:-1], text)


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
            "msg": _bounded(record.getMessage(), MAX_MESSAGE_CHARS),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        entry.update((key, _bounded_value(value)) for key, value in _extras(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class ConsoleFormatter(logging.Formatter):
    """`12:03:04.120 INFO  service360.request: POST /graphql 200 [rid] key=value`."""

    def format(self, record: logging.LogRecord) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(record.created))
        line = f"{clock}.{int(record.msecs):03d} {record.levelname:<7} {record.name}: "
        line += _printable(_bounded(record.getMessage(), MAX_MESSAGE_CHARS))
        extras = dict(_extras(record))
        request_id = extras.pop("request_id", None) or request_id_var.get()
        if request_id:
            line += f" [{_printable(str(request_id))}]"
        if extras:
            line += " " + " ".join(
                f"{key}={_printable(str(_bounded_value(value)))}" for key, value in extras.items()
            )
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
