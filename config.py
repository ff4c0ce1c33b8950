"""Settings read once from the environment.

Every value has a cast and, where it makes sense, a default. A bad value stops
the start with one line naming the variable (`ConfigError`).
"""

from __future__ import annotations

import inspect
import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from urllib.parse import urlsplit

from starlette.datastructures import Secret

ENVIRONMENTS = ("development", "production", "test")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# `auto`: readable lines on a terminal (development), JSON lines otherwise.
LOG_FORMATS = ("auto", "console", "json")


class ConfigError(Exception):
    """Raised for a missing or malformed setting; the message is one line."""


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    database_url: str | None = None
    # Streaming replicas that serve fleet reads (db/replicas.py); empty: none.
    database_replica_urls: tuple[str, ...] = ()
    replica_max_lag_seconds: float = 1.0
    replica_check_seconds: float = 0.2
    smtp_url: str | None = None
    mail_from: str = "Service360 <no-reply@service360.example>"
    secret_key: Secret = field(default_factory=lambda: Secret(secrets.token_hex(32)))
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_level: str = "INFO"
    log_format: str = "auto"
    data_dir: str = ".data"
    pool_min_size: int = 2
    pool_max_size: int = 10
    # Sessions (NIST 800-63B AAL2): an absolute lifetime and an idle timeout.
    session_ttl_hours: int = 12
    session_idle_minutes: int = 30
    argon2_concurrency: int = 2
    argon2_niceness: int = 5
    # Callers allowed to wait for a hashing thread; more get RATE_LIMITED at once.
    argon2_max_queue: int = 4
    # GraphQL limits (DESIGN §5).
    max_query_depth: int = 12
    max_aliases: int = 120
    max_tokens: int = 10_000
    max_query_cost: int = 50_000
    # Bounds checked before validation (schema/document_bounds.py): field
    # selections with fragments expanded, the field-merging rule's work, and
    # lower token and selection ceilings for requests without a session.
    max_field_selections: int = 1_000
    max_validation_work: int = 2_000
    anonymous_max_tokens: int = 1_000
    anonymous_max_field_selections: int = 300
    # GraphQL executor: graphql_jit's compiled one, or Strawberry's stock one.
    graphql_executor: str = "compiled"
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 1_000_000
    # A request body must arrive whole within this of its headers (408 after).
    body_read_timeout_seconds: float = 30.0
    # Connections (HTTP and WebSocket) one worker holds before it answers new
    # requests 503 (uvicorn's limit_concurrency), and how long an idle
    # keep-alive connection stays open after an answer.
    max_connections: int = 4000
    keep_alive_timeout_seconds: int = 5
    # HTTP edge (web/): persisted queries `off` | `apq` | `only` (trusted
    # documents), their limits, proxies whose X-Request-ID is believed, and
    # the directory of per-worker metric files (WORKERS > 1; a fresh temporary
    # one when empty).
    persisted_queries: str = "apq"
    apq_max_document_bytes: int = 50_000
    apq_max_stored: int = 10_000
    apq_max_per_client: int = 100
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    metrics_dir: str = ""
    # Bearer token that /metrics asks for; without one, /metrics is not served.
    metrics_token: Secret | None = None
    # Introspection, GraphiQL and "Did you mean" suggestions: None is the
    # default of the environment (on, except when ENV=production).
    introspection: bool | None = None
    graphiql: bool | None = None
    suggestions: bool | None = None
    # Behind TLS (at a proxy): answers carry Strict-Transport-Security.
    hsts: bool = False
    partner_program_links: tuple[tuple[str, str], ...] = (
        ("Partner program overview", "https://partners.service360.example/program"),
        ("Become a partner", "https://partners.service360.example/apply"),
        ("Partner portal sign-in", "https://partners.service360.example/portal"),
    )
    # One-time codes (DESIGN §5).
    code_ttl_seconds: int = 600
    code_max_attempts: int = 5
    code_resend_seconds: int = 60
    code_max_per_hour: int = 5
    # Throttling of signIn, verifyEmail, resendVerificationCode,
    # requestPasswordReset, resetPassword: hits per window, per action.
    throttle_window_seconds: int = 900
    throttle_per_address: int = 10
    throttle_per_client: int = 100
    # createAccount from everyone together, per window.
    throttle_sign_up_global: int = 500
    # Wrong codes an account may take per day, all codes together (issue 12 #7).
    code_max_wrong_per_day: int = 20
    # Sign-in: consecutive failures of an address before each try waits (2 s,
    # 4 s, ... at most `sign_in_max_delay_seconds`), and the count that locks
    # it for `sign_in_lockout_seconds` or until a password reset (NIST: <= 100).
    sign_in_free_failures: int = 5
    sign_in_max_delay_seconds: int = 60
    sign_in_lockout_failures: int = 100
    sign_in_lockout_seconds: int = 86_400
    # Mail sender: how often it looks for due mail, how long a claimed mail
    # is its alone (a crashed worker's mail goes again after that), and the
    # retry back-off: exponential, capped, for at most so many tries (with
    # the defaults about 25 minutes of SMTP outage before mail is set aside).
    mail_poll_seconds: float = 2.0
    mail_lease_seconds: int = 60
    mail_retry_base_seconds: float = 10.0
    mail_retry_max_seconds: float = 60.0
    mail_max_attempts: int = 30
    # Live summaries (issue 13): bytes of encoded answers each worker keeps
    # (0: no answer cache), and the limits of GraphQL subscriptions.
    answer_cache_bytes: int = 64 * 2**20
    subscriptions_per_connection: int = 60
    subscriptions_per_user: int = 300
    # Open WebSocket connections of one person per worker (close 4429 past it).
    ws_connections_per_user: int = 20
    ws_init_timeout_seconds: int = 10
    ws_idle_timeout_seconds: int = 300

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def introspection_enabled(self) -> bool:
        return self.introspection if self.introspection is not None else not self.is_production

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else not self.is_production

    @property
    def suggestions_enabled(self) -> bool:
        return self.suggestions if self.suggestions is not None else not self.is_production

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        reader = _Reader(env)
        environment = reader.choice("ENV", ENVIRONMENTS, "development")
        secret = env.get("SECRET_KEY")
        if environment == "production" and not secret:
            raise ConfigError("SECRET_KEY is required when ENV=production")
        if secret is not None and len(secret) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters long")
        if environment == "production":
            # Without SMTP the one-time codes would go to the log; a proxy
            # trusted from anywhere lets any client choose its address.
            if not env.get("SMTP_URL"):
                raise ConfigError("SMTP_URL is required when ENV=production")
            if "*" in reader.csv("TRUSTED_PROXIES"):
                raise ConfigError(
                    "TRUSTED_PROXIES must list addresses or networks when ENV=production, not *"
                )
        return cls(
            env=environment,
            database_url=reader.url("DATABASE_URL", ("postgres", "postgresql")),
            database_replica_urls=reader.urls("DATABASE_REPLICA_URLS", ("postgres", "postgresql")),
            replica_max_lag_seconds=reader.number(
                "REPLICA_MAX_LAG_SECONDS", cls.replica_max_lag_seconds, 0.01, 3600
            ),
            replica_check_seconds=reader.number(
                "REPLICA_CHECK_SECONDS", cls.replica_check_seconds, 0.01, 60
            ),
            smtp_url=reader.url("SMTP_URL", ("smtp", "smtps")),
            mail_from=env.get("MAIL_FROM", cls.mail_from),
            secret_key=Secret(secret or secrets.token_hex(32)),
            host=env.get("HOST", cls.host),
            port=reader.integer("PORT", cls.port, 1, 65535),
            workers=reader.integer("WORKERS", cls.workers, 1, 64),
            log_level=reader.choice("LOG_LEVEL", LOG_LEVELS, cls.log_level, upper=True),
            log_format=reader.choice("LOG_FORMAT", LOG_FORMATS, cls.log_format),
            data_dir=env.get("DATA_DIR", cls.data_dir),
            pool_min_size=reader.integer("POOL_MIN_SIZE", cls.pool_min_size, 0, 1000),
            pool_max_size=reader.integer("POOL_MAX_SIZE", cls.pool_max_size, 1, 1000),
            session_ttl_hours=reader.integer(
                "SESSION_TTL_HOURS", cls.session_ttl_hours, 1, 24 * 365
            ),
            session_idle_minutes=reader.integer(
                "SESSION_IDLE_MINUTES", cls.session_idle_minutes, 2, 60 * 24 * 365
            ),
            argon2_concurrency=reader.integer("ARGON2_CONCURRENCY", cls.argon2_concurrency, 1, 64),
            argon2_niceness=reader.integer("ARGON2_NICENESS", cls.argon2_niceness, 0, 19),
            argon2_max_queue=reader.integer("ARGON2_MAX_QUEUE", cls.argon2_max_queue, 0, 10_000),
            max_query_depth=reader.integer("MAX_QUERY_DEPTH", cls.max_query_depth, 2, 100),
            max_aliases=reader.integer("MAX_ALIASES", cls.max_aliases, 1, 10_000),
            max_tokens=reader.integer("MAX_TOKENS", cls.max_tokens, 100, 1_000_000),
            max_query_cost=reader.integer("MAX_QUERY_COST", cls.max_query_cost, 1, 10_000_000),
            max_field_selections=reader.integer(
                "MAX_FIELD_SELECTIONS", cls.max_field_selections, 10, 1_000_000
            ),
            max_validation_work=reader.integer(
                "MAX_VALIDATION_WORK", cls.max_validation_work, 100, 10_000_000
            ),
            anonymous_max_tokens=reader.integer(
                "ANONYMOUS_MAX_TOKENS", cls.anonymous_max_tokens, 100, 1_000_000
            ),
            anonymous_max_field_selections=reader.integer(
                "ANONYMOUS_MAX_FIELD_SELECTIONS", cls.anonymous_max_field_selections, 10, 1_000_000
            ),
            graphql_executor=reader.choice(
                "GRAPHQL_EXECUTOR", ("stock", "compiled"), cls.graphql_executor
            ),
            cors_origins=reader.csv("CORS_ORIGINS"),
            max_body_bytes=reader.integer("MAX_BODY_BYTES", cls.max_body_bytes, 1024, 100_000_000),
            body_read_timeout_seconds=reader.number(
                "BODY_READ_TIMEOUT_SECONDS", cls.body_read_timeout_seconds, 0.1, 3600
            ),
            max_connections=reader.integer("MAX_CONNECTIONS", cls.max_connections, 2, 1_000_000),
            keep_alive_timeout_seconds=reader.integer(
                "KEEP_ALIVE_TIMEOUT_SECONDS", cls.keep_alive_timeout_seconds, 1, 3600
            ),
            persisted_queries=reader.choice(
                "PERSISTED_QUERIES", ("off", "apq", "only"), cls.persisted_queries
            ),
            apq_max_document_bytes=reader.integer(
                "APQ_MAX_DOCUMENT_BYTES", cls.apq_max_document_bytes, 100, 10_000_000
            ),
            apq_max_stored=reader.integer("APQ_MAX_STORED", cls.apq_max_stored, 1, 10_000_000),
            apq_max_per_client=reader.integer(
                "APQ_MAX_PER_CLIENT", cls.apq_max_per_client, 1, 10_000_000
            ),
            trusted_proxies=reader.networks("TRUSTED_PROXIES", cls.trusted_proxies),
            metrics_dir=env.get("METRICS_DIR", cls.metrics_dir),
            metrics_token=reader.token("METRICS_TOKEN"),
            introspection=reader.switch("GRAPHQL_INTROSPECTION"),
            graphiql=reader.switch("GRAPHIQL"),
            suggestions=reader.switch("GRAPHQL_SUGGESTIONS"),
            hsts=bool(reader.switch("HSTS")),
            partner_program_links=reader.links("PARTNER_PROGRAM_LINKS", cls.partner_program_links),
            code_ttl_seconds=reader.integer("CODE_TTL_SECONDS", cls.code_ttl_seconds, 60, 86_400),
            throttle_window_seconds=reader.integer(
                "THROTTLE_WINDOW_SECONDS", cls.throttle_window_seconds, 1, 86_400
            ),
            throttle_per_address=reader.integer(
                "THROTTLE_PER_ADDRESS", cls.throttle_per_address, 1, 1_000_000
            ),
            throttle_per_client=reader.integer(
                "THROTTLE_PER_CLIENT", cls.throttle_per_client, 1, 1_000_000
            ),
            answer_cache_bytes=reader.integer(
                "ANSWER_CACHE_BYTES", cls.answer_cache_bytes, 0, 2**40
            ),
            subscriptions_per_connection=reader.integer(
                "SUBSCRIPTIONS_PER_CONNECTION", cls.subscriptions_per_connection, 1, 10_000
            ),
            subscriptions_per_user=reader.integer(
                "SUBSCRIPTIONS_PER_USER", cls.subscriptions_per_user, 1, 1_000_000
            ),
            ws_connections_per_user=reader.integer(
                "WS_CONNECTIONS_PER_USER", cls.ws_connections_per_user, 1, 100_000
            ),
            ws_init_timeout_seconds=reader.integer(
                "WS_INIT_TIMEOUT_SECONDS", cls.ws_init_timeout_seconds, 1, 3600
            ),
            ws_idle_timeout_seconds=reader.integer(
                "WS_IDLE_TIMEOUT_SECONDS", cls.ws_idle_timeout_seconds, 1, 86_400
            ),
            mail_poll_seconds=reader.number("MAIL_POLL_SECONDS", cls.mail_poll_seconds, 0.05, 60),
            mail_lease_seconds=reader.integer(
                "MAIL_LEASE_SECONDS", cls.mail_lease_seconds, 2, 3600
            ),
            mail_retry_base_seconds=reader.number(
                "MAIL_RETRY_BASE_SECONDS", cls.mail_retry_base_seconds, 0.1, 3600
            ),
            mail_retry_max_seconds=reader.number(
                "MAIL_RETRY_MAX_SECONDS", cls.mail_retry_max_seconds, 0.1, 86_400
            ),
            mail_max_attempts=reader.integer("MAIL_MAX_ATTEMPTS", cls.mail_max_attempts, 1, 1000),
            throttle_sign_up_global=reader.integer(
                "THROTTLE_SIGN_UP_GLOBAL", cls.throttle_sign_up_global, 1, 10_000_000
            ),
            code_max_wrong_per_day=reader.integer(
                "CODE_MAX_WRONG_PER_DAY", cls.code_max_wrong_per_day, 5, 1_000
            ),
            sign_in_free_failures=reader.integer(
                "SIGN_IN_FREE_FAILURES", cls.sign_in_free_failures, 1, 100
            ),
            sign_in_max_delay_seconds=reader.integer(
                "SIGN_IN_MAX_DELAY_SECONDS", cls.sign_in_max_delay_seconds, 1, 3_600
            ),
            sign_in_lockout_failures=reader.integer(
                "SIGN_IN_LOCKOUT_FAILURES", cls.sign_in_lockout_failures, 10, 100
            ),
            sign_in_lockout_seconds=reader.integer(
                "SIGN_IN_LOCKOUT_SECONDS", cls.sign_in_lockout_seconds, 60, 30 * 86_400
            ),
        )


