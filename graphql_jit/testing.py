"""Differential testing helpers: generated queries and result comparison.

``queries(schema)`` is a Hypothesis strategy of operations over any
graphql-core schema: nested selections, aliases, repeated (merged) fields,
inline fragments and named fragments, ``@skip``/``@include`` with literals and
variables, arguments as literals and as variables, abstract types through
their possible types. Arguments are drawn from their types (enums, built-in
scalars, input objects, lists); ``scalar_values`` gives the values of a scalar
by its name (built-in ones included, e.g. real ``ID``s); a field whose required
argument has a custom scalar type without values is left out.

``same_result(a, b)`` compares two execution results as a client would see
them: the JSON of ``data`` (so ``1``, ``1.0`` and ``True`` differ) and every
error's message, path, locations and extensions, in order.

Hypothesis is only imported by this module, which the executor never imports.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict, Unpack

from graphql import (
    GraphQLEnumType,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    is_leaf_type,
)
from hypothesis import strategies as st

__all__ = [
    "GeneratedQuery",
    "QueryOptions",
    "formatted_result",
    "generate_query",
    "queries",
    "same_result",
]

_BUILTIN_VALUES: dict[str, list[Any]] = {
    "Int": [0, 1, 2, 3, -1, 7],
    "Float": [0.0, 1.5, -2.25],
    "String": ["", "a", "b", "x y"],
    "Boolean": [True, False],
    "ID": ["1", "2", "3", "x"],
}


@dataclass
class GeneratedQuery:
    """A generated document and the variables that go with it."""

    text: str
    variables: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"GeneratedQuery(\n{self.text}\nvariables={self.variables!r})"


@dataclass
class _Builder:
    rng: random.Random
    schema: GraphQLSchema
    max_depth: int
    max_fields: int
    scalar_values: Mapping[str, Sequence[Any]]
    skip_fields: frozenset[str]
    omit_arguments: frozenset[str]
    variables: dict[str, tuple[str, Any]] = field(default_factory=dict)
    fragments: dict[str, str] = field(default_factory=dict)

    # -- values ------------------------------------------------------------------

    def _value_candidates(self, type_: GraphQLNamedType) -> list[Any] | None:
        if isinstance(type_, GraphQLEnumType):
            return list(type_.values)
        if isinstance(type_, GraphQLScalarType):
            values = self.scalar_values.get(type_.name)
            if values is not None:
                return list(values) or None
            return _BUILTIN_VALUES.get(type_.name)
        return None

    def can_generate(self, type_: GraphQLInputType, depth: int = 0) -> bool:
        if isinstance(type_, GraphQLNonNull):
            return self.can_generate(type_.of_type, depth)
        if isinstance(type_, GraphQLList):
            return self.can_generate(type_.of_type, depth)
        if isinstance(type_, GraphQLInputObjectType):
            if depth > 3:
                return False
            return all(
                self.can_generate(f.type, depth + 1)
                for f in type_.fields.values()
                if isinstance(f.type, GraphQLNonNull) and f.default_value is None
            )
        return self._value_candidates(type_) is not None

    def literal(self, type_: GraphQLInputType, depth: int = 0, nullable: bool = True) -> str:
        """A GraphQL literal of the given input type."""
        if isinstance(type_, GraphQLNonNull):
            return self.literal(type_.of_type, depth, nullable=False)
        if nullable and self.rng.randint(0, 9) == 0:
            return "null"
        if isinstance(type_, GraphQLList):
            count = self.rng.randint(0, 2)
            return "[" + ", ".join(self.literal(type_.of_type, depth) for _ in range(count)) + "]"
        if isinstance(type_, GraphQLInputObjectType):
            parts = []
            for name, input_field in type_.fields.items():
                required = isinstance(input_field.type, GraphQLNonNull)
                if (required or (self.rng.random() < 0.5)) and self.can_generate(
                    input_field.type, depth + 1
                ):
                    parts.append(f"{name}: {self.literal(input_field.type, depth + 1)}")
            return "{" + ", ".join(parts) + "}"
        candidates = self._value_candidates(type_)
        assert candidates is not None
        value = self.rng.choice(candidates)
        if isinstance(type_, GraphQLEnumType):
            return str(value)
        return json.dumps(value)

    def json_value(self, type_: GraphQLInputType, depth: int = 0, nullable: bool = True) -> Any:
        """A JSON variable value of the given input type."""
        if isinstance(type_, GraphQLNonNull):
            return self.json_value(type_.of_type, depth, nullable=False)
        if nullable and self.rng.randint(0, 9) == 0:
            return None
        if isinstance(type_, GraphQLList):
            count = self.rng.randint(0, 2)
            return [self.json_value(type_.of_type, depth) for _ in range(count)]
        if isinstance(type_, GraphQLInputObjectType):
            value = {}
            for name, input_field in type_.fields.items():
                required = isinstance(input_field.type, GraphQLNonNull)
                if (required or (self.rng.random() < 0.5)) and self.can_generate(
                    input_field.type, depth + 1
                ):
                    value[name] = self.json_value(input_field.type, depth + 1)
            return value
        candidates = self._value_candidates(type_)
        assert candidates is not None
        return self.rng.choice(candidates)

    def argument(self, type_: GraphQLInputType) -> str:
        if self.rng.randint(0, 3) == 0:
            name = f"v{len(self.variables)}"
            self.variables[name] = (str(type_), self.json_value(type_))
            return f"${name}"
        return self.literal(type_)

    def directives(self) -> str:
        choice = self.rng.randint(0, 11)
        if choice > 2:
            return ""
        directive = self.rng.choice(["skip", "include"])
        if choice == 0:
            name = f"v{len(self.variables)}"
            self.variables[name] = ("Boolean!", (self.rng.random() < 0.5))
            condition = f"${name}"
        else:
            condition = "true" if (self.rng.random() < 0.5) else "false"
        return f" @{directive}(if: {condition})"

    # -- selections ----------------------------------------------------------------

    def selection_set(self, type_: GraphQLNamedType, depth: int) -> str:
        if isinstance(type_, (GraphQLInterfaceType, GraphQLUnionType)):
            return self.abstract_selection(type_, depth)
        assert isinstance(type_, GraphQLObjectType)
        return "{ " + " ".join(self.object_selections(type_, depth)) + " }"

    def abstract_selection(self, type_: GraphQLInterfaceType | GraphQLUnionType, depth: int) -> str:
        used: dict[str, str] = {}
        parts = ["__typename"] if (self.rng.random() < 0.5) else []
        if parts:
            used["__typename"] = "__typename"
        if isinstance(type_, GraphQLInterfaceType) and (self.rng.random() < 0.5):
            parts.extend(self.fields_of(type_, depth, used, minimum=1))
        possible = list(self.schema.get_possible_types(type_))
        chosen = self.rng.sample(possible, self.rng.randint(0, min(3, len(possible))))
        for object_type in chosen:
            inner = " ".join(self.object_selections(object_type, depth, used))
            parts.append(f"... on {object_type.name}{self.directives()} {{ {inner} }}")
        if not parts:
            parts.append("__typename")
        return "{ " + " ".join(parts) + " }"

    def object_selections(
        self, type_: GraphQLObjectType, depth: int, used: dict[str, str] | None = None
    ) -> list[str]:
        # Response keys are shared by the fields, fragments and inline fragments
        # of one selection set: a key is reused only by the same argument-free
        # leaf field, which always merges.
        used = {} if used is None else used
        parts = self.fields_of(type_, depth, used, minimum=1)
        wrap = self.rng.randint(0, 5)
        if wrap == 0:
            name = f"F{len(self.fragments)}"
            self.fragments[name] = ""  # reserve the name before nested fragments
            body = " ".join(self.fields_of(type_, depth, used, minimum=1))
            self.fragments[name] = f"fragment {name} on {type_.name} {{ {body} }}"
            parts.append(f"...{name}{self.directives()}")
        elif wrap == 1:
            body = " ".join(self.fields_of(type_, depth, used, minimum=1))
            condition = f" on {type_.name}" if (self.rng.random() < 0.5) else ""
            parts.append(f"...{condition}{self.directives()} {{ {body} }}")
        return parts

    def fields_of(
        self,
        type_: GraphQLObjectType | GraphQLInterfaceType,
        depth: int,
        used: dict[str, str],
        minimum: int = 0,
    ) -> list[str]:
        candidates = []
        for name, field_def in type_.fields.items():
            if f"{type_.name}.{name}" in self.skip_fields:
                continue
            named = _named(field_def.type)
            if depth >= self.max_depth and not is_leaf_type(named):
                continue
            if any(
                isinstance(arg.type, GraphQLNonNull)
                and arg.default_value is None
                and not self.can_generate(arg.type)
                for arg in field_def.args.values()
            ):
                continue
            candidates.append(name)
        candidates.append("__typename")
        chosen = [
            self.rng.choice(candidates) for _ in range(self.rng.randint(minimum, self.max_fields))
        ]
        parts = []
        for name in chosen:
            mergeable = name == "__typename" or (
                not type_.fields[name].args and is_leaf_type(_named(type_.fields[name].type))
            )
            alias = ""
            key = name
            if self.rng.randint(0, 3) == 0:
                key = self.rng.choice(["a", "b", "c", "d", "e"])
                alias = f"{key}: "
            if key in used and not (mergeable and used[key] == name):
                continue
            used[key] = name if mergeable else ""
            if name == "__typename":
                parts.append(f"{alias}__typename{self.directives()}")
                continue
            field_def = type_.fields[name]
            args = []
            for arg_name, arg in field_def.args.items():
                required = isinstance(arg.type, GraphQLNonNull) and arg.default_value is None
                if not required and arg_name in self.omit_arguments:
                    continue
                if (required or (self.rng.random() < 0.5)) and self.can_generate(arg.type):
                    args.append(f"{arg_name}: {self.argument(arg.type)}")
            text = f"{alias}{name}"
            if args:
                text += "(" + ", ".join(args) + ")"
            text += self.directives()
            named = _named(field_def.type)
            if not is_leaf_type(named):
                text += " " + self.selection_set(named, depth + 1)
            parts.append(text)
        return parts


def _named(type_: Any) -> GraphQLNamedType:
    while isinstance(type_, (GraphQLNonNull, GraphQLList)):
        type_ = type_.of_type
    return type_


def generate_query(
    rng: random.Random,
    schema: GraphQLSchema,
    *,
    max_depth: int = 4,
    max_fields: int = 5,
    scalar_values: Mapping[str, Sequence[Any]] | None = None,
    skip_fields: Sequence[str] = (),
    omit_arguments: Sequence[str] = (),
) -> GeneratedQuery:
    """One operation over ``schema``, drawn with ``rng``.

    ``skip_fields`` ("Type.field") are never selected; optional arguments named
    in ``omit_arguments`` are never given.
    """
    builder = _Builder(
        rng,
        schema,
        max_depth,
        max_fields,
        scalar_values or {},
        frozenset(skip_fields),
        frozenset(omit_arguments),
    )
    query_type = schema.query_type
    assert query_type is not None
    selections = builder.selection_set(query_type, 1)
    header = "query Q"
    if builder.variables:
        declared = ", ".join(f"${name}: {type_}" for name, (type_, _) in builder.variables.items())
        header += f"({declared})"
    text = "\n".join([f"{header} {selections}", *builder.fragments.values()])
    variables = {name: value for name, (_, value) in builder.variables.items()}
    return GeneratedQuery(text, variables)


class QueryOptions(TypedDict, total=False):
    """The keyword arguments of ``generate_query``, for ``queries``."""

    max_depth: int
    max_fields: int
    scalar_values: Mapping[str, Sequence[Any]] | None
    skip_fields: Sequence[str]
    omit_arguments: Sequence[str]


def queries(
    schema: GraphQLSchema, **options: Unpack[QueryOptions]
) -> st.SearchStrategy[GeneratedQuery]:
    """Operations over ``schema`` (see the module docstring), drawn by
    ``generate_query`` with ``options``.

    Hypothesis draws the seed of a ``random.Random`` that builds the query:
    far fewer draws per example (a query takes hundreds of decisions), at the
    price of coarser shrinking; a failure still prints the whole query.
    """
    return st.builds(
        lambda rng: generate_query(rng, schema, **options), st.randoms(use_true_random=True)
    )


def formatted_result(data: Any, errors: Sequence[GraphQLError] | None) -> str:
    """The result as a client would read it: JSON, keys in response order."""
    return json.dumps(
        {"data": data, "errors": [error.formatted for error in errors or ()]},
        default=repr,
    )


def same_result(first: Any, second: Any) -> bool:
    """Whether two execution results are the same for a client."""
    return formatted_result(first.data, first.errors) == formatted_result(
        second.data, second.errors
    )
