"""Service360: the Starlette application and its command line.

    python server.py serve [--demo]     migrate, optionally load demo data, serve
    python server.py migrate            apply pending migrations
    python server.py seed-demo          load the demo data (once)
    python server.py create-staff EMAIL platform staff account
    python server.py import FILE        organizations, sites, products (JSON lines)
    python server.py sync FILE|-        apply change lines (products, requests, sites)
    python server.py consume            apply change lines from NATS JetStream (NATS_URL)
    python server.py export-schema      print the GraphQL SDL
    python server.py persist-queries FILE  register trusted documents (hash -> text JSON)

Without DATABASE_URL an embedded PostgreSQL runs under .data/ for as long as
the command does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import asyncpg
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from uvicorn.supervisors import Multiprocess

from app_state import State, app_state
from config import ConfigError, Settings, settings_help
from db.embedded import dsn_for_database, embedded_postgres
from db.migrate import MigrationError, apply_migrations
from schema import build_schema
from telemetry import configure_logging
from web.body_limit import BodyLimitMiddleware
from web.cors import cors_middleware
from web.failures import FailureMiddleware, http_refusal
from web.favicon import favicon
from web.forwarded_for import ForwardedForMiddleware
from web.graphiql import STATIC_PATH, graphiql_assets
from web.graphql_app import GraphQLApp
from web.health import healthz, readyz
from web.metrics import MULTIPROC_ENV, metrics_endpoint, prepare_multiprocess_dir
from web.overload import answer_connection_limit_in_json
from web.request_context import RequestContextMiddleware
from web.security_headers import SecurityHeadersMiddleware

logger = logging.getLogger("service360")
DATABASE_NAME = "service360"
WORKER_STARTUP_SECONDS = 60


def create_app(settings: Settings) -> Starlette:
    """The ASGI app. Resources (pool, hashing, background services) open in its lifespan."""
    if settings.database_url is None:
        raise ConfigError("DATABASE_URL must be set for the app (serve sets it)")

    def lifespan(app: Starlette) -> contextlib.AbstractAsyncContextManager[State]:
        return app_state(settings)

    graphql = GraphQLApp(
        build_schema(settings),
        graphiql=settings.graphiql_enabled,
        ws_init_timeout_seconds=settings.ws_init_timeout_seconds,
        subscriptions_per_connection=settings.subscriptions_per_connection,
    )
    routes: list[BaseRoute] = [
        # Every method reaches the view, which answers 405 with `Allow` itself.
        Route("/graphql", graphql),
        # Subscriptions (graphql-transport-ws) on the same path.
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", healthz),
        Route("/favicon.ico", favicon),
        Route("/readyz", readyz),
        # Answers only with METRICS_TOKEN (web/metrics.py).
        Route("/metrics", metrics_endpoint),
    ]
    if settings.graphiql_enabled:
        routes.append(Mount(STATIC_PATH, graphiql_assets(), name="graphiql-assets"))
    # Outermost first: request id and log line (it sees the proxy's own
    # address), the client address from a trusted proxy's X-Forwarded-For,
    # security headers, CORS, JSON answers for anything that escapes (inside
    # CORS so that a browser can read them; Starlette's own fallback is a
    # plain-text 500, and the middleware outside do no I/O), compression of
    # large answers, then the body limit and read deadline nearest the app.
    trusted = settings.trusted_proxies
    middleware = [
        Middleware(RequestContextMiddleware, trusted_proxies=trusted),
        Middleware(ForwardedForMiddleware, trusted_proxies=trusted),
        Middleware(SecurityHeadersMiddleware, hsts=settings.hsts),
        *cors_middleware(settings.cors_origins),
        Middleware(FailureMiddleware),
        # Level 5: within 20% of the best ratio on JSON at a fifth of the CPU of 9.
        Middleware(GZipMiddleware, minimum_size=1024, compresslevel=5),
        Middleware(
            BodyLimitMiddleware,
            max_bytes=settings.max_body_bytes,
            read_timeout_seconds=settings.body_read_timeout_seconds,
        ),
    ]
    # Unknown paths (404), wrong methods (405, with Allow) and static-file
    # refusals: JSON with a code, not Starlette's plain text.
    return Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_refusal},
    )


def app_from_env() -> Starlette:
    """Factory for uvicorn workers (`server:app_from_env`)."""
    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    # In the worker's process, where uvicorn's protocols answer past MAX_CONNECTIONS.
    answer_connection_limit_in_json()
    return create_app(settings)


# ---------------------------------------------------------------- database


async def ensure_database(server_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(dsn_for_database(server_dsn, "postgres"))
    try:
        exists = await conn.fetchval("select 1 from pg_database where datname = $1", name)
        if not exists:
            await conn.execute(f'create database "{name}"')
    finally:
        await conn.close()


@contextlib.contextmanager
def database_url_for(settings: Settings) -> Iterator[str]:
    """DATABASE_URL, or the embedded server's (running while the command runs)."""
    if settings.database_url:
        yield settings.database_url
        return
    with embedded_postgres(Path(settings.data_dir) / "postgres") as server_dsn:
        asyncio.run(ensure_database(server_dsn, DATABASE_NAME))
        yield dsn_for_database(server_dsn, DATABASE_NAME)


