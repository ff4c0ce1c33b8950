"""Throttling of sign-up, sign-in, code and reset mutations.

The counters live in PostgreSQL (`db.throttle`), so every worker and host
shares them. A hit is counted in its own statement, outside the mutation's
transaction: a failed attempt must count even though the mutation's own
changes roll back. Limits are per address, per client address and, for
sign-up, for everyone together.
"""

from __future__ import annotations

import ipaddress

from db.throttle import hit_buckets, release_buckets
from resolvers.context import Context
from resolvers.errors import ErrorCode
from resolvers.i18n import user_error

# An IPv6 subscriber is given a /64 at least: counted per address, each of
# its 2**64 addresses would bring fresh limits.
IPV6_CLIENT_PREFIX = 64


def client_bucket(host: str) -> str:
    """The client a per-client limit counts: an IPv4 address, or an IPv6
    address's /64 network (an IPv4-mapped one as its IPv4 address)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(address)


def buckets(
    context: Context, action: str, address: str | None, global_limit: int | None = None
) -> dict[str, int]:
    """The buckets an attempt at `action` counts in, with their limits."""
    settings = context.settings
    client = client_bucket(context.client_ip)
    limits = {f"{action}:client:{client}": settings.throttle_per_client}
    if address:
        limits[f"{action}:address:{address.strip().lower()[:320]}"] = settings.throttle_per_address
    if global_limit is not None:
        limits[f"{action}:global"] = global_limit
    return limits


async def count_hits(context: Context, limits: dict[str, int]) -> None:
    """Count one hit in each bucket; RATE_LIMITED userError when a limit is passed."""
    counts = await hit_buckets(context.pool, list(limits), context.settings.throttle_window_seconds)
    waits = [wait for bucket, (hits, wait) in counts.items() if hits > limits[bucket]]
    if waits:
        raise user_error(
            context.language, ErrorCode.RATE_LIMITED, "rate_limited", seconds=max(waits)
        )


async def throttle(
    context: Context, action: str, address: str | None, global_limit: int | None = None
) -> None:
    """Count this attempt; RATE_LIMITED userError when a limit is passed.

    `address` is the normalised email (or the raw input when it is not one),
    counted alike whether or not an account has it.
    """
    await count_hits(context, buckets(context, action, address, global_limit))


async def give_back(context: Context, limits: dict[str, int]) -> None:
    """Un-count a hit that turned out to be a success (only failures count)."""
    await release_buckets(context.pool, list(limits))
