"""A bounded LRU of parsed and validated documents, keyed by the hash of their text.

A repeated query (every dashboard refresh, every persisted query) skips parsing
and validation. An entry keeps:

* the parsed ``DocumentNode`` (the same object for every request, so the
  compiled executor's plans, which live as long as the document's operation
  nodes, are reused too);
* the validation errors, per (schema, rules): validation is a pure function of
  the document, the schema and the rules, so a cached answer is the answer;
* an analysis made once, on first use: lexical tokens, aliases, depth per
  operation and the cost inputs (every field with its arguments, fragments
  inlined), from which
  limits that depend on the request (``DocumentLimits``, a cost function over
  ``FieldUsage`` and the request's variables) are checked without walking the
  document again.

Syntax errors are not cached: the caller parses again and reports them.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    Node,
    OperationDefinitionNode,
    SelectionSetNode,
    TokenKind,
    VariableNode,
    parse,
    validate,
    value_from_ast_untyped,
)
from graphql.validation import ASTValidationRule

__all__ = [
    "CachedDocument",
    "DocumentAnalysis",
    "DocumentCache",
    "DocumentLimits",
    "FieldUsage",
    "OperationAnalysis",
    "Variable",
    "analyse",
    "check_limits",
    "document_key",
]


@dataclass(frozen=True, slots=True)
class Variable:
    """An argument given by a variable: its value is the request's."""

    name: str


@dataclass(frozen=True, slots=True)
class FieldUsage:
    """One field as written, for cost functions: fragments are inlined.

    ``on`` is the type the field was selected on (the parent field's type, or
    a fragment's type condition); ``arguments`` are literal values or
    ``Variable``s.
    """

    on: str
    name: str
    alias: str | None
    arguments: tuple[tuple[str, Any], ...]
    children: tuple[FieldUsage, ...]

    def argument(self, name: str, variables: Mapping[str, Any] | None = None) -> Any:
        for key, value in self.arguments:
            if key == name:
                if isinstance(value, Variable):
                    return (variables or {}).get(value.name)
                return value
        return None


@dataclass(frozen=True, slots=True)
class OperationAnalysis:
    name: str | None
    depth: int
    fields: tuple[FieldUsage, ...]


@dataclass(frozen=True, slots=True)
class DocumentAnalysis:
    tokens: int
    aliases: int
    operations: tuple[OperationAnalysis, ...]

    def operation(self, name: str | None) -> OperationAnalysis | None:
        """The operation that would run (``None`` if missing or ambiguous)."""
        if name is None:
            return self.operations[0] if len(self.operations) == 1 else None
        return next((op for op in self.operations if op.name == name), None)


@dataclass(slots=True)
class CachedDocument:
    key: str
    document: DocumentNode
    validations: dict[tuple[Any, ...], list[GraphQLError]] = field(default_factory=dict)
    _analysis: DocumentAnalysis | None = None

    @property
    def analysis(self) -> DocumentAnalysis:
        """Made when first asked for, not at parse time: inlining fragments is
        exponential in how deeply fragments spread fragments, so it must come
        after the caller's own bounds on the document (and validation)."""
        if self._analysis is None:
            self._analysis = analyse(self.document)
        return self._analysis

    def validate(
        self,
        schema: GraphQLSchema,
        rules: Sequence[type[ASTValidationRule]],
        validator: Callable[..., list[GraphQLError]] | None = None,
    ) -> list[GraphQLError]:
        """Validation errors of this document, computed once per (schema, rules).

        The key holds the schema and rule classes themselves (not their ids), so
        it cannot be confused with a later schema or rule. Returns a new list.
        """
        key = (schema, *rules)
        validations = self.validations
        errors = validations.get(key)
        if errors is None:
            if validator is None:
                errors = validate(schema, self.document, list(rules))
            else:
                errors = validator(schema, self.document, tuple(rules))
            # Rules made anew for every request (limiter extensions given as
            # factories) would never hit: keep a few keys per document only.
            while len(validations) >= _MAX_VALIDATIONS:
                del validations[next(iter(validations))]
            validations[key] = errors
        return list(errors)


_MAX_VALIDATIONS = 8


def document_key(source: str, parse_options: Mapping[str, Any] | None = None) -> str:
    """The cache key of a query text (and the options it is parsed with)."""
    digest = hashlib.blake2b(source.encode("utf-8", "surrogatepass"), digest_size=20)
    if parse_options:
        digest.update(repr(sorted(parse_options.items())).encode())
    return digest.hexdigest()


class DocumentCache:
    """Parsed, validated and analysed documents, least recently used evicted.

    ``max_entries`` bounds the number of documents; a text longer than
    ``max_source_length`` is parsed but not kept.
    """

    def __init__(self, max_entries: int = 1000, max_source_length: int = 100_000) -> None:
        self.max_entries = max_entries
        self.max_source_length = max_source_length
        self._entries: OrderedDict[str, CachedDocument] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, source: str, **parse_options: Any) -> CachedDocument:
        """The entry of ``source``, parsing and analysing it on a miss.

        Raises the parser's ``GraphQLError`` for a syntax error (not cached).
        """
        key = document_key(source, parse_options)
        entries = self._entries
        entry = entries.get(key)
        if entry is not None:
            entries.move_to_end(key)
            self.hits += 1
            return entry
        self.misses += 1
        document = parse(source, **parse_options)
        entry = CachedDocument(key, document)
        if len(source) <= self.max_source_length:
            entries[key] = entry
            while len(entries) > self.max_entries:
                entries.popitem(last=False)
        return entry

    def clear(self) -> None:
        self._entries.clear()


