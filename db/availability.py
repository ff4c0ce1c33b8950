"""Telling "the database is unavailable" apart from every other failure.

Unavailable means the statement never reached a working server, or the
server went away under it: the pool could not connect, the connection was
lost, PostgreSQL is shutting down, starting up, recovering, or out of
connection slots. Those are answered 503 (come back shortly); any other
database error is a bug or a bad input, not an outage.
"""

from __future__ import annotations

import re

import asyncpg

# SQLSTATE classes and codes of an unavailable server (PostgreSQL appendix A).
_UNAVAILABLE_POSTGRES_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # class 08, incl. ConnectionDoesNotExistError
    asyncpg.AdminShutdownError,  # 57P01: terminated by a shutdown or pg_terminate_backend
    asyncpg.CrashShutdownError,  # 57P02
    asyncpg.CannotConnectNowError,  # 57P03: starting up, shutting down, recovering
    asyncpg.TooManyConnectionsError,  # 53300
)


# asyncpg's protocol state 2 is PROTOCOL_ERROR_CONSUME: the connection got an
# error outside any statement (the FATAL of a shutdown or a terminated
# backend) and the socket has not closed yet; the next statement on it fails
# with this before anything is sent.
_CONSUMING_SHUTDOWN_ERROR = re.compile(r"another operation \(2\) is in progress")


def database_unavailable(error: BaseException) -> bool:
    """Whether `error`, or an error it was raised from or while handling, is an outage.

    The chain is followed because a lost connection often surfaces second:
    a transaction's rollback on the dead connection raises "connection is
    closed" while handling the `ConnectionDoesNotExistError` of the statement.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _is_unavailable(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _is_unavailable(error: BaseException) -> bool:
    if isinstance(error, _UNAVAILABLE_POSTGRES_ERRORS):
        return True
    if isinstance(error, asyncpg.InternalClientError):
        return _CONSUMING_SHUTDOWN_ERROR.search(str(error)) is not None
    if isinstance(error, asyncpg.InterfaceError):
        # asyncpg's own words for a connection that is already gone.
        return "connection is closed" in str(error) or "connection was closed" in str(error)
    # PostgreSQL is the only network peer of a request: an OSError while serving
    # one is its socket (refused, reset, unreachable, timed out, or the socket
    # file missing while the server restarts).
    return isinstance(error, OSError)