def settings_help() -> str:
    """Every setting with its default, for `server.py serve --help` (README: Configuration)."""
    lines = ["settings (environment variables; README's Configuration table says more):"]
    # Only what from_env reads: a field without a variable is not a setting.
    read = inspect.getsource(Settings.from_env)
    for item in fields(Settings):
        if f'"{item.name.upper()}"' not in read:
            continue
        default = item.default
        if default is MISSING:
            shown = "random per start" if item.name == "secret_key" else "computed"
        elif default is None or default == "" or default == ():
            shown = "unset"
        elif isinstance(default, tuple):
            shown = ",".join(str(v) if not isinstance(v, tuple) else "|".join(v) for v in default)
        else:
            shown = str(default)
        lines.append(f"  {item.name.upper():32} {shown}")
    return "\n".join(lines)


class _Reader:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.environ.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
        if not low <= value <= high:
            raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
        return value

    def number(self, name: str, default: float, low: float, high: float) -> float:
        raw = self.environ.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {raw!r}") from None
        if not low <= value <= high:
            raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
        return value

    def urls(self, name: str, schemes: tuple[str, ...]) -> tuple[str, ...]:
        """Comma-separated URLs, each checked like `url`."""
        items = self.csv(name)
        for item in items:
            if urlsplit(item).scheme not in schemes:
                raise ConfigError(
                    f"{name} entries must start with {' or '.join(s + '://' for s in schemes)}"
                )
        return items

    def choice(self, name: str, allowed: tuple[str, ...], default: str, upper: bool = False) -> str:
        raw = self.environ.get(name) or default
        value = raw.upper() if upper else raw.lower()
        if value not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
        return value

    def url(self, name: str, schemes: tuple[str, ...]) -> str | None:
        raw = self.environ.get(name)
        if not raw:
            return None
        parts = urlsplit(raw)
        if parts.scheme not in schemes:
            raise ConfigError(f"{name} must start with {' or '.join(s + '://' for s in schemes)}")
        if parts.scheme.startswith("smtp") and not parts.hostname:
            raise ConfigError(f"{name} must name a host, e.g. smtp://mail.example:25")
        return raw

    def switch(self, name: str) -> bool | None:
        """`on` / `off` (also true/false, 1/0); None when unset."""
        raw = self.environ.get(name)
        if not raw:
            return None
        value = raw.strip().lower()
        if value in ("on", "true", "1", "yes"):
            return True
        if value in ("off", "false", "0", "no"):
            return False
        raise ConfigError(f"{name} must be on or off, got {raw!r}")

    def token(self, name: str) -> Secret | None:
        """A bearer secret: at least 32 characters, no spaces."""
        raw = self.environ.get(name)
        if not raw:
            return None
        if len(raw) < 32 or any(c.isspace() for c in raw):
            raise ConfigError(f"{name} must be at least 32 characters, without spaces")
        return Secret(raw)

    def csv(self, name: str) -> tuple[str, ...]:
        raw = self.environ.get(name, "")
        return tuple(item.strip() for item in raw.split(",") if item.strip())

    def networks(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        """Comma-separated addresses or networks (`10.0.0.0/8`), or `*` for any."""
        raw = self.environ.get(name)
        if raw is None:
            return default
        items = tuple(item.strip() for item in raw.split(",") if item.strip())
        for item in items:
            if item == "*":
                continue
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ConfigError(
                    f"{name} entries must be addresses or networks, got {item!r}"
                ) from None
        return items

    def links(self, name: str, default: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        """`Title|https://url,Other|https://url` (titles without commas)."""
        raw = self.environ.get(name)
        if not raw:
            return default
        links = []
        for item in raw.split(","):
            title, sep, url = item.partition("|")
            if not sep or not url.strip().startswith(("https://", "http://")):
                raise ConfigError(
                    f"{name} entries must look like 'Title|https://url', got {item!r}"
                )
            links.append((title.strip(), url.strip()))
        return tuple(links)
