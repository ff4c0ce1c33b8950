"""Query cost: a declared price per field, checked before anything executes.

`FIELD_COSTS` is plain data: "Type.field" -> (own cost, how many times its
selection is paid). Connections and `bySite` are paid `first` times (their
default page when absent); other lists by a declared bound; everything else
once. A field not in the map costs 1 if it returns an object, 0 if a scalar.
`tests/test_limits.py` checks that every list and connection field of the
schema is in the map, so a new or renamed one cannot escape pricing.

The summaries are priced so that a dashboard of the fleet and 100 groups
(a user's maximum) passes and 200 summaries do not (MAX_QUERY_COST 50,000).

Arguments are read as execution will read them: variables coerced (a float
`100.0` for an Int is 100) with their defaults, then the field's own
defaults. The same walk caps the length of every list argument, however deep
in an input object (`LIST_LIMITS`, else `DEFAULT_MAX_LIST_ITEMS`), so that a
50,000-id `siteIds` is refused before any resolver runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    is_composite_type,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from strawberry.extensions import SchemaExtension

from resolvers.errors import PublicError
from resolvers.pagination import DEFAULT_PAGE_SIZE

FIRST = "first"  # multiplier: the field's `first` argument


@dataclass(frozen=True)
class Cost:
    own: int = 1
    times: int | str = 1  # a fixed bound, or FIRST


SUMMARY = 300

FIELD_COSTS: dict[str, Cost] = {
    # -- root lists and connections
    "Query.summary": Cost(SUMMARY),
    "Query.products": Cost(1, FIRST),
    "Query.sites": Cost(1, FIRST),
    "Query.customGroups": Cost(1, FIRST),
    "Query.onboardingRequests": Cost(1, FIRST),
    "Query.productFamilies": Cost(1, 50),
    # -- fleet
    "CustomGroup.summary": Cost(SUMMARY),
    "CustomGroup.products": Cost(1, FIRST),
    "CustomGroup.listedProducts": Cost(1, FIRST),
    "CustomGroup.families": Cost(1, 20),
    "CustomGroup.sites": Cost(2, 50),
    "Summary.byFamily": Cost(0, 20),
    "Summary.bySite": Cost(0, FIRST),
    "Site.productCount": Cost(1),
    "Product.openServiceRequestCount": Cost(1),
    # -- people and organizations
    "User.visibleSites": Cost(1, FIRST),
    "Organization.members": Cost(1, FIRST),
    "Organization.sites": Cost(1, FIRST),
    "Organization.domains": Cost(1, 20),
    "Registration.organizationChoices": Cost(1, 20),
    "Registration.partnerReferences": Cost(0, 10),
    # -- inside a connection: one per item, times the connection's `first`
    "ProductConnection.edges": Cost(1),
    "ProductConnection.nodes": Cost(1),
    "SiteConnection.edges": Cost(1),
    "SiteConnection.nodes": Cost(1),
    "UserConnection.edges": Cost(1),
    "UserConnection.nodes": Cost(1),
    "CustomGroupConnection.edges": Cost(1),
    "CustomGroupConnection.nodes": Cost(1),
    "OnboardingRequestConnection.edges": Cost(1),
    "OnboardingRequestConnection.nodes": Cost(1),
    "ProductConnection.totalCount": Cost(5),
    "SiteConnection.totalCount": Cost(2),
    "UserConnection.totalCount": Cost(2),
    "CustomGroupConnection.totalCount": Cost(1),
    "OnboardingRequestConnection.totalCount": Cost(2),
    # -- userErrors: a handful at most, scalars inside
    "UserError.field": Cost(0, 10),
    "CreateAccountPayload.userErrors": Cost(0, 10),
    "ResendVerificationCodePayload.userErrors": Cost(0, 10),
    "VerifyEmailPayload.userErrors": Cost(0, 10),
    "SignInPayload.userErrors": Cost(0, 10),
    "SignOutPayload.userErrors": Cost(0, 10),
    "SignOutEverywherePayload.userErrors": Cost(0, 10),
    "RegistrationPayload.userErrors": Cost(0, 10),
    "RequestPasswordResetPayload.userErrors": Cost(0, 10),
    "ResetPasswordPayload.userErrors": Cost(0, 10),
    "CustomGroupPayload.userErrors": Cost(0, 10),
    "DeleteCustomGroupPayload.userErrors": Cost(0, 10),
    "MemberPayload.userErrors": Cost(0, 10),
    "OrganizationPayload.userErrors": Cost(0, 10),
    "OnboardingDecisionPayload.userErrors": Cost(0, 10),
}


# Longest list accepted in an argument, by "InputType.field" or
# "Type.field(argument)"; every other list argument: DEFAULT_MAX_LIST_ITEMS.
DEFAULT_MAX_LIST_ITEMS = 100
LIST_LIMITS: dict[str, int] = {
    # Twice resolvers.groups.MAX_LISTED_PRODUCTS, which answers a userError below it.
    "CustomGroupInput.productIds": 20_000,
    "CustomGroupInput.siteIds": 1_000,
    "SiteAccessInput.siteIds": 1_000,
    "ProductFilter.siteIds": 1_000,
}


class ListTooLong(PublicError):
    def __init__(self, path: str, length: int, limit: int) -> None:
        super().__init__(
            f"`{path}` has {length} items; at most {limit} are accepted.",
            "BAD_USER_INPUT",
            argument=path,
            maxItems=limit,
        )


class _ListLimits:
    """Checks list lengths in arguments as written (literals, variables as sent,
    variable defaults): coercion keeps a list's length."""

    def __init__(self, raw: Mapping[str, Any], defaults: Mapping[str, ValueNode]) -> None:
        self.raw = raw
        self.defaults = defaults

    def check_node(self, node: ValueNode, type_: GraphQLInputType, key: str, path: str) -> None:
        if isinstance(type_, GraphQLNonNull):
            type_ = type_.of_type
        if isinstance(node, VariableNode):
            name = node.name.value
            if name in self.raw:
                self.check_value(self.raw[name], type_, key, path)
            elif name in self.defaults:
                self.check_node(self.defaults[name], type_, key, path)
        elif isinstance(type_, GraphQLList):
            values = node.values if isinstance(node, ListValueNode) else (node,)
            self._limit(key, path, len(values))
            for item in values:
                self.check_node(item, type_.of_type, key, path)
        elif isinstance(type_, GraphQLInputObjectType) and isinstance(node, ObjectValueNode):
            for field in node.fields:
                name = field.name.value
                definition = type_.fields.get(name)
                if definition is not None:
                    self.check_node(
                        field.value, definition.type, f"{type_.name}.{name}", f"{path}.{name}"
                    )

    def check_value(self, value: Any, type_: GraphQLInputType, key: str, path: str) -> None:
        if isinstance(type_, GraphQLNonNull):
            type_ = type_.of_type
        if isinstance(type_, GraphQLList):
            values = value if isinstance(value, list) else [value]
            self._limit(key, path, len(values))
            for item in values:
                self.check_value(item, type_.of_type, key, path)
        elif isinstance(type_, GraphQLInputObjectType) and isinstance(value, dict):
            for name, item in value.items():
                definition = type_.fields.get(name)
                if definition is not None:
                    self.check_value(
                        item, definition.type, f"{type_.name}.{name}", f"{path}.{name}"
                    )

    @staticmethod
    def _limit(key: str, path: str, length: int) -> None:
        limit = LIST_LIMITS.get(key, DEFAULT_MAX_LIST_ITEMS)
        if length > limit:
            raise ListTooLong(path, length, limit)


