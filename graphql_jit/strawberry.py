"""Strawberry integration: the compiled executor and the document cache.

Strawberry resolves a field that has no resolver of its own (a "basic field")
with ``getattr(source, python_name)`` through a small wrapper marked
``_is_default``; the compiled executor reads those attributes directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from graphql import GraphQLError, GraphQLField
from strawberry.execution import optimized_is_awaitable
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext, validate_document
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

from graphql_jit.compiler import Reader, attribute_reader
from graphql_jit.document_cache import CachedDocument, DocumentCache
from graphql_jit.executor import CompiledExecutionMixin, PlanCache

__all__ = [
    "EXECUTORS",
    "CachedDocuments",
    "StrawberryCompiledExecutor",
    "execution_context_class",
    "strawberry_executor_class",
]

EXECUTORS = ("stock", "compiled")
_CONVERTER_MODULE = GraphQLCoreConverter.__module__


class StrawberryCompiledExecutor(CompiledExecutionMixin, StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor (its ``info``, operation extensions) with plans."""

    known_awaitable_predicates = (
        *CompiledExecutionMixin.known_awaitable_predicates,
        optimized_is_awaitable,
    )

    @classmethod
    def is_type_of_check(cls, is_type_of: Callable[..., Any]) -> Callable[[Any, Any], Any] | None:
        # Strawberry's own ``is_type_of`` (types implementing interfaces) ignores
        # ``info``: it reads the value's ``strawberry.cast`` and checks its class.
        if getattr(is_type_of, "__module__", None) == _CONVERTER_MODULE and getattr(
            is_type_of, "__qualname__", ""
        ).endswith("_get_is_type_of.<locals>.is_type_of"):
            return is_type_of
        return None

    @classmethod
    def attribute_reader(
        cls, field_name: str, field_def: GraphQLField, field_resolver: Any
    ) -> tuple[Reader, bool] | None:
        resolve = field_def.resolve
        if resolve is not None and getattr(resolve, "_is_default", False):
            field = (field_def.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if (
                isinstance(field, StrawberryField)
                and field.is_basic_field
                and type(field).get_result is StrawberryField.get_result
                and field.default_resolver is getattr
            ):
                # Same as ``field.get_result(source, None, [], {})``.
                return attribute_reader(field.python_name), False
            return None
        return super().attribute_reader(field_name, field_def, field_resolver)


def strawberry_executor_class(plan_cache: PlanCache | None = None) -> type[Any]:
    """A compiled Strawberry executor class with its own plan cache."""
    return type(
        "StrawberryCompiledExecutor",
        (StrawberryCompiledExecutor,),
        {"plan_cache": plan_cache if plan_cache is not None else PlanCache()},
    )


def execution_context_class(executor: str, plan_cache: PlanCache | None = None) -> type[Any] | None:
    """What to pass as ``strawberry.Schema(execution_context_class=...)``.

    ``"stock"``: ``None`` (Strawberry's own executor); ``"compiled"``: a compiled
    executor class with its own plan cache.
    """
    if executor == "stock":
        return None
    if executor == "compiled":
        return strawberry_executor_class(plan_cache)
    raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")


class CachedDocuments(SchemaExtension):
    """Parse and validation caching through Strawberry's ``on_parse``/``on_validate``.

    Give it as a factory sharing one ``DocumentCache``::

        cache = DocumentCache(max_entries=1000)
        strawberry.Schema(..., extensions=[lambda: CachedDocuments(cache), ...])

    ``on_parse`` puts the cached document on the execution context (Strawberry
    then skips parsing); ``on_validate`` puts the cached validation errors for
    the request's schema and rules (Strawberry then skips validation). Rules
    added by other extensions (``QueryDepthLimiter``, ``MaxAliasesLimiter``,
    ...) are part of the key, so they still apply, and ``parse_options`` (for
    instance ``max_tokens`` from ``MaxTokensLimiter``) are part of the text's
    key. A syntax error is left to Strawberry, which parses again and reports it.
    """

    def __init__(
        self,
        cache: DocumentCache,
        validator: Callable[..., list[GraphQLError]] = validate_document,
    ) -> None:
        self.cache = cache
        # Strawberry's `validate_document` by default; another one may, for
        # instance, ask graphql-core to hide suggestions.
        self.validator = validator

    def _entry(self) -> CachedDocument | None:
        context = self.execution_context
        if not context.query:
            return None
        try:
            return self.cache.get(context.query, **context.parse_options)
        except GraphQLError:
            return None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None:
            entry = self._entry()
            if entry is not None:
                context.graphql_document = entry.document
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.pre_execution_errors is None and context.validation_rules:
            entry = self._entry()
            if entry is not None and entry.document is context.graphql_document:
                context.pre_execution_errors = entry.validate(
                    context.schema._schema, context.validation_rules, self.validator
                )
        yield