async def migrate(database_url: str) -> list[int]:
    conn = await asyncpg.connect(database_url)
    try:
        return await apply_migrations(conn)
    finally:
        await conn.close()


async def seed_demo(database_url: str) -> bool:
    from db.demo import load_demo_data

    conn = await asyncpg.connect(database_url)
    try:
        return await load_demo_data(conn)
    finally:
        await conn.close()


# ------------------------------------------------------------ command line


def cmd_serve(settings: Settings, database_url: str, args: argparse.Namespace) -> int:
    applied = asyncio.run(migrate(database_url))
    logger.info("database migrated", extra={"applied": applied})
    if args.demo:
        loaded = asyncio.run(seed_demo(database_url))
        logger.info("demo data " + ("loaded" if loaded else "already present"))
    # Workers are separate processes: they read the database from the
    # environment, and never start a database of their own.
    os.environ["DATABASE_URL"] = database_url
    # Likewise the secret key: without SECRET_KEY each worker would draw its
    # own, and a one-time code issued by one would not verify on another.
    os.environ.setdefault("SECRET_KEY", str(settings.secret_key))
    logger.info(
        "serving",
        extra={
            "url": f"http://{settings.host}:{settings.port}/graphql",
            "workers": settings.workers,
        },
    )
    with metrics_directory(settings):
        # On SIGTERM uvicorn stops accepting, lets in-flight requests finish
        # (up to the timeout), then runs the lifespan's shutdown.
        options: dict[str, Any] = {
            "factory": True,
            "host": settings.host,
            "port": settings.port,
            "workers": settings.workers,
            "log_config": None,
            "timeout_graceful_shutdown": 20,
            "access_log": False,
            # X-Forwarded-For is read by the app's own middleware (TRUSTED_PROXIES).
            "proxy_headers": False,
            # With WORKERS > 1 the supervisor kills a worker that has not
            # finished importing and starting (pool, change feed, replicas)
            # within this, and starts another: at uvicorn's 5 s a busy machine
            # never got a worker up (seen: restarts every 5 s, forever).
            "timeout_worker_healthcheck": WORKER_STARTUP_SECONDS,
            # No `server: uvicorn` banner.
            "server_header": False,
            # A WebSocket message is held to the HTTP body limit (uvicorn: 16 MB).
            "ws_max_size": settings.max_body_bytes,
            # Per worker: past it new requests are answered 503 (web/overload.py).
            # WebSocket connections count, though upgrades are never refused by it.
            "limit_concurrency": settings.max_connections,
            # uvicorn's default, made explicit: an idle keep-alive connection
            # closes this long after its last answer. No setting of uvicorn
            # times out a connection that never sends (complete) headers: a
            # reverse proxy in front must (README: HTTP edge).
            "timeout_keep_alive": settings.keep_alive_timeout_seconds,
        }
        if settings.workers == 1:
            uvicorn.run("server:app_from_env", **options)
            return 0
        # What uvicorn.run does for several workers, plus TCP_NODELAY: uvicorn
        # binds their shared listener with proto 0, so asyncio never sets it
        # on accepted connections and each keep-alive request waits ~40 ms for
        # a delayed ACK (Kludex/uvicorn#3149; seen by `make bench`). Accepted
        # sockets inherit the option from the listener.
        config = uvicorn.Config("server:app_from_env", **options)
        listener = config.bind_socket()
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        Multiprocess(config, sockets=[listener]).run()
    return 0


