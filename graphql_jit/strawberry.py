"""Strawberry integration: the compiled executor and the document cache.

Strawberry resolves a field that has no resolver of its own (a "basic field")
with ``getattr(source, python_name)`` through a small wrapper marked
``_is_default``; the compiled executor reads those attributes directly.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLField
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

from graphql_jit.compiler import Reader, attribute_reader
from graphql_jit.executor import CompiledExecutionMixin, PlanCache

__all__ = [
    "EXECUTORS",
    "StrawberryCompiledExecutor",
    "execution_context_class",
    "strawberry_executor_class",
]

EXECUTORS = ("stock", "compiled")


class StrawberryCompiledExecutor(CompiledExecutionMixin, StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor (its ``info``, operation extensions) with plans."""

    def attribute_reader(
        self, field_name: str, field_def: GraphQLField
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
        return super().attribute_reader(field_name, field_def)


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
