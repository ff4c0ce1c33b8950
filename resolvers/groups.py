"""Custom groups: create, update, delete, with their validation rules.

A group belongs to its owner. Every id in it must be one the owner may see
when it is saved; afterwards the rule is evaluated at read time within the
owner's current visibility (a narrowed scope shrinks the group).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from db.fleet import ViewerScope, fetch_visible_site_ids
from db.groups import (
    count_groups,
    delete_group,
    fetch_existing_family_ids,
    fetch_groups_page,
    fetch_visible_product_ids,
    insert_group,
    lock_group,
    lock_owner_and_count_groups,
    replace_group_rule,
    update_group,
)
from db.types import Conn
from resolvers.context import Context
from resolvers.errors import ErrorCode, UserError, UserErrors
from resolvers.ids import decode_id_of
from resolvers.pagination import Page, id_keyset_page
from resolvers.text_policy import disguises, normalized_text
from resolvers.visibility import user_error, viewer_scope

MAX_GROUPS_PER_USER = 100
MAX_LISTED_PRODUCTS = 10_000
MAX_NAME_LENGTH = 100
MAX_DESCRIPTION_LENGTH = 1000


@dataclass(frozen=True)
class GroupInput:
    """CustomGroupInput as sent: global ids; a None list leaves that part unchanged on update."""

    name: str
    description: str | None = None
    product_ids: Sequence[str] | None = None
    family_ids: Sequence[str] | None = None
    site_ids: Sequence[str] | None = None


@dataclass(frozen=True)
class ValidGroup:
    name: str
    description: str | None
    product_ids: list[int] | None
    family_ids: list[int] | None
    site_ids: list[int] | None


def _resolve_ids(
    context: Context,
    ids: Sequence[str] | None,
    type_name: str,
    field_name: str,
    known: set[int] | None,
    errors: list[UserError],
) -> list[int] | None:
    """Keys of `ids`; each unknown one is a NOT_FOUND error at its index."""
    if ids is None:
        return None
    keys: list[int] = []
    for index, global_id in enumerate(ids):
        pk = decode_id_of(global_id, type_name)
        if pk is None or (known is not None and pk not in known):
            errors.append(
                user_error(context, ErrorCode.NOT_FOUND, "not_found", ["input", field_name, index])
            )
        else:
            keys.append(pk)
    return keys


def _decodable(ids: Sequence[str] | None, type_name: str) -> list[int]:
    return [pk for pk in (decode_id_of(i, type_name) for i in ids or ()) if pk is not None]


async def validate_group_input(
    context: Context, conn: Conn, scope: ViewerScope, data: GroupInput
) -> ValidGroup:
    errors: list[UserError] = []
    # Names and descriptions are shown to others (an admin's groups): the
    # registration's rule, so that none displays as something else than it is.
    name = normalized_text(data.name or "")
    if not name:
        errors.append(user_error(context, ErrorCode.REQUIRED, "name_required", ["input", "name"]))
    elif len(name) > MAX_NAME_LENGTH:
        errors.append(
            user_error(
                context, ErrorCode.TOO_LONG, "too_long", ["input", "name"], max=MAX_NAME_LENGTH
            )
        )
    elif disguises(name):
        errors.append(user_error(context, ErrorCode.INVALID, "invalid", ["input", "name"]))
    description = normalized_text(data.description or "") or None
    if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
        errors.append(
            user_error(
                context,
                ErrorCode.TOO_LONG,
                "too_long",
                ["input", "description"],
                max=MAX_DESCRIPTION_LENGTH,
            )
        )
    elif description is not None and disguises(description, multiline=True):
        errors.append(user_error(context, ErrorCode.INVALID, "invalid", ["input", "description"]))
    if data.product_ids is not None and len(data.product_ids) > MAX_LISTED_PRODUCTS:
        errors.append(
            user_error(
                context,
                ErrorCode.LIMIT_EXCEEDED,
                "too_many_products",
                ["input", "productIds"],
                max=MAX_LISTED_PRODUCTS,
            )
        )
        raise UserErrors(errors)
    products = await fetch_visible_product_ids(conn, scope, _decodable(data.product_ids, "Product"))
    families = await fetch_existing_family_ids(conn, _decodable(data.family_ids, "ProductFamily"))
    sites = await fetch_visible_site_ids(conn, scope, _decodable(data.site_ids, "Site"))
    product_ids = _resolve_ids(context, data.product_ids, "Product", "productIds", products, errors)
    family_ids = _resolve_ids(
        context, data.family_ids, "ProductFamily", "familyIds", families, errors
    )
    site_ids = _resolve_ids(context, data.site_ids, "Site", "siteIds", sites, errors)
    if errors:
        raise UserErrors(errors)
    return ValidGroup(name, description, product_ids, family_ids, site_ids)


async def create_group(context: Context, data: GroupInput) -> asyncpg.Record:
    scope = viewer_scope(context)
    async with context.pool.acquire() as conn, conn.transaction():
        owned = await lock_owner_and_count_groups(conn, scope)
        if owned >= MAX_GROUPS_PER_USER:
            raise user_error(
                context, ErrorCode.LIMIT_EXCEEDED, "too_many_groups", None, max=MAX_GROUPS_PER_USER
            )
        valid = await validate_group_input(context, conn, scope, data)
        row = await insert_group(conn, scope, valid.name, valid.description)
        await replace_group_rule(
            conn,
            scope.organization_id,
            row["id"],
            product_ids=valid.product_ids or [],
            family_ids=valid.family_ids or [],
            site_ids=valid.site_ids or [],
        )
        return row


async def update_custom_group(context: Context, group_id: str, data: GroupInput) -> asyncpg.Record:
    scope = viewer_scope(context)
    pk = decode_id_of(group_id, "CustomGroup")
    async with context.pool.acquire() as conn, conn.transaction():
        current = await lock_group(conn, scope, pk) if pk is not None else None
        if current is None:
            raise user_error(context, ErrorCode.NOT_FOUND, "group_not_found", ["id"])
        valid = await validate_group_input(context, conn, scope, data)
        row = await update_group(conn, current["id"], valid.name, valid.description)
        await replace_group_rule(
            conn,
            scope.organization_id,
            current["id"],
            product_ids=valid.product_ids,
            family_ids=valid.family_ids,
            site_ids=valid.site_ids,
        )
        return row


async def delete_custom_group(context: Context, group_id: str) -> str:
    scope = viewer_scope(context)
    pk = decode_id_of(group_id, "CustomGroup")
    async with context.pool.acquire() as conn, conn.transaction():
        if pk is None or not await delete_group(conn, scope, pk):
            raise user_error(context, ErrorCode.NOT_FOUND, "group_not_found", ["id"])
    return group_id


async def groups_page(context: Context, first: int | None, after: str | None) -> Page:
    """The viewer's own groups, oldest first."""
    scope = viewer_scope(context)
    pool = context.db

    async def fetch(after_id: int | None, limit: int) -> list[asyncpg.Record]:
        return await fetch_groups_page(pool, scope, after_id=after_id, limit=limit)

    async def total() -> int:
        return await count_groups(pool, scope)

    return await id_keyset_page(first, after, fetch, total)
