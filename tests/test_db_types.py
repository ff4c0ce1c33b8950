"""Functions that take a row or advisory lock accept one connection, never a pool.

A pool runs each statement on whichever connection is free, so a lock taken through
it is released at once and protects nothing; the type says which handle a function
needs and mypy holds every caller to it.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import db

LOCKING_SQL = re.compile(r"for update|pg_advisory_xact_lock", re.IGNORECASE)


def test_every_function_that_locks_takes_a_connection_not_a_pool() -> None:
    checked = 0
    for module_info in pkgutil.iter_modules(db.__path__):
        module = importlib.import_module(f"db.{module_info.name}")
        for name, function in inspect.getmembers(module, inspect.iscoroutinefunction):
            if function.__module__ != module.__name__:
                continue
            if not LOCKING_SQL.search(inspect.getsource(function)):
                continue
            first = next(iter(inspect.signature(function).parameters.values()))
            assert first.annotation in {"Conn", "asyncpg.Connection"}, (
                f"{module.__name__}.{name} locks via {first.annotation}"
            )
            checked += 1
    assert checked >= 10
