"""A bounded LRU of parsed and validated documents, keyed by the hash of their text.

A repeated query (every dashboard refresh, every persisted query) skips parsing
and validation. An entry keeps:

* the parsed ``DocumentNode`` (the same object for every request, so the
  compiled executor's plans, which live as long as the document's operation
  nodes, are reused too);
* the validation errors, per (schema, rules): validation is a pure function of
  the document, the schema and the rules, so a cached answer is the answer.

Limits on a document's size or shape (tokens, depth, aliases, cost) are the
caller's: they depend on the request (who asks, with which variables), so they
are checked per request, not kept here.

Syntax errors are not cached: the caller parses again and reports them.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphql import DocumentNode, GraphQLError, GraphQLSchema, parse, validate
from graphql.validation import ASTValidationRule

__all__ = ["CachedDocument", "DocumentCache", "document_key"]


@dataclass(slots=True)
class CachedDocument:
    key: str
    document: DocumentNode
    validations: dict[tuple[Any, ...], list[GraphQLError]] = field(default_factory=dict)

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
    """Parsed and validated documents, least recently used evicted.

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
        """The entry of ``source``, parsing it on a miss.

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