@contextlib.contextmanager
def metrics_directory(settings: Settings) -> Iterator[None]:
    """With several workers, a directory for their metric files (prometheus-client
    multiprocess mode), set in the environment that the spawned workers inherit."""
    if settings.workers == 1 or MULTIPROC_ENV in os.environ:
        yield
        return
    path = settings.metrics_dir or tempfile.mkdtemp(prefix="service360-metrics-")
    prepare_multiprocess_dir(path)
    os.environ[MULTIPROC_ENV] = path
    try:
        yield
    finally:
        del os.environ[MULTIPROC_ENV]
        if not settings.metrics_dir:
            shutil.rmtree(path, ignore_errors=True)


def cmd_persist_queries(settings: Settings, database_url: str, args: argparse.Namespace) -> int:
    from db.persisted_queries import store_trusted_queries
    from web.persisted_queries import read_document_map

    try:
        raw = orjson.loads(Path(args.file).read_bytes())
        documents = read_document_map(raw)
    except (OSError, orjson.JSONDecodeError, ValueError) as error:
        print(f"error: {args.file}: {error} (nothing was registered)", file=sys.stderr)
        return 1
    asyncio.run(migrate(database_url))

    async def store() -> int:
        conn = await asyncpg.connect(database_url)
        try:
            async with conn.transaction():
                return await store_trusted_queries(conn, documents)
        finally:
            await conn.close()

    added = asyncio.run(store())
    print(f"{len(documents)} trusted document(s) in {args.file}: {added} newly registered")
    return 0


def cmd_migrate(settings: Settings, database_url: str, args: argparse.Namespace) -> int:
    applied = asyncio.run(migrate(database_url))
    print(f"applied {len(applied)} migration(s)" + (f": {applied}" if applied else ""))
    return 0


def cmd_seed_demo(settings: Settings, database_url: str, args: argparse.Namespace) -> int:
    asyncio.run(migrate(database_url))
    loaded = asyncio.run(seed_demo(database_url))
    print("demo data loaded" if loaded else "demo data already present")
    return 0


def cmd_create_staff(settings: Settings, database_url: str, args: argparse.Namespace) -> int:
    from db.accounts_admin import create_staff_user
    from security.passwords import hash_password_sync

    password = os.environ.get("STAFF_PASSWORD") or getpass.getpass(
        "Password for the staff account: "
    )
    if not 12 <= len(password) <= 128:
        print("error: the password must have 12 to 128 characters", file=sys.stderr)
        return 1
    asyncio.run(migrate(database_url))

    async def create() -> bool:
        conn = await asyncpg.connect(database_url)
        try:
            return await create_staff_user(conn, args.email, hash_password_sync(password))
        finally:
            await conn.close()

    created = asyncio.run(create())
    print(f"staff account {'created' if created else 'updated'}: {args.email}")
    return 0