class _Pricer:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: VariableValues,
        lists: _ListLimits,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.lists = lists

    def first(self, node: FieldNode, definition: GraphQLField) -> int:
        """`first` as execution will see it: coerced, else the argument's default."""
        try:
            first = get_argument_values(definition, node, self.variables).get(FIRST)
        except GraphQLError:  # invalid: execution refuses it
            first = None
        return first if isinstance(first, int) else DEFAULT_PAGE_SIZE

    def check_lists(self, node: FieldNode, parent: str, definition: GraphQLField) -> None:
        for argument in node.arguments or ():
            name = argument.name.value
            spec = definition.args.get(name)
            if spec is not None:
                key = f"{parent}.{node.name.value}({name})"
                self.lists.check_node(argument.value, spec.type, key, f"{node.name.value}.{name}")

    def selection_cost(
        self,
        selection_set: SelectionSetNode | None,
        parent: GraphQLObjectType | GraphQLInterfaceType,
        seen_fragments: frozenset[str] = frozenset(),
    ) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field_cost(selection, parent, seen_fragments)
            elif isinstance(selection, InlineFragmentNode):
                condition = (
                    self.schema.get_type(selection.type_condition.name.value)
                    if selection.type_condition
                    else parent
                )
                if isinstance(condition, GraphQLObjectType | GraphQLInterfaceType):
                    total += self.selection_cost(selection.selection_set, condition, seen_fragments)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen_fragments:
                    continue
                condition = self.schema.get_type(fragment.type_condition.name.value)
                if isinstance(condition, GraphQLObjectType | GraphQLInterfaceType):
                    total += self.selection_cost(
                        fragment.selection_set, condition, seen_fragments | {name}
                    )
        return total

    def field_cost(
        self,
        node: FieldNode,
        parent: GraphQLObjectType | GraphQLInterfaceType,
        seen_fragments: frozenset[str],
    ) -> int:
        name = node.name.value
        definition = parent.fields.get(name)
        if definition is None or name.startswith("__"):
            return 0
        self.check_lists(node, parent.name, definition)
        named = get_named_type(definition.type)
        price = FIELD_COSTS.get(f"{parent.name}.{name}")
        composite = is_composite_type(named)
        own = price.own if price is not None else (1 if composite else 0)
        times = 1
        if price is not None and price.times == FIRST:
            times = max(self.first(node, definition), 1)
        elif price is not None and isinstance(price.times, int):
            times = price.times
        children = 0
        if composite and isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            children = self.selection_cost(node.selection_set, named, seen_fragments)
        elif composite:  # a union: price each member's fragments
            children = self.selection_cost(node.selection_set, parent, seen_fragments)
        return own + times * children


