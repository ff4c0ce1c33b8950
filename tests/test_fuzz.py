"""Schema-driven fuzzing of a live server: whatever a client sends, it gets an
answer (no dropped connection), JSON, never a 5xx, every error carries a
public `extensions.code` (never INTERNAL_SERVER_ERROR), and the server logs
nothing at ERROR (client mistakes are INFO).

hypothesis-graphql writes queries and mutations from the served schema
(schema.graphql, kept equal to it by test_schema_export), with hostile values
(tests/fuzzing.py): control characters, odd Unicode, edge and out-of-range
integers, bogus ids and cursors, and real ids of the caller's tenant and of
another one. Arguments go as literals, as JSON variables or as variable
defaults, over POST and GET. Each mode is derandomized (the same cases on
every run) and bounded in cases and in time.

Failures are collected rather than raised, so one run lists every distinct
cause with its shortest case (and the server's exception when it logged one).
Errors that this API gives by design (UNAUTHENTICATED, FORBIDDEN,
BAD_USER_INPUT, QUERY_TOO_COSTLY, ...) are fine: they are judged by code.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import graphql
import httpx
import hypothesis_graphql as hg
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from resolvers.ids import encode_id
from security.passwords import hash_password_sync
from tests.fleet_data import Tenant, create_tenant, create_user
from tests.fuzzing import Case, Findings, Vocabulary, with_variables
from tests.live_server import ROOT, LiveServer, live_server
from tests.support.app import SMTPServer

SCHEMA_SDL = (ROOT / "schema.graphql").read_text()
SCHEMA = graphql.build_schema(SCHEMA_SDL)
QUERY_FIELDS = set(SCHEMA.query_type.fields) if SCHEMA.query_type else set()
MUTATION_FIELDS = set(SCHEMA.mutation_type.fields) if SCHEMA.mutation_type else set()
ADMIN_PASSWORD = "Fuzz-admin-passphrase-4071"
ACME_DOMAIN = "fuzz-acme.example"
SHARED_DOMAIN = "fuzz-shared.example"
REGISTRANT_STEPS = [
    ("CHOOSE_ACCESS_TYPE", ACME_DOMAIN),
    ("COMPLETE_PROFILE", ACME_DOMAIN),
    ("COMPLETE_PROFILE", SHARED_DOMAIN),
    ("COMPLETE_PROFILE", "fuzz-newco.example"),
    ("SELECT_ORGANIZATION", SHARED_DOMAIN),
    ("DESCRIBE_ORGANIZATION", "fuzz-newco.example"),
]
# Mutations after which the fixture is put back as it was.
STATE_CHANGING = (
    "signOut",
    "resetPassword",
    "setMemberRole",
    "chooseAccessType",
    "submitProfessionalProfile",
    "selectOrganization",
    "submitOrganizationDetails",
    "decideOnboardingRequest",
)
SETTINGS = {
    # Sign-in throttles would soon answer every credential mutation with
    # RATE_LIMITED; raised so that the fuzz reaches the code behind them.
    "THROTTLE_PER_ADDRESS": "100000",
    "THROTTLE_PER_CLIENT": "100000",
}
# Per mode: the same cases on every run, at most this many and this long
# (about a minute in all; the cases beyond the time are not run).
ANONYMOUS = (300, 18.0)
SIGNED_IN = (400, 26.0)
HTTP_EDGE = (1000, 6.0)


# ------------------------------------------------------------------- world


@dataclass
class World:
    """What the fuzz acts on: a tenant with a fleet, its people, a stranger."""

    database_url: str
    tokens: dict[str, str] = field(default_factory=dict)
    vocabulary: Vocabulary = field(default_factory=Vocabulary)
    admin_pk: int = 0
    # Registrants at each step before COMPLETE: user id -> (step, email).
    registrants: dict[int, tuple[str, str]] = field(default_factory=dict)


async def _build_world(database_url: str) -> World:
    world = World(database_url)
    db = await asyncpg.connect(database_url)
    try:
        acme = await create_tenant(db, sites=3, products=24, seed=11, name="Fuzz Acme")
        other = await create_tenant(db, sites=2, products=8, seed=12, name="Fuzz Other")
        await db.execute(
            "insert into organization_domains (domain, organization_id) values ($1, $2)",
            ACME_DOMAIN,
            acme.organization_id,
        )
        admin = await create_user(db, acme, role="ADMIN")
        member = await create_user(
            db, acme, site_scope="SELECTED_SITES", site_ids=[acme.site_ids[0]]
        )
        stranger = await create_user(db, other, role="ADMIN")
        staff = await create_user(db, None)
        await db.execute("update users set is_staff = true where id = $1", staff.pk)
        await db.execute(
            "update users set password_hash = $1 where id = $2",
            hash_password_sync(ADMIN_PASSWORD),
            admin.pk,
        )
        pending = await create_user(db, None, step="AWAITING_APPROVAL")
        request_pk = await db.fetchval(
            """
            insert into onboarding_requests (user_id, legal_name, domain, address, country)
            values ($1, 'Initech', 'initech.example',
                    '{"line1": "1 Way", "city": "Austin", "country": "US"}', 'US')
            returning id
            """,
            pending.pk,
        )
        # Two organizations own SHARED_DOMAIN (SELECT_ORGANIZATION); a new
        # domain goes to DESCRIBE_ORGANIZATION; ACME_DOMAIN joins at once.
        for tenant in (acme, other):
            await db.execute(
                "insert into organization_domains (domain, organization_id) values ($1, $2)",
                SHARED_DOMAIN,
                tenant.organization_id,
            )
        for step, domain in REGISTRANT_STEPS:
            registrant = await create_user(db, None, step=step)
            email = f"registrant{registrant.pk}@{domain}"
            await db.execute("update users set email = $1 where id = $2", email, registrant.pk)
            world.registrants[registrant.pk] = (step, email)
            world.tokens[f"registrant at {step}"] = registrant.token
        groups = {}
        for owner, tenant in ((admin, acme), (stranger, other)):
            groups[owner.pk] = await _group(db, tenant, owner.pk)
        world.admin_pk = admin.pk
        world.tokens |= {
            "admin": admin.token,
            "member": member.token,
            "staff": staff.token,
            "stranger": stranger.token,
        }
        ids = [
            encode_id("Organization", acme.organization_id),
            encode_id("Organization", other.organization_id),
            encode_id("OnboardingRequest", request_pk),
            *(encode_id("ProductFamily", n) for n in (1, 2, 12)),
            *(encode_id("CustomGroup", pk) for pk in groups.values()),
        ]
        for tenant in (acme, other):
            ids += [tenant.site_gid(0), tenant.site_gid(1), tenant.product_gid(0)]
            ids += [tenant.product_gid(3), encode_id("Site", tenant.site_ids[-1])]
        for user in (admin, member, stranger, staff, pending):
            ids.append(user.id)
        world.vocabulary = Vocabulary(
            ids=ids,
            strings=[
                admin.email,
                member.email,
                stranger.email,
                staff.email,
                pending.email,
                admin.email.upper(),
                ADMIN_PASSWORD,
                f"newcomer@{ACME_DOMAIN}",
                *(email for _, email in world.registrants.values()),
                "someone@globex-fuzz.example",
                "someone@gmail.com",
                "someone@mailinator.com",
                f"x%evil.example@{ACME_DOMAIN}",
                "not-an-email",
                # Valid values, so that registration steps can succeed.
                "+1 512 555 0100",
                "Initech",
                "https://initech.example",
                "US",
                *ids,
            ],
        )
    finally:
        await db.close()
    return world


async def _group(db: asyncpg.Connection, tenant: Tenant, owner_pk: int) -> int:
    pk: int = await db.fetchval(
        "insert into custom_groups (organization_id, owner_id, name) values ($1, $2, 'G')"
        " returning id",
        tenant.organization_id,
        owner_pk,
    )
    await db.execute(
        "insert into custom_group_products (organization_id, group_id, product_id)"
        " values ($1, $2, $3)",
        tenant.organization_id,
        pk,
        tenant.product_ids[0],
    )
    await db.execute(
        "insert into custom_group_sites (organization_id, group_id, site_id) values ($1, $2, $3)",
        tenant.organization_id,
        pk,
        tenant.site_ids[0],
    )
    return pk


async def _restore(database_url: str, world: World) -> None:
    """Undo what a fuzzed mutation may have done to the fixture: sign-ins
    (signOut, resetPassword), the admin's role, the registrants' steps, so
    later cases keep reaching the code behind them."""
    conn = await asyncpg.connect(database_url)
    try:
        hashes = [hashlib.sha256(t.encode()).digest() for t in world.tokens.values()]
        await conn.execute(
            "update sessions set revoked_at = null, expires_at = now() + interval '1 day'"
            " where token_hash = any($1)",
            hashes,
        )
        await conn.execute("update users set role = 'ADMIN' where id = $1", world.admin_pk)
        for pk, (step, _) in world.registrants.items():
            # What a registrant who reached COMPLETE may have made meanwhile.
            await conn.execute("delete from custom_groups where owner_id = $1", pk)
            await conn.execute("delete from user_sites where user_id = $1", pk)
            await conn.execute(
                "delete from onboarding_requests where user_id = $1 and status = 'PENDING'", pk
            )
            await conn.execute(
                "update users set step = $2, organization_id = null, role = null,"
                " access_type = case when $2 = 'CHOOSE_ACCESS_TYPE' then null"
                " else 'CUSTOMER_EMPLOYEE' end where id = $1",
                pk,
                step,
            )
    finally:
        await conn.close()


# --------------------------------------------------------------- requests


def _root_field(name: str) -> graphql.GraphQLField:
    root = SCHEMA.query_type if name in QUERY_FIELDS else SCHEMA.mutation_type
    assert root is not None
    return root.fields[name]


def _identity(document: graphql.DocumentNode) -> graphql.DocumentNode:
    return document


def operation_cases(
    vocabulary: Vocabulary, tokens: list[str | None]
) -> st.SearchStrategy[tuple[Case, str | None]]:
    """Queries and mutations over POST (or GET), with literals or variables."""
    scalars = vocabulary.custom_scalars()

    # One root field per document, every root field as likely as another:
    # a document that selects many is mostly refused as a whole (cost,
    # validation) before its arguments reach the code behind them.
    def one_root(field: str, mode: hg.Mode) -> st.SearchStrategy[graphql.DocumentNode]:
        make = hg.queries if field in QUERY_FIELDS else hg.mutations
        return make(SCHEMA, fields=[field], custom_scalars=scalars, print_ast=_identity, mode=mode)

    roots = sorted(QUERY_FIELDS) + sorted(MUTATION_FIELDS)
    positive = st.one_of(
        st.one_of(*(one_root(f, hg.Mode.POSITIVE) for f in sorted(QUERY_FIELDS))),
        st.one_of(*(one_root(f, hg.Mode.POSITIVE) for f in sorted(MUTATION_FIELDS))),
    )
    with_arguments = [f for f in roots if _root_field(f).args]
    negative = st.one_of(*(one_root(f, hg.Mode.NEGATIVE) for f in with_arguments))
    documents = st.one_of(positive, positive, positive, negative)

    @st.composite
    def build(draw: st.DrawFn) -> tuple[Case, str | None]:
        document = draw(documents)
        token = draw(st.sampled_from(tokens))
        how = draw(st.sampled_from(("literals", "literals", "variables", "defaults")))
        variables: dict[str, Any] | None = None
        if how != "literals":
            document, variables = with_variables(SCHEMA, document, how == "defaults")
        text = graphql.print_ast(document)
        is_query = "mutation" not in text.split("{", 1)[0]
        method = "GET" if is_query and draw(st.integers(0, 4)) == 0 else "POST"
        accept = draw(
            st.sampled_from(("application/json", "application/graphql-response+json", None))
        )
        headers = {"Accept": accept} if accept else {}
        # Now and then as an Apollo client registering the document.
        extensions = _persisted(text) if draw(st.integers(0, 7)) == 0 else None
        return Case(method, text, variables or None, extensions, headers), token

    return build()


# Hand-written cases that once broke: run first in the signed-in mode.
REGRESSIONS = [
    # A bad cursor beside DataLoader loads shared with other paths (issue 11).
    "{ viewer { organization { domains members { nodes { organization { domains"
    ' members(after: "彝") { totalCount } } } } } } }',
    '{ products(first: -1) { totalCount } sites(after: "\\u0000") { totalCount } }',
    '{ products(filter: {search: "a\\u0000b", siteIds: ["\\u0000"]}) { totalCount } }',
    '{ sites(filter: {country: "U\\u0000"}) { totalCount } }',
    'mutation { signIn(email: "a\\u0000@x.example", password: "x") { userErrors { code } } }',
    'mutation { createCustomGroup(input: {name: "a\\u0000", description: "\\u0000"})'
    " { userErrors { code } } }",
]


def exchange(http: httpx.Client, case: Case, token: str | None, findings: Findings) -> None:
    """Send a case and judge its answer (or its lack of one)."""
    try:
        response = send(http, case, token)
    except httpx.TransportError as error:
        findings.record_dropped(case, error)
    else:
        findings.record(case, response)


def send(http: httpx.Client, case: Case, token: str | None) -> httpx.Response:
    headers = dict(case.headers)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if case.method == "GET":
        params: dict[str, str] = {}
        if case.document is not None:
            params["query"] = case.document
        if case.variables:
            params["variables"] = json.dumps(case.variables)
        if case.extensions:
            params["extensions"] = json.dumps(case.extensions)
        return http.get("/graphql", params=params, headers=headers)
    if case.body is not None or case.path != "/graphql":
        return http.request(case.method, case.path, content=case.body, headers=headers)
    payload: dict[str, Any] = {"query": case.document}
    if case.variables:
        payload["variables"] = case.variables
    if case.extensions:
        payload["extensions"] = case.extensions
    headers.setdefault("Content-Type", "application/json")
    return http.post("/graphql", content=_json(payload), headers=headers)


@contextmanager
def fuzz_server(
    database_url: str, tmp_path: Path, smtp_server: SMTPServer
) -> Iterator[tuple[LiveServer, httpx.Client]]:
    with (
        live_server(
            database_url, tmp_path / "server.log", 60, SMTP_URL=smtp_server.url, **SETTINGS
        ) as server,
        httpx.Client(base_url=server.url, timeout=60) as http,
    ):
        yield server, http


class BudgetSpent(Exception):
    """Ends a fuzz run once its time is spent (drawing a case costs ~50-100 ms)."""


def run_bounded(
    strategy: st.SearchStrategy[Any], run_one: Callable[[Any], None], cases: int, budget: float
) -> None:
    """Run `run_one` on up to `cases` derandomized examples, for at most `budget` s."""
    started = time.monotonic()

    @settings(
        derandomize=True,
        max_examples=cases,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(strategy)
    def fuzz(example: Any) -> None:
        if time.monotonic() - started > budget:
            raise BudgetSpent
        run_one(example)

    try:
        fuzz()
    except BudgetSpent:
        pass


def assert_no_findings(findings: Findings, server: LiveServer, mode: str) -> None:
    """No broken answer, and nothing the server logged at ERROR: every fuzz
    case is valid or a client mistake (logged at INFO), so an ERROR line is
    an unexpected failure even when its answer looked right."""
    log = server.log()
    report = findings.report(log)
    errors_logged = [
        line[:400]
        for line in log.splitlines()
        if '"level": "ERROR"' in line or '"level":"ERROR"' in line
    ]
    print(f"\nfuzz {mode}: {report}\nserver log lines at ERROR: {len(errors_logged)}")
    assert findings.cases_run >= 50, report  # the budget must buy a real run
    if findings.by_key or errors_logged:
        logged = "\n".join(errors_logged[:5])
        pytest.fail(f"fuzz {mode}: {report}\nlogged at ERROR:\n{logged}", pytrace=False)


# ------------------------------------------------------------------- tests


def test_fuzzed_operations_from_anonymous_clients_answer_coded_json(
    database_url: str, tmp_path: Path, smtp_server: SMTPServer
) -> None:
    world = asyncio.run(_build_world(database_url))
    findings = Findings()
    with fuzz_server(database_url, tmp_path, smtp_server) as (server, http):

        def run_one(example: tuple[Case, str | None]) -> None:
            case, _ = example
            exchange(http, case, None, findings)

        run_bounded(operation_cases(world.vocabulary, [None]), run_one, *ANONYMOUS)
    assert_no_findings(findings, server, "anonymous")


def test_fuzzed_operations_from_signed_in_users_answer_coded_json(
    database_url: str, tmp_path: Path, smtp_server: SMTPServer
) -> None:
    world = asyncio.run(_build_world(database_url))
    findings = Findings()
    tokens: list[str | None] = list(world.tokens.values())
    with fuzz_server(database_url, tmp_path, smtp_server) as (server, http):
        for document in REGRESSIONS:
            for token in tokens:
                exchange(http, Case("POST", document), token, findings)

        def run_one(example: tuple[Case, str | None]) -> None:
            case, token = example
            exchange(http, case, token, findings)
            text = case.document or ""
            if any(name in text for name in STATE_CHANGING):
                asyncio.run(_restore(database_url, world))

        run_bounded(operation_cases(world.vocabulary, tokens), run_one, *SIGNED_IN)
    assert_no_findings(findings, server, "signed in")


# ------------------------------------------------------------- HTTP edge

EDGE_DOCUMENTS = [
    "{ productFamilies { id name } }",
    "{ viewer { id } }",
    "mutation { signOut { userErrors { code } } }",
    "{",
    "",
    "query A { viewer { id } } query B { productFamilies { id } }",
    "subscription { viewer { id } }",
    "{ __schema { types { name } } }",
    "\x00",
    "{ viewer { id } }\x00",
]
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=latin1",
    "application/json; charset=\x7f",
    "APPLICATION/JSON",
    "application/graphql",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/graphql-response+json",
    "",
]
ACCEPTS = [
    "application/json",
    "application/graphql-response+json",
    "text/html",
    "image/png",
    "*/*",
    "application/json;q=0",
    "application/json; charset=utf-16",
    "application/graphql-response+json;q=0.5, application/json;q=0.4",
    "",
]


def _persisted(document: str) -> dict[str, Any]:
    return {
        "persistedQuery": {
            "version": 1,
            "sha256Hash": hashlib.sha256(document.encode()).hexdigest(),
        }
    }


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
EXTENSIONS = st.one_of(
    st.none(),
    st.sampled_from(EDGE_DOCUMENTS).map(_persisted),
    st.builds(
        lambda version, sha: {"persistedQuery": {"version": version, "sha256Hash": sha}},
        st.sampled_from([1, 2, "1", None, 1.0, -1]),
        st.sampled_from(
            ["0" * 64, "F" * 64, "g" * 64, "", "\x00" * 64, "0" * 63, "0" * 65, None, 1]
        ),
    ),
    st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=3),
    st.just({"persistedQuery": "yes"}),
)


NUL_DOCUMENT = "{ viewer { id } }\x00"
EDGE_REGRESSIONS = [
    # Persisting a document PostgreSQL cannot store (issue 11: a plain 500).
    Case("POST", NUL_DOCUMENT, extensions=_persisted(NUL_DOCUMENT)),
    Case("GET", NUL_DOCUMENT, extensions=_persisted(NUL_DOCUMENT)),
    Case("GET", None, extensions=_persisted("{ nothing }")),
    Case("POST", "{ viewer { id } }", extensions=_persisted("{ other }")),
    Case("POST", "{ viewer { id } }", {"x": "\x00"}),
    Case("GET", "mutation { signOut { userErrors { code } } }"),
    Case(
        "POST",
        None,
        headers={"Content-Type": "application/json"},
        body=b"[" * 100_000 + b"]" * 100_000,
    ),
]


def _json(value: Any) -> bytes:
    # json, not orjson: integers beyond 64 bits are part of the fuzz.
    return json.dumps(value).encode()


# Routes besides /graphql, and the methods they refuse (HEAD has no body to judge).
OTHER_ROUTES = ["/healthz", "/readyz", "/favicon.ico", "/metrics", "/static/graphiql/init.js"]
REFUSED_METHODS = ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
PATH_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="?#%/"),
    min_size=1,
    max_size=16,
)


@st.composite
def elsewhere_cases(draw: st.DrawFn) -> Case:
    """Another path than /graphql: a wrong method on a route, or a random path."""
    if draw(st.booleans()):
        return Case(
            draw(st.sampled_from(REFUSED_METHODS)), None, path=draw(st.sampled_from(OTHER_ROUTES))
        )
    parts = draw(st.lists(PATH_TEXT, min_size=1, max_size=3))
    path = "/" + "/".join(parts)
    if path in OTHER_ROUTES or path.rstrip("/") == "/graphql":
        path = "/x" + path
    method = draw(st.sampled_from(["GET", *REFUSED_METHODS]))
    body = draw(st.none() | st.binary(max_size=20))
    return Case(method, None, body=body, path=path)


@st.composite
def edge_cases(draw: st.DrawFn) -> Case:
    if draw(st.integers(0, 9)) == 0:
        return draw(elsewhere_cases())
    document = draw(st.sampled_from(EDGE_DOCUMENTS) | st.text(max_size=40))
    extensions = draw(EXTENSIONS)
    variables = draw(st.none() | st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=3))
    accept = draw(st.sampled_from(ACCEPTS) | st.sampled_from(ACCEPTS[:2]))
    headers = {"Accept": accept} if accept else {}
    method = draw(
        st.sampled_from(("GET", "GET", "POST", "POST", "POST", "POST", "PUT", "DELETE", "PATCH"))
    )
    if method == "GET":
        # Sometimes only the hash, as Apollo clients send their first try.
        query = None if extensions and draw(st.booleans()) else document
        return Case("GET", query, variables, extensions, headers)
    content_type = draw(st.sampled_from(CONTENT_TYPES) | st.just("application/json"))
    if content_type:
        headers["Content-Type"] = content_type
    payload: Any = {"query": document, "variables": variables, "extensions": extensions}
    body = draw(
        st.one_of(
            st.just(_json(payload)),
            st.just(_json(payload)),
            JSON_VALUES.map(_json),
            st.just(_json({**payload, "query": None})),
            st.just(_json({**payload, "operationName": draw(st.text(max_size=10))})),
            st.binary(max_size=40),
            st.sampled_from(
                [
                    b"",
                    b"{",
                    b"[" * 5000 + b"]" * 5000,
                    b'{"query": "{ viewer { id } }", "variables": []}',
                    b'{"query": "{ viewer { id } }", "query": "{ x }"}',
                    b'{"query": 1e999999}',
                    b'{"query": "\\ud800"}',
                    b'{"query": "{ viewer { id } }"}\x00',
                    b"\xff\xfe{}",
                    b'[{"query": "{ viewer { id } }"}]',
                ]
            ),
        )
    )
    return Case(method, None, None, None, headers, body)


def test_fuzzed_http_requests_answer_json_with_a_code(
    database_url: str, tmp_path: Path, smtp_server: SMTPServer
) -> None:
    findings = Findings()
    with fuzz_server(database_url, tmp_path, smtp_server) as (server, http):

        def run_one(case: Case) -> None:
            exchange(http, case, None, findings)

        for case in EDGE_REGRESSIONS:
            run_one(case)
        run_bounded(edge_cases(), run_one, *HTTP_EDGE)
    assert_no_findings(findings, server, "HTTP edge")


@pytest.mark.parametrize("mode", ["literals", "variables", "defaults"])
def test_argument_hoisting_keeps_the_document_valid(mode: str) -> None:
    """The fuzz's variable modes send documents that still validate."""
    document = graphql.parse(
        '{ products(first: 5, filter: {health: [CRITICAL], search: "x"}) { totalCount } }'
    )
    if mode != "literals":
        document, variables = with_variables(SCHEMA, document, mode == "defaults")
        if mode == "variables":
            assert variables == {"v0": 5, "v1": {"health": ["CRITICAL"], "search": "x"}}
    assert graphql.validate(SCHEMA, document) == []