def cmd_import(settings: Settings, database_url: str, args: argparse.Namespace) -> int:
    from db.importer import ImportError_, import_file

    asyncio.run(migrate(database_url))

    async def run() -> dict[str, int]:
        conn = await asyncpg.connect(database_url)
        try:
            return await import_file(conn, Path(args.file))
        finally:
            await conn.close()

    try:
        counts = asyncio.run(run())
    except ImportError_ as error:
        print(f"error: {error} (nothing was imported)", file=sys.stderr)
        return 1
    print("imported " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    return 0


def cmd_sync(settings: Settings, database_url: str, args: argparse.Namespace) -> int:
    from sync.files import default_rejects_path, sync_source

    if args.batch_size < 1:
        print("error: --batch-size must be at least 1", file=sys.stderr)
        return 2
    asyncio.run(migrate(database_url))
    rejects = Path(args.rejects) if args.rejects else default_rejects_path(args.source)

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        with (
            contextlib.nullcontext(sys.stdin.buffer)
            if args.source == "-"
            else open(args.source, "rb") as lines,
            rejects.open("wb") as rejects_file,
        ):
            tally, seconds = asyncio.run(
                sync_source(database_url, lines, rejects_file, args.batch_size, progress)
            )
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    rate = tally.lines / seconds if seconds else 0.0
    print(
        f"sync: {tally.lines:,} lines in {seconds:.1f}s ({rate:,.0f}/s): {tally.summary()}; "
        f"rejected lines in {rejects}"
    )
    # Every good line was applied; 3 tells a script that some were not.
    return 3 if tally.counts["rejected"] else 0


def cmd_consume(settings: Settings, database_url: str, args: argparse.Namespace) -> int:

    from sync.consumer import Consumer, ConsumerSettings
    from sync.metrics import serve_metrics

    consumer_settings = ConsumerSettings.from_env(os.environ)
    asyncio.run(migrate(database_url))
    metrics_server = None
    if consumer_settings.metrics_port:
        metrics_server = serve_metrics(
            consumer_settings.metrics_host, consumer_settings.metrics_port
        )

    async def run(rejects: BinaryIO | None) -> None:
        consumer = Consumer(consumer_settings, database_url, rejects)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            # The batch in hand commits and is acknowledged, then it stops.
            loop.add_signal_handler(signum, consumer.stop)
        await consumer.run()
        print(f"consume: {consumer.tally.lines:,} changes: {consumer.tally.summary()}")

    try:
        with (
            open(consumer_settings.rejects_file, "ab")
            if consumer_settings.rejects_file
            else contextlib.nullcontext(None) as rejects
        ):
            asyncio.run(run(rejects))
    finally:
        if metrics_server is not None:
            metrics_server.shutdown()
    return 0


def cmd_export_schema(settings: Settings, args: argparse.Namespace) -> int:
    print(build_schema(settings).as_str())
    return 0


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that every `finally` runs; not an
    Exception, so that no `except Exception` takes it for a failure."""


@contextlib.contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """While the command runs, SIGTERM raises `Terminated` instead of ending the
    process where it stands.

    uvicorn shuts down gracefully on SIGTERM, then raises the signal again
    with the handler it found: with the default one the process ended there,
    and the embedded PostgreSQL that `database_url_for` started kept running.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="server.py", description="Service360 GraphQL backend.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="migrate and serve http://HOST:PORT/graphql",
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--demo", action="store_true", help="load the demo data first (once)")
    serve.set_defaults(run=cmd_serve)
    commands.add_parser("migrate", help="apply pending migrations").set_defaults(run=cmd_migrate)
    commands.add_parser("seed-demo", help="load the demo data (once)").set_defaults(
        run=cmd_seed_demo
    )
    staff = commands.add_parser(
        "create-staff", help="create a platform staff account (password: prompt or STAFF_PASSWORD)"
    )
    staff.add_argument("email")
    staff.set_defaults(run=cmd_create_staff)
    importer = commands.add_parser(
        "import",
        help="import organizations, domains, sites, products, service requests (JSON lines)",
    )
    importer.add_argument("file")
    importer.set_defaults(run=cmd_import)
    syncer = commands.add_parser(
        "sync",
        help="apply install-base changes (JSON lines: products, service requests, sites), "
        "idempotent and ordered by observedAt; exit 3 when some lines were rejected",
    )
    syncer.add_argument("source", metavar="FILE|-", help="a file of change lines, or - for stdin")
    syncer.add_argument(
        "--rejects", help="reject file (default FILE.rejects.jsonl, or sync-rejects.jsonl)"
    )
    syncer.add_argument("--batch-size", type=int, default=5000, help="lines per transaction")
    syncer.set_defaults(run=cmd_sync)
    commands.add_parser(
        "consume",
        help="apply the same change lines from NATS JetStream (NATS_URL; see sync/consumer.py)",
    ).set_defaults(run=cmd_consume)
    commands.add_parser("export-schema", help="print the GraphQL SDL").set_defaults(
        run=cmd_export_schema
    )
    persist = commands.add_parser(
        "persist-queries",
        help="register trusted documents from a JSON map of sha256 -> document "
        "(Relay, GraphQL Codegen), for PERSISTED_QUERIES=only",
    )
    persist.add_argument("file")
    persist.set_defaults(run=cmd_persist_queries)
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    if args.command != "export-schema":
        configure_logging(settings.log_level, settings.log_format)
    try:
        with sigterm_unwinds():
            if args.command == "export-schema":
                code: int = args.run(settings, args)
            else:
                with database_url_for(settings) as database_url:
                    code = args.run(settings, database_url, args)
    except (MigrationError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Terminated:
        # Everything is closed: end as SIGTERM ends a process (as uvicorn means to).
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)
        return 128 + signal.SIGTERM  # not reached
    return code


if __name__ == "__main__":
    sys.exit(main())
