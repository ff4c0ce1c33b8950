"""One change line, checked in Python before it goes near the database.

Every value a table would refuse (a NUL or control character, an unknown enum
value, a malformed date, a string too long) is caught here, so one bad line
never fails its batch's transaction. What only the database knows (does the
site exist?) is checked by db/sync.py inside the transaction.

    {"kind": "site", "reference": "austin", "observedAt": "2026-11-27T08:00:00Z",
     "organization": "initech", "name": "Austin DC", "city": "Austin", "country": "US"}
    {"kind": "product", "serviceTag": "ABC1234", "observedAt": "2026-11-27T08:00:00Z",
     "site": "austin", "family": "PowerEdge", "name": "web-01", "model": "R760",
     "health": "GOOD", "connectivity": "CONNECTED", "codeVersion": "9.4.1",
     "recommendedCodeVersion": "9.4.1", "contractLevel": "ProSupport",
     "contractEndsOn": "2027-03-31"}
    {"kind": "product", "serviceTag": "ABC1234", "observedAt": "...", "health": "CRITICAL"}
    {"kind": "product", "serviceTag": "ABC1234", "observedAt": "...", "decommissioned": true}
    {"kind": "service_request", "number": "SR1", "observedAt": "...", "product": "ABC1234",
     "severity": "HIGH", "status": "OPEN", "title": "Fan fault",
     "openedAt": "2026-11-01T10:00:00Z"}
    {"kind": "service_request", "number": "SR1", "observedAt": "...", "status": "CLOSED",
     "closedAt": "2026-11-02T09:00:00Z"}

A field that is absent is left as it is; `null` clears an optional field.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import orjson

from db.sync import Change

SERVICE_TAG = re.compile(r"^[A-Z0-9-]{1,20}$")
NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,39}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
HEALTH = ("GOOD", "WARNING", "CRITICAL", "UNKNOWN")
CONNECTIVITY = ("CONNECTED", "DISCONNECTED", "NOT_CONFIGURED")
SEVERITY = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
STATUS = ("OPEN", "IN_PROGRESS", "WAITING_ON_CUSTOMER", "CLOSED")


class BadChange(ValueError):
    """The reason a line is rejected (one line, for the reject file)."""


def _text(data: dict[str, Any], key: str, max_length: int, pattern: re.Pattern[str] | None) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise BadChange(f'"{key}" must be a string')
    if not value.strip():
        raise BadChange(f'"{key}" must not be empty')
    if len(value) > max_length:
        raise BadChange(f'"{key}" is longer than {max_length} characters')
    if CONTROL.search(value):
        raise BadChange(f'"{key}" contains a control character')
    if pattern is not None and not pattern.match(value):
        raise BadChange(f'"{key}" is not valid: {value[:60]!r}')
    return value


def _choice(options: tuple[str, ...]) -> Callable[[dict[str, Any], str], str]:
    def check(data: dict[str, Any], key: str) -> str:
        value = data[key]
        if value not in options:
            raise BadChange(f'"{key}" must be one of {", ".join(options)}')
        return str(value)

    return check


def _string(
    max_length: int, pattern: re.Pattern[str] | None = None
) -> Callable[[dict[str, Any], str], str]:
    return lambda data, key: _text(data, key, max_length, pattern)


def timestamp(data: dict[str, Any], key: str) -> dt.datetime:
    raw = _text(data, key, 40, None)
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise BadChange(f'"{key}" is not an ISO 8601 date and time: {raw!r}') from None
    if value.tzinfo is None:
        raise BadChange(f'"{key}" needs a time zone (e.g. "Z" or "+02:00"): {raw!r}')
    return value


def _date(data: dict[str, Any], key: str) -> dt.date:
    raw = _text(data, key, 10, None)
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise BadChange(f'"{key}" is not a date (YYYY-MM-DD): {raw!r}') from None


# Per kind: the key's JSON name and check, and each JSON field as
# (field name in db/sync.py, check, may be null).
Check = Callable[[dict[str, Any], str], Any]
KEYS: dict[str, tuple[str, Check]] = {
    "site": ("reference", _string(100)),
    "product": ("serviceTag", _string(20, SERVICE_TAG)),
    "service_request": ("number", _string(40, NUMBER)),
}
FIELDS: dict[str, dict[str, tuple[str, Check, bool]]] = {
    "site": {
        "organization": ("organization", _string(100), False),
        "name": ("name", _string(200), False),
        "city": ("city", _string(200), True),
        "country": ("country", _string(2, COUNTRY), False),
    },
    "product": {
        "site": ("site", _string(100), False),
        "family": ("family", _string(100), False),
        "name": ("name", _string(200), False),
        "model": ("model", _string(100), False),
        "health": ("health", _choice(HEALTH), False),
        "connectivity": ("connectivity", _choice(CONNECTIVITY), False),
        "codeVersion": ("code_version", _string(50), True),
        "recommendedCodeVersion": ("recommended_code_version", _string(50), True),
        "contractLevel": ("contract_level", _string(100), True),
        "contractEndsOn": ("contract_ends_on", _date, True),
    },
    "service_request": {
        "product": ("product", _string(20, SERVICE_TAG), False),
        "severity": ("severity", _choice(SEVERITY), False),
        "title": ("title", _string(300), False),
        "openedAt": ("opened", timestamp, False),
    },
}
KINDS = tuple(KEYS)
ALLOWED = {
    kind: frozenset({"kind", "observedAt", KEYS[kind][0], *FIELDS[kind]})
    | ({"decommissioned"} if kind == "product" else set())
    | ({"status", "closedAt"} if kind == "service_request" else set())
    for kind in KINDS
}


def parse_change(line: int, raw: bytes | str) -> Change:
    """The change on one line, or BadChange saying why not."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise BadChange(f"not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise BadChange("expected a JSON object")
    kind = data.get("kind")
    if kind not in KEYS:
        raise BadChange(f'"kind" must be one of {", ".join(KINDS)}')
    key_name, key_check = KEYS[kind]
    if data.get(key_name) is None:
        raise BadChange(f'"{key_name}" is required')
    key = key_check(data, key_name)
    if data.get("observedAt") is None:
        raise BadChange('"observedAt" is required')
    observed_at = timestamp(data, "observedAt")
    extra = data.keys() - ALLOWED[kind]
    if extra:
        raise BadChange(f"unknown field(s): {', '.join(sorted(extra)[:5])}")
    values: dict[str, Any] = {}
    fields = FIELDS[kind]
    for json_name in data.keys() & fields.keys():
        name, check, nullable = fields[json_name]
        if data[json_name] is None:
            if not nullable:
                raise BadChange(f'"{json_name}" cannot be null')
            values[name] = None
        else:
            values[name] = check(data, json_name)
    if kind == "product":
        decommissioned = data.get("decommissioned", False)
        if not isinstance(decommissioned, bool):
            raise BadChange('"decommissioned" must be true or false')
        # Every product change says whether the product is in service: one
        # newer than a decommission brings it back, an older one does not.
        values["decommissioned"] = decommissioned
    elif kind == "service_request":
        _status(data, observed_at, values)
    if not values:
        raise BadChange("the change sets no field")
    return Change(line, kind, key, observed_at, values)


def _status(data: dict[str, Any], observed_at: dt.datetime, values: dict[str, Any]) -> None:
    """Status and closedAt move together: CLOSED has a closing time (the change's
    own observedAt when not given), any other status has none."""
    if "status" not in data and "closedAt" not in data:
        return
    status = data.get("status")
    if status is None:
        raise BadChange('"closedAt" needs "status": "CLOSED"')
    status = _choice(STATUS)(data, "status")
    closed_at = timestamp(data, "closedAt") if data.get("closedAt") is not None else None
    if status == "CLOSED":
        values["status"] = (status, closed_at or observed_at)
    elif closed_at is not None:
        raise BadChange('"closedAt" is only for "status": "CLOSED"')
    else:
        values["status"] = (status, None)
