"""The Summary tab: the whole visible fleet or one of the viewer's groups.

Every summary of a request goes through one `SummaryByView` batch, so a
dashboard of the fleet and 50 groups runs one statement for all of them.
"""

from __future__ import annotations

import logging

from db.pool import current_stats
from db.summary import SummaryRow, refresh_contract_buckets
from resolvers.context import Context
from resolvers.fleet_loaders import FLEET, SummaryByView
from resolvers.ids import decode_id_of
from resolvers.visibility import group_not_found, viewer_scope

logger = logging.getLogger("service360.summary")
CONTRACT_REFRESH = "contract-refresh"


async def load_summary(context: Context, group_id: str | None) -> SummaryRow:
    """The summary of a view; a group that is not the viewer's is NOT_FOUND."""
    scope = viewer_scope(context)
    key = FLEET
    if group_id is not None:
        pk = decode_id_of(group_id, "CustomGroup")
        if pk is None:
            raise group_not_found(context)
        key = pk
    row = await context.loaders.get(SummaryByView).load(key)
    if row is None:
        raise group_not_found(context)
    if row.stale_contracts:
        schedule_contract_refresh(context, scope.organization_id)
    return row


async def load_group_summary(context: Context, group_pk: int) -> SummaryRow:
    """The summary of a group already loaded as the viewer's own."""
    row = await context.loaders.get(SummaryByView).load(group_pk)
    if row is None:
        raise group_not_found(context)
    if row.stale_contracts:
        schedule_contract_refresh(context, viewer_scope(context).organization_id)
    return row


def schedule_contract_refresh(context: Context, organization_id: int) -> None:
    """Advance the roll-ups' contract day in the background, once per tenant at a time.

    Answers are exact either way (the summary corrects stale buckets); the
    refresh only keeps that correction small on the following days.
    """
    pool = context.pool

    async def refresh() -> None:
        current_stats.set(None)  # not the request's statements
        async with pool.acquire() as conn, conn.transaction():
            await refresh_contract_buckets(conn, organization_id)
        logger.info("contract buckets refreshed", extra={"organization_id": organization_id})

    context.resources.background.spawn(
        CONTRACT_REFRESH, refresh(), key=(CONTRACT_REFRESH, organization_id)
    )
