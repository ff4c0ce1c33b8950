"""Query cost: a declared price per field, checked before anything executes.

`FIELD_COSTS` is plain data: "Type.field" -> (own cost, how many times its
selection is paid). Connections and `bySite` are paid `first` times (their
default page when absent); other lists by a declared bound; everything else
once. A field not in the map costs 1 if it returns an object, 0 if a scalar.
`tests/test_limits.py` checks that every list and connection field of the
schema is in the map, so a new or renamed one cannot escape pricing.

The summaries are priced so that a dashboard of the fleet and 100 groups
(a user's maximum) passes and 200 summaries do not (MAX_QUERY_COST 50,000).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_composite_type,
)
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
    "RegistrationPayload.userErrors": Cost(0, 10),
    "RequestPasswordResetPayload.userErrors": Cost(0, 10),
    "ResetPasswordPayload.userErrors": Cost(0, 10),
    "CustomGroupPayload.userErrors": Cost(0, 10),
    "DeleteCustomGroupPayload.userErrors": Cost(0, 10),
    "MemberPayload.userErrors": Cost(0, 10),
    "OnboardingDecisionPayload.userErrors": Cost(0, 10),
}


def _argument(node: FieldNode, name: str, variables: dict[str, Any]) -> Any:
    for argument in node.arguments or ():
        if argument.name.value != name:
            continue
        value = argument.value
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, VariableNode):
            return variables.get(value.name.value)
        return None
    return None


class _Pricer:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

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
        named = get_named_type(definition.type)
        price = FIELD_COSTS.get(f"{parent.name}.{name}")
        composite = is_composite_type(named)
        own = price.own if price is not None else (1 if composite else 0)
        times = 1
        if price is not None and price.times == FIRST:
            first = _argument(node, "first", self.variables)
            if not isinstance(first, int):
                argument = definition.args.get("first")
                default = argument.default_value if argument is not None else None
                first = default if isinstance(default, int) else DEFAULT_PAGE_SIZE
            times = max(int(first), 1)
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
    """The declared cost of the operation that would run."""
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
    pricer = _Pricer(schema, fragments, variables or {})
    return pricer.selection_cost(operation.selection_set, root)


class QueryCostLimiter(SchemaExtension):
    """Refuses, before execution, an operation whose declared cost is over the ceiling."""

    def __init__(self, max_cost: int) -> None:
        self.max_cost = max_cost

    def on_execute(self):  # type: ignore[no-untyped-def]
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.result is None:
            cost = query_cost(
                context.schema._schema, document, context.operation_name, context.variables
            )
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
