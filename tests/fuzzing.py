"""Tools for fuzzing the live GraphQL endpoint (tests/test_fuzz.py).

- hostile input values for hypothesis-graphql's documents (`custom_scalars`
  replaces its String, ID and Int generators): control characters, long and
  odd Unicode text, edge and out-of-range integers, real ids of the caller's
  and of another tenant, bogus ids and cursors;
- `with_variables`: the same document with its argument literals moved into
  variables (values sent as JSON, or as the variables' defaults), so that the
  variable coercion path is fuzzed as well as the literal one;
- `answer_problems`: what the API promises of every answer, whatever was
  asked: no 5xx, JSON, a GraphQL response, and every error carries a public
  `extensions.code` other than INTERNAL_SERVER_ERROR;
- `Findings`: failures grouped by cause, keeping the shortest case of each.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import graphql
import httpx
import orjson
from graphql import (
    ArgumentNode,
    DocumentNode,
    GraphQLSchema,
    NameNode,
    OperationDefinitionNode,
    TypeInfo,
    TypeInfoVisitor,
    VariableDefinitionNode,
    VariableNode,
    Visitor,
    parse_type,
    value_from_ast_untyped,
    visit,
)
from hypothesis import strategies as st
from hypothesis_graphql import nodes

# ------------------------------------------------------------------ values

CONTROL_CHARACTERS = [chr(c) for c in range(0x20)] + ["\x7f", "\x85"]
ODD_UNICODE = [
    "\u202e",  # right-to-left override
    "\u200b",  # zero-width space
    "\u200d",  # zero-width joiner
    "\ufeff",  # byte order mark
    "\u2028",  # line separator
    "\u2029",  # paragraph separator
    "\U0001f600",  # outside the BMP
    "彝",
    "é",
    "e\u0301",  # combining accent
    "\ufffd",
]
# Refused by the input guard (BAD_USER_INPUT) wherever they appear.
CONTROL_STRINGS = [
    "\x00",
    "a\x00b",
    "\x00" * 64,
    "\t\r\n",
    "\x1b[31mred",
    "\x7f",
    "U\x00",
    "12345\x00",
]
HOSTILE_STRINGS = [
    "",
    " ",
    "%",
    "%00",
    "\\",
    "\\u0000",
    "'",
    '"; drop table users; --',
    "' or '1'='1",
    "$1",
    "<script>alert(1)</script>",
    "${jndi:ldap://x}",
    "{{7*7}}",
    "../../etc/passwd",
    "null",
    "undefined",
    "NaN",
    "-1",
    "0",
    "9" * 40,
    "a" * 73,
    "correct horse battery staple 72" + "x" * 60,
    "x" * 300,
    "y" * 5000,
    "é" * 2000,
    "\U0001f600" * 100,
    "\u202egnp.exe",
    "a\u200bb",
    "US",
    "FR",
    "us",
    "ZZ",
    "en",
    "fr",
    "fr-CA",
    "xx",
    "000000",
    "123456",
    "https://example.com",
    "javascript:alert(1)",
    "Correct-Horse-Battery-42!",
    "service360-demo",
]


def _text_with(specials: Sequence[str]) -> st.SearchStrategy[str]:
    """Short text in which special characters are likely."""
    return st.lists(
        st.sampled_from(specials) | st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]),
        max_size=12,
    ).map("".join)


def b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


BOGUS_IDS = [
    "",
    "0",
    "-1",
    "彝",
    "\x00",
    "not an id",
    b64("Product:0"),
    b64("Product:-1"),
    b64("Product:99999999999"),
    b64("Product:999999999999999999"),
    b64("Product:9223372036854775808"),
    b64("Product:1e3"),
    b64("Product:١٢"),  # Arabic-Indic digits
    b64("Nope:1"),
    b64(":1"),
    b64("Product:1:2"),
    b64("Product:\x001"),
    b64("CustomGroup:1") + "=",
    b64("User:1") + "==",
    b64("x" * 300),
    "A" * 201,
    "UHJvZHVjdDox",  # Product:1
    "UHJvZHVjdDox\n",
]
BOGUS_CURSORS = [
    "",
    "彝",
    "-1",
    "0",
    "null",
    "x" * 1000,
    b64("0"),
    b64("-1"),
    b64("99999999999999999999"),
    b64("arrayconnection:-1"),
    b64("arrayconnection:2147483648"),
    b64("\x00"),
    b64("彝"),
    b64('{"id": -1}'),
    b64("1:2:3"),
    b64("Product:1"),
]
INT_EDGES = [-(2**31), -1000, -1, 0, 1, 2, 3, 10, 50, 100, 101, 1000, 10_001, 2**31 - 1]
# Beyond GraphQL's 32-bit Int: must be refused as a coded validation error.
HUGE_INTS = [2**31, -(2**31) - 1, 10**20, -(10**30)]


@dataclass
class Vocabulary:
    """Values that mean something to the server: real ids, emails, cursors."""

    ids: list[str] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)

    def custom_scalars(self) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
        known_strings = st.sampled_from(self.strings) if self.strings else st.nothing()
        # Most strings pass the input guard (one control character anywhere
        # refuses the whole document), so that odd but legal text reaches
        # the resolvers; one in thirty does not (17: hypothesis favours 0 and
        # the bounds, not the values between).
        controls = st.one_of(
            st.sampled_from(CONTROL_STRINGS),
            _text_with(CONTROL_CHARACTERS),
            st.tuples(known_strings, st.sampled_from(CONTROL_CHARACTERS)).map("".join),
        )
        legal = st.one_of(
            st.sampled_from(HOSTILE_STRINGS),
            known_strings,
            known_strings,
            st.sampled_from(BOGUS_CURSORS),
            _text_with(ODD_UNICODE),
            st.tuples(known_strings, st.sampled_from(ODD_UNICODE)).map("".join),
            st.text(st.characters(exclude_categories=["Cs", "Cc"]), max_size=30),
        )
        string = (
            st.integers(0, 29).flatmap(lambda n: controls if n == 17 else legal).map(nodes.String)
        )
        known_ids = st.sampled_from(self.ids) if self.ids else st.nothing()
        identifier = st.one_of(
            known_ids,
            known_ids,
            st.sampled_from(BOGUS_IDS + BOGUS_CURSORS).map(str),
            _text_with(ODD_UNICODE),
        ).map(nodes.String) | st.sampled_from(INT_EDGES + HUGE_INTS).map(nodes.Int)
        integer = st.one_of(
            st.sampled_from(INT_EDGES),
            st.sampled_from(HUGE_INTS),
            st.integers(-(2**31), 2**31 - 1),
        ).map(nodes.Int)
        return {"String": string, "ID": identifier, "Int": integer}


# --------------------------------------------------------------- variables


def with_variables(
    schema: GraphQLSchema, document: DocumentNode, as_defaults: bool
) -> tuple[DocumentNode, dict[str, Any]]:
    """The document with every argument's literal moved into a variable.

    Values go into the JSON variables, or (as_defaults) into the variables'
    default values, which servers sometimes forget when they check costs.
    """
    type_info = TypeInfo(schema)
    definitions: list[VariableDefinitionNode] = []
    values: dict[str, Any] = {}

    class Hoist(Visitor):
        def enter_argument(self, node: ArgumentNode, *_args: Any) -> Any:
            input_type = type_info.get_input_type()
            if input_type is None or isinstance(node.value, VariableNode):
                return None
            name = f"v{len(definitions)}"
            literal = node.value
            type_node = parse_type(str(input_type))
            if as_defaults:
                if isinstance(literal, graphql.NullValueNode) and isinstance(
                    input_type, graphql.GraphQLNonNull
                ):
                    return None
                definitions.append(
                    VariableDefinitionNode(
                        variable=VariableNode(name=NameNode(value=name)),
                        type=type_node,
                        default_value=literal,  # type: ignore[arg-type]  # literals are constant
                        directives=(),
                    )
                )
            else:
                definitions.append(
                    VariableDefinitionNode(
                        variable=VariableNode(name=NameNode(value=name)),
                        type=type_node,
                        directives=(),
                    )
                )
                values[name] = value_from_ast_untyped(literal)
            return ArgumentNode(name=node.name, value=VariableNode(name=NameNode(value=name)))

    hoisted = visit(document, TypeInfoVisitor(type_info, Hoist()))
    operations = []
    for definition in hoisted.definitions:
        if isinstance(definition, OperationDefinitionNode):
            definition = OperationDefinitionNode(
                operation=definition.operation,
                name=definition.name,
                variable_definitions=tuple(definitions),
                directives=definition.directives,
                selection_set=definition.selection_set,
            )
        operations.append(definition)
    return DocumentNode(definitions=tuple(operations)), values


# ----------------------------------------------------------------- answers

PUBLIC_CODE = re.compile(r"[A-Z][A-Z0-9_]{2,63}")
JSON_MEDIA_TYPES = ("application/json", "application/graphql-response+json")


@dataclass(frozen=True)
class Problem:
    """One broken promise in one answer; `key` groups problems of one cause."""

    key: str
    detail: str
    request_id: str | None = None


def answer_problems(response: httpx.Response) -> list[Problem]:
    status = response.status_code
    request_id = response.headers.get("x-request-id")
    excerpt = response.text[:300]
    if status >= 500:
        return [Problem(f"HTTP {status}", excerpt, request_id)]
    if status == 304:
        return []
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in JSON_MEDIA_TYPES:
        return [Problem(f"HTTP {status} {media or 'no content type'}", excerpt, request_id)]
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return [Problem(f"HTTP {status} body is not JSON", excerpt, request_id)]
    if not isinstance(body, dict) or not ({"data", "errors"} & body.keys()):
        return [Problem(f"HTTP {status} not a GraphQL response", excerpt, request_id)]
    errors = body.get("errors")
    if body.get("data") is None and not errors:
        return [Problem("data null without errors", excerpt, request_id)]
    problems = []
    for error in errors or []:
        extensions = error.get("extensions") if isinstance(error, dict) else None
        code = extensions.get("code") if isinstance(extensions, dict) else None
        message = str(error.get("message", "")) if isinstance(error, dict) else str(error)
        if not isinstance(code, str) or not PUBLIC_CODE.fullmatch(code):
            # Group by the message's shape (numbers and quoted parts vary).
            shape = _shape(message)[:120]
            problems.append(Problem(f"error without a code: {shape}", message[:300], request_id))
        elif code == "INTERNAL_SERVER_ERROR" and isinstance(extensions, dict):
            where = ".".join(str(p) for p in error.get("path") or [] if isinstance(p, str))
            rid = extensions.get("requestId") or request_id
            problems.append(Problem(f"INTERNAL_SERVER_ERROR at {where}", message[:300], rid))
    return problems


@dataclass
class Case:
    """A request as sent, printable for a bug report."""

    method: str
    document: str | None
    variables: dict[str, Any] | None = None
    extensions: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    path: str = "/graphql"

    def size(self) -> int:
        return len(self.document or "") + len(json.dumps(self.variables)) + len(self.body or b"")

    def describe(self) -> str:
        lines = [f"{self.method} {self.path} {self.headers or ''}".rstrip()]
        if self.document is not None:
            lines.append(self.document)
        if self.variables:
            lines.append("variables: " + json.dumps(self.variables)[:1000])
        if self.extensions:
            lines.append("extensions: " + json.dumps(self.extensions)[:500])
        if self.body is not None:
            lines.append("body: " + repr(self.body[:500]))
        return "\n".join(lines)


@dataclass
class Findings:
    """Problems grouped by cause, each with its shortest case and a count."""

    cases_run: int = 0
    # HTTP status -> answers; 0 counts requests that got no answer.
    statuses: dict[int, int] = field(default_factory=dict)
    codes: dict[str, int] = field(default_factory=dict)
    by_key: dict[str, tuple[Case, Problem, int]] = field(default_factory=dict)
    # "CODE: message shape" -> count, to see what the cases mostly ran into.
    messages: dict[str, int] = field(default_factory=dict)

    def record(self, case: Case, response: httpx.Response) -> None:
        self.cases_run += 1
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        for code, message in _codes_of(response):
            self.codes[code] = self.codes.get(code, 0) + 1
            shape = f"{code}: {_shape(message)[:80]}"
            self.messages[shape] = self.messages.get(shape, 0) + 1
        for problem in answer_problems(response):
            kept = self.by_key.get(problem.key)
            if kept is None or case.size() < kept[0].size():
                count = kept[2] if kept else 0
                self.by_key[problem.key] = (case, problem, count + 1)
            else:
                self.by_key[problem.key] = (kept[0], kept[1], kept[2] + 1)

    def record_dropped(self, case: Case, error: Exception) -> None:
        """A request that got no answer at all (connection reset or closed)."""
        self.cases_run += 1
        self.statuses[0] = self.statuses.get(0, 0) + 1
        problem = Problem(f"no answer: {type(error).__name__}", str(error)[:300])
        kept = self.by_key.get(problem.key)
        if kept is None or case.size() < kept[0].size():
            self.by_key[problem.key] = (case, problem, (kept[2] if kept else 0) + 1)
        else:
            self.by_key[problem.key] = (kept[0], kept[1], kept[2] + 1)

    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def report(self, server_log: str = "") -> str:
        lines = [
            f"{self.cases_run} cases, statuses {dict(sorted(self.statuses.items()))}, "
            f"error codes {dict(sorted(self.codes.items()))}"
        ]
        common = sorted(self.messages.items(), key=lambda kv: -kv[1])[:8]
        lines += [f"  {n:5d} {shape}" for shape, n in common]
        for key, (case, problem, count) in sorted(self.by_key.items()):
            lines.append(f"\n== {key} ({count} cases); shortest:\n{case.describe()}")
            lines.append(f"-> {problem.detail}")
            cause = exception_for(server_log, problem.request_id)
            if cause:
                lines.append(f"server log: {cause}")
        return "\n".join(lines)


def _shape(message: str) -> str:
    """A message with its varying parts (numbers, quoted values) elided."""
    return re.sub(r"'[^']*'|\"[^\"]*\"|\d+", "…", message)


def _codes_of(response: httpx.Response) -> Iterable[tuple[str, str]]:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return []
    if not isinstance(body, dict) or not isinstance(body.get("errors"), list):
        return []
    return [
        (str((e.get("extensions") or {}).get("code")), str(e.get("message", "")))
        for e in body["errors"]
        if isinstance(e, dict) and isinstance(e.get("extensions") or {}, dict)
    ]


def exception_for(server_log: str, request_id: str | None) -> str | None:
    """The last line of the traceback the server logged for a request."""
    if not request_id:
        return None
    for line in server_log.splitlines():
        if request_id not in line:
            continue
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(entry, dict) and entry.get("exc"):
            return str(entry["exc"]).strip().splitlines()[-1][:300]
    return None
