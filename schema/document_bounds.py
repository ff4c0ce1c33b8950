"""Bounds on a document, checked before validation runs.

Parsing and validation are pure Python and cost a few microseconds per token
and per field; validation also has super-linear parts (the field-merging rule
compares every pair of fields sharing a response name: 1,000 repeats of
`viewer { id }`, 11 kB, took seconds). So that no document costs more than a
small linear function of a bounded size, every request gets, in this order:

1. a token ceiling for the parser (lower without a session);
2. ceilings on aliases, field selections and depth, measured in one pass over
   the document with every fragment expanded where it is spread (repeats
   included). Each fragment is measured once and its measure reused at every
   spread, so fragments spreading fragments cannot make the measuring itself
   exponential; a spread that closes a cycle counts nothing (validation
   reports the cycle). Refused with TOO_MANY_ALIASES / QUERY_TOO_COMPLEX /
   QUERY_TOO_DEEP before any validation rule runs;
3. a budget for the field-merging rule (graphql-core meters its comparisons;
   its own default, 500,000, is about a second of CPU): past it, validation
   stops with QUERY_TOO_COMPLEX.

The query cost (schema/cost.py) is the one other walk: it needs the field
types that validation vouches for and the request's variables.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.validation import OverlappingFieldsCanBeMergedRule, ValidationContext
from graphql.validation.validate import ValidationAbortedError
from strawberry.extensions import SchemaExtension

from resolvers.errors import PublicError

# Counts stop growing here: enough to compare with any ceiling, small ints.
_SATURATED = 10**9


@dataclass(frozen=True)
class DocumentBoundsLimits:
    """Ceilings for one kind of requester (signed in, or not)."""

    max_tokens: int
    max_selections: int
    max_aliases: int
    max_depth: int


@dataclass(frozen=True)
class DocumentMeasure:
    """Field selections and aliases of a document's operations and the depth of
    each operation (by name, "anonymous" without one), fragments expanded."""

    selections: int
    aliases: int
    depths: tuple[tuple[str, int], ...]


@dataclass
class _Shape:
    """What one definition selects itself (its own depth too), and the fragments it
    spreads, each with the depth it is spread at (``None``: inside an introspection
    field, whose depth does not count)."""

    fields: int
    aliases: int
    depth: int
    spreads: list[tuple[str, int | None]]


def _shape(selection_set: SelectionSetNode) -> _Shape:
    fields = aliases = deepest = 0
    spreads: list[tuple[str, int | None]] = []
    stack: list[tuple[SelectionSetNode, int | None]] = [(selection_set, 0)]
    while stack:  # no recursion: the parser allows deep nesting
        selections, depth = stack.pop()
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                fields += 1
                aliases += selection.alias is not None
                if selection.selection_set is not None:
                    # Depth as Strawberry's QueryDepthLimiter counts it: fields
                    # with selections, introspection fields and theirs left out.
                    inner = None
                    if depth is not None and not selection.name.value.startswith("__"):
                        inner = depth + 1
                        deepest = max(deepest, inner)
                    stack.append((selection.selection_set, inner))
            elif isinstance(selection, InlineFragmentNode):
                stack.append((selection.selection_set, depth))
            elif isinstance(selection, FragmentSpreadNode):
                spreads.append((selection.name.value, depth))
    return _Shape(fields, aliases, deepest, spreads)


def measure(document: DocumentNode) -> DocumentMeasure:
    """Field selections, aliases and depths of every operation, each fragment
    counted at each of its spreads; linear in the size of the document."""
    shapes = {
        d.name.value: _shape(d.selection_set)
        for d in document.definitions
        if isinstance(d, FragmentDefinitionNode)
    }
    totals: dict[str, tuple[int, int, int]] = {}
    # Depth-first over the spread graph without recursion, each fragment's
    # total made after those it spreads; a spread back onto the path is a
    # cycle and adds nothing.
    for root in shapes:
        if root in totals:
            continue
        path: list[tuple[str, Iterator[tuple[str, int | None]]]] = [
            (root, iter(shapes[root].spreads))
        ]
        on_path = {root}
        while path:
            name, spreads = path[-1]
            for spread, _ in spreads:
                if spread in shapes and spread not in totals and spread not in on_path:
                    path.append((spread, iter(shapes[spread].spreads)))
                    on_path.add(spread)
                    break
            else:
                path.pop()
                on_path.discard(name)
                totals[name] = _expanded(shapes[name], totals)
    selections = aliases = 0
    depths: list[tuple[str, int]] = []
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            fields, named, depth = _expanded(_shape(definition.selection_set), totals)
            selections = min(selections + fields, _SATURATED)
            aliases = min(aliases + named, _SATURATED)
            depths.append((definition.name.value if definition.name else "anonymous", depth))
    return DocumentMeasure(selections, aliases, tuple(depths))


def _expanded(shape: _Shape, totals: dict[str, tuple[int, int, int]]) -> tuple[int, int, int]:
    fields, aliases, depth = shape.fields, shape.aliases, shape.depth
    for spread, spread_at in shape.spreads:
        inner = totals.get(spread)  # unknown, or closing a cycle: nothing
        if inner is not None:
            fields = min(fields + inner[0], _SATURATED)
            aliases = min(aliases + inner[1], _SATURATED)
            if spread_at is not None:
                depth = min(max(depth, spread_at + inner[2]), _SATURATED)
    return fields, aliases, depth


class ValidationWorkExceeded(ValidationAbortedError):
    """The field-merging rule spent its budget (graphql-core then stops validating)."""

    def __init__(self) -> None:
        super().__init__(
            "This document takes too much work to validate (many fields with the same "
            "name or fragments compared with each other): remove repeated selections.",
            extensions={"code": "QUERY_TOO_COMPLEX"},
        )


def field_merging_rule(budget: int) -> type[OverlappingFieldsCanBeMergedRule]:
    """graphql-core's field-merging rule with a comparison budget of `budget`.

    Made once per schema: cached validations are keyed by the rule classes.
    """

    class BudgetedFieldMerging(OverlappingFieldsCanBeMergedRule):
        work_budget: ClassVar[int] = budget

        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.rule_context.remaining_complexity_budget = self.work_budget

        def enter_selection_set(self, *args: Any) -> None:
            try:
                super().enter_selection_set(*args)
            except ValidationAbortedError:
                raise ValidationWorkExceeded() from None

    BudgetedFieldMerging.__name__ = OverlappingFieldsCanBeMergedRule.__name__
    return BudgetedFieldMerging


class DocumentBounds(SchemaExtension):
    """Token ceiling before parsing, alias, selection and depth ceilings before
    validation, and the budgeted field-merging rule in place of graphql-core's.

    Register it before any extension that validates (CachedDocuments): hooks
    are entered in the order of the schema's extension list.
    """

    def __init__(
        self,
        signed_in: DocumentBoundsLimits,
        anonymous: DocumentBoundsLimits,
        field_merging: type[OverlappingFieldsCanBeMergedRule],
    ) -> None:
        self.signed_in = signed_in
        self.anonymous = anonymous
        self.field_merging = field_merging

    def _limits(self) -> tuple[DocumentBoundsLimits, bool]:
        viewer = getattr(self.execution_context.context, "viewer", None)
        if viewer is None:
            return self.anonymous, True
        return self.signed_in, False

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        limits, _ = self._limits()
        context.parse_options["max_tokens"] = limits.max_tokens
        context.validation_rules = tuple(
            self.field_merging if rule is OverlappingFieldsCanBeMergedRule else rule
            for rule in context.validation_rules
        )
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.pre_execution_errors is None:
            errors = self._refusals(measure(document))
            if errors:
                context.pre_execution_errors = errors
        yield

    def _refusals(self, measured: DocumentMeasure) -> list[GraphQLError]:
        limits, anonymous = self._limits()
        if measured.aliases > limits.max_aliases:
            # Strawberry's MaxAliasesLimiter wording, counted the same way.
            return [
                PublicError(
                    f"{measured.aliases} aliases found. Allowed: {limits.max_aliases}",
                    "TOO_MANY_ALIASES",
                )
            ]
        if measured.selections > limits.max_selections:
            who = " without a session" if anonymous else ""
            return [
                PublicError(
                    f"This document selects {measured.selections} fields (fragments counted "
                    f"at each spread), over the limit of {limits.max_selections}{who}: "
                    "split it into smaller requests.",
                    "QUERY_TOO_COMPLEX",
                    selections=measured.selections,
                    maxSelections=limits.max_selections,
                )
            ]
        # Strawberry's QueryDepthLimiter wording, an error per operation too deep.
        return [
            PublicError(
                f"'{name}' exceeds maximum operation depth of {limits.max_depth}",
                "QUERY_TOO_DEEP",
            )
            for name, depth in measured.depths
            if depth > limits.max_depth
        ]