# -- analysis ------------------------------------------------------------------


def analyse(document: DocumentNode) -> DocumentAnalysis:
    """Tokens, aliases, depth per operation and cost inputs of a document."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations = tuple(
        OperationAnalysis(
            definition.name.value if definition.name else None,
            _depth(definition, fragments, frozenset()),
            _usages(definition.selection_set, _root_name(definition), fragments, frozenset()),
        )
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
    )
    aliases = sum(
        _aliases(definition.selection_set, fragments, frozenset())
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
    )
    return DocumentAnalysis(_tokens(document), aliases, operations)


def _root_name(operation: OperationDefinitionNode) -> str:
    return operation.operation.value.capitalize()


def _tokens(document: DocumentNode) -> int:
    """Tokens as the parser counts them for ``max_tokens`` (comments included)."""
    loc = document.loc
    if loc is None:
        return 0
    count = 0
    token = loc.start_token.next
    while token is not None and token.kind is not TokenKind.EOF:
        count += 1
        token = token.next
    return count


def _depth(
    node: Node, fragments: Mapping[str, FragmentDefinitionNode], seen: frozenset[str]
) -> int:
    """Nesting of fields with selections, as Strawberry's QueryDepthLimiter counts it
    (introspection fields do not count)."""
    if isinstance(node, FieldNode):
        if node.name.value.startswith("__") or not node.selection_set:
            return 0
        return 1 + max(
            (_depth(s, fragments, seen) for s in node.selection_set.selections), default=0
        )
    if isinstance(node, FragmentSpreadNode):
        name = node.name.value
        fragment = fragments.get(name)
        if fragment is None or name in seen:
            return 0
        return _depth(fragment, fragments, seen | {name})
    selection_set = getattr(node, "selection_set", None)
    if selection_set is None:
        return 0
    return max((_depth(s, fragments, seen) for s in selection_set.selections), default=0)


def _aliases(
    selection_set: SelectionSetNode | None,
    fragments: Mapping[str, FragmentDefinitionNode],
    seen: frozenset[str],
) -> int:
    """Aliases as Strawberry's MaxAliasesLimiter counts them (fragments per spread)."""
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            total += 1 if selection.alias else 0
            total += _aliases(selection.selection_set, fragments, seen)
        elif isinstance(selection, InlineFragmentNode):
            total += _aliases(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in seen:
                total += _aliases(fragment.selection_set, fragments, seen | {name})
    return total


def _usages(
    selection_set: SelectionSetNode | None,
    on: str,
    fragments: Mapping[str, FragmentDefinitionNode],
    seen: frozenset[str],
) -> tuple[FieldUsage, ...]:
    if selection_set is None:
        return ()
    usages: list[FieldUsage] = []
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            arguments = tuple(
                (
                    argument.name.value,
                    Variable(argument.value.name.value)
                    if isinstance(argument.value, VariableNode)
                    else _literal(argument.value),
                )
                for argument in selection.arguments or ()
            )
            usages.append(
                FieldUsage(
                    on,
                    selection.name.value,
                    selection.alias.value if selection.alias else None,
                    arguments,
                    _usages(selection.selection_set, "", fragments, seen),
                )
            )
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition.name.value if selection.type_condition else on
            usages.extend(_usages(selection.selection_set, condition, fragments, seen))
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in seen:
                usages.extend(
                    _usages(
                        fragment.selection_set,
                        fragment.type_condition.name.value,
                        fragments,
                        seen | {name},
                    )
                )
    return tuple(usages)


def _literal(value: Any) -> Any:
    """A literal argument as a Python value; lists and objects with variables inside
    keep ``Variable`` markers."""
    try:
        return value_from_ast_untyped(value, None)
    except Exception:  # an invalid literal: validation reports it
        return None


# -- limits ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    """Limits checked per request from a cached analysis (``None``: no limit).

    Messages are those of Strawberry's QueryDepthLimiter, MaxAliasesLimiter and
    of graphql-core's parser (``max_tokens``).
    """

    max_depth: int | None = None
    max_aliases: int | None = None
    max_tokens: int | None = None


def check_limits(entry: CachedDocument, limits: DocumentLimits) -> list[GraphQLError]:
    analysis = entry.analysis
    errors: list[GraphQLError] = []
    if limits.max_tokens is not None and analysis.tokens > limits.max_tokens:
        errors.append(
            GraphQLError(
                f"Syntax Error: Document contains more than {limits.max_tokens} tokens."
                " Parsing aborted."
            )
        )
    if limits.max_aliases is not None and analysis.aliases > limits.max_aliases:
        errors.append(
            GraphQLError(f"{analysis.aliases} aliases found. Allowed: {limits.max_aliases}")
        )
    if limits.max_depth is not None:
        for operation in analysis.operations:
            if operation.depth > limits.max_depth:
                name = operation.name or "anonymous"
                errors.append(
                    GraphQLError(f"'{name}' exceeds maximum operation depth of {limits.max_depth}")
                )
    return errors