def query_cost(
    schema: GraphQLSchema,
    document: Any,
    operation_name: str | None,
    variables: dict[str, Any] | None,
) -> int:
    """The declared cost of the operation that would run.

    Raises `ListTooLong` when a list argument is over its limit.
    """
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1:
        return 0  # execution reports the missing or ambiguous operation
    operation = operations[0]
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    definitions = operation.variable_definitions or ()
    coerced = get_variable_values(schema, definitions, variables or {})
    if isinstance(coerced, list):
        return 0  # variables that do not coerce: execution refuses them
    defaults = {
        d.variable.name.value: d.default_value for d in definitions if d.default_value is not None
    }
    lists = _ListLimits(variables or {}, defaults)
    pricer = _Pricer(schema, fragments, coerced, lists)
    return pricer.selection_cost(operation.selection_set, root)


class QueryCostLimiter(SchemaExtension):
    """Refuses, before execution, an operation whose declared cost is over the ceiling."""

    def __init__(self, max_cost: int) -> None:
        self.max_cost = max_cost

    def on_execute(self):  # type: ignore[no-untyped-def]
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.result is None:
            try:
                cost = query_cost(
                    context.schema._schema, document, context.operation_name, context.variables
                )
            except ListTooLong as too_long:
                context.result = GraphQLExecutionResult(data=None, errors=[too_long])
                cost = 0
            if cost > self.max_cost:
                error: GraphQLError = PublicError(
                    f"This query costs {cost}, over the limit of {self.max_cost}: "
                    "ask for fewer items (smaller `first`) or fewer summaries per request.",
                    "QUERY_TOO_COSTLY",
                    cost=cost,
                    maxCost=self.max_cost,
                )
                context.result = GraphQLExecutionResult(data=None, errors=[error])
        yield
