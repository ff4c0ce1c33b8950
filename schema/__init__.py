"""The Schema: one Query and one Mutation composed from the domains, plus limits.

Domains (`catalog`, `accounts`, `fleet`) each give a Query mixin, a Mutation
mixin and the node loaders of their types; this module only assembles them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import strawberry
from strawberry.extensions import AddValidationRules, DisableIntrospection
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from config import Settings
from graphql_jit.document_cache import DocumentCache
from graphql_jit.strawberry import CachedDocuments, execution_context_class
from schema import accounts, catalog, fleet
from schema.cost import QueryCostLimiter
from schema.credential_mutations import OneCredentialMutation
from schema.document_bounds import DocumentBounds, DocumentBoundsLimits, field_merging_rule
from schema.extensions import LogClientErrors, MaskUnexpectedErrors, RequestErrorCodes, Schema
from schema.input_guard import RefuseControlCharacters
from schema.node import build_node_query
from schema.read_routing import ReadRouting
from schema.read_snapshot import OneSnapshotPerQuery
from schema.subscriptions import Subscription
from schema.suggestions import executor_without_suggestions, validator
from schema.websocket_operations import SubscriptionsOnlyOverWebSocket

NODE_LOADERS = {**catalog.NODE_LOADERS, **accounts.NODE_LOADERS, **fleet.NODE_LOADERS}
NodeQuery = build_node_query(NODE_LOADERS)


@strawberry.type
class Query(NodeQuery, catalog.CatalogQuery, accounts.AccountsQuery, fleet.FleetQuery):  # type: ignore[misc,valid-type]
    pass


@strawberry.type
class Mutation(accounts.AccountsMutation, fleet.FleetMutation):
    pass


def build_schema(settings: Settings) -> strawberry.Schema:
    documents = DocumentCache(max_entries=1000)
    signed_in = DocumentBoundsLimits(
        max_tokens=settings.max_tokens,
        max_selections=settings.max_field_selections,
        max_aliases=settings.max_aliases,
        max_depth=settings.max_query_depth,
    )
    anonymous = replace(
        signed_in,
        max_tokens=min(settings.anonymous_max_tokens, settings.max_tokens),
        max_selections=min(settings.anonymous_max_field_selections, settings.max_field_selections),
    )
    field_merging = field_merging_rule(settings.max_validation_work)
    # Factories where an extension reads the request after its first hook:
    # Strawberry hands a shared instance each request's execution context, so
    # it could read another concurrent request's.
    extensions: list[Any] = [
        # Before CachedDocuments, which validates: the bounds come first.
        lambda: DocumentBounds(signed_in, anonymous, field_merging),
        RefuseControlCharacters,
        SubscriptionsOnlyOverWebSocket,
        lambda: CachedDocuments(documents, validator=validator(settings.suggestions_enabled)),
        # An instance: no request state, and its rule class keys the cache.
        AddValidationRules([OneCredentialMutation]),
        lambda: QueryCostLimiter(max_cost=settings.max_query_cost),
        ReadRouting,
        # Their results are read in the reverse order: masked, coded, logged.
        LogClientErrors,
        RequestErrorCodes,
        MaskUnexpectedErrors,
        # After ReadRouting: the snapshot is taken on the pool it chose.
        OneSnapshotPerQuery,
    ]
    if not settings.introspection_enabled:
        # An instance, like the rules above: it only adds its rule class.
        extensions.append(DisableIntrospection())
    executor = (
        execution_context_class(settings.graphql_executor) or StrawberryGraphQLCoreExecutionContext
    )
    if not settings.suggestions_enabled:
        executor = executor_without_suggestions(executor)
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=not settings.suggestions_enabled),
        execution_context_class=executor,
    )
