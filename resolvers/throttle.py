"""Throttling of sign-in, code and reset mutations, per address and per client.

The counters live in PostgreSQL (`db.throttle`), so every worker and host
shares them. A hit is counted in its own statement, outside the mutation's
transaction: a failed attempt must count even though the mutation's own
changes roll back.
"""

from __future__ import annotations

from db.throttle import hit_buckets
from resolvers.context import Context
from resolvers.errors import ErrorCode
from resolvers.i18n import user_error


async def throttle(context: Context, action: str, address: str | None) -> None:
    """Count this attempt; RATE_LIMITED userError when a limit is passed.

    `address` is the normalised email (or the raw input when it is not one),
    counted alike whether or not an account has it.
    """
    settings = context.settings
    limits = {f"{action}:client:{context.client_ip}": settings.throttle_per_client}
    if address:
        limits[f"{action}:address:{address.strip().lower()[:320]}"] = settings.throttle_per_address
    counts = await hit_buckets(context.pool, list(limits), settings.throttle_window_seconds)
    waits = [wait for bucket, (hits, wait) in counts.items() if hits > limits[bucket]]
    if waits:
        raise user_error(
            context.language, ErrorCode.RATE_LIMITED, "rate_limited", seconds=max(waits)
        )
