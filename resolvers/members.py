"""Organization administration: who the members are, which sites they see, their role,
and which sites new members see at first.

Only an ADMIN of the same organization lists members or changes scopes, roles
and the default scope, and an organization always keeps at least one ADMIN
(the admins' rows are locked before any role change, so concurrent demotions
cannot race).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from db.members import (
    count_members,
    fetch_members_page,
    fetch_organization_site_ids,
    fetch_users_in_organization,
    lock_member,
    lock_organization_admins,
    set_default_site_scope,
    set_role,
    set_site_access,
)
from db.types import Conn
from resolvers.account_values import Role, SiteScope
from resolvers.context import Context
from resolvers.errors import ErrorCode, PublicError, UserErrors
from resolvers.fleet import SiteQuery, sites_page
from resolvers.i18n import text
from resolvers.ids import decode_id_of
from resolvers.pagination import Page, id_keyset_page
from resolvers.permissions import require_full_access, require_viewer
from resolvers.viewer import Viewer
from resolvers.visibility import scope_of_user, user_error, viewer_scope


def _forbidden(context: Context) -> PublicError:
    return PublicError(text(context.language, "admin_only"), "FORBIDDEN")


def _require_admin_of(context: Context, organization_pk: int) -> Viewer:
    viewer = require_full_access(context)
    if viewer.organization_id != organization_pk or not viewer.is_admin:
        raise _forbidden(context)
    return viewer


def _require_admin_viewer(context: Context) -> tuple[Viewer, int]:
    """The viewer and their organization when they are an admin (as the request
    began: `_lock_admins` checks again once the admins are locked)."""
    viewer = require_full_access(context)
    if not viewer.is_admin:
        raise user_error(context, ErrorCode.FORBIDDEN, "admin_only", None)
    assert viewer.organization_id is not None
    return viewer, viewer.organization_id


async def _lock_admins(
    conn: Conn, context: Context, viewer: Viewer, organization_id: int
) -> list[int]:
    """The organization's admins, locked; FORBIDDEN when the viewer is no longer
    one of them. Every change an admin makes goes through here first: a request
    begun just before its admin was demoted must not go through after."""
    admins = await lock_organization_admins(conn, organization_id)
    if viewer.user_id not in admins:
        raise user_error(context, ErrorCode.FORBIDDEN, "admin_only", None)
    return admins


async def organization_members(
    context: Context, organization_pk: int, first: int | None, after: str | None
) -> Page:
    """The organization's users by id: its administrators only (FORBIDDEN otherwise)."""
    _require_admin_of(context, organization_pk)
    pool = context.db

    async def fetch(after_id: int | None, limit: int) -> list[asyncpg.Record]:
        return await fetch_members_page(pool, organization_pk, after_id=after_id, limit=limit)

    async def total() -> int:
        return await count_members(pool, organization_pk)

    return await id_keyset_page(first, after, fetch, total)


async def organization_sites(
    context: Context,
    organization_pk: int,
    first: int | None,
    after: str | None,
    query: SiteQuery | None,
) -> Page:
    """The organization's sites that the viewer sees; FULL members of it only."""
    viewer = require_full_access(context)
    if viewer.organization_id != organization_pk:
        raise PublicError(text(context.language, "members_only"), "FORBIDDEN")
    return await sites_page(context, query, first, after)


async def user_visible_sites(
    context: Context, user_pk: int, first: int | None, after: str | None
) -> Page:
    """The sites a user sees: asked by that user, or by an admin of their organization."""
    viewer = require_full_access(context)
    if user_pk == viewer.user_id:
        return await sites_page(context, None, first, after, scope=viewer_scope(context))
    assert viewer.organization_id is not None
    if not viewer.is_admin:
        raise _forbidden(context)
    rows = await fetch_users_in_organization(context.db, viewer.organization_id, [user_pk])
    if not rows:
        raise _forbidden(context)
    user = rows[0]
    scope = scope_of_user(viewer.organization_id, user["id"], user["role"], user["site_scope"])
    return await sites_page(context, None, first, after, scope=scope)


async def set_member_site_access(
    context: Context, user_id: str, scope: SiteScope, site_ids: Sequence[str] | None
) -> asyncpg.Record:
    viewer, organization_id = _require_admin_viewer(context)
    pk = decode_id_of(user_id, "User")
    async with context.pool.acquire() as conn, conn.transaction():
        await _lock_admins(conn, context, viewer, organization_id)
        member = await lock_member(conn, organization_id, pk) if pk is not None else None
        if member is None:
            raise user_error(context, ErrorCode.NOT_FOUND, "member_not_found", ["input", "userId"])
        keys: list[int] = []
        if scope == SiteScope.SELECTED_SITES:
            wanted = [decode_id_of(s, "Site") for s in site_ids or ()]
            known = await fetch_organization_site_ids(
                conn, organization_id, [k for k in wanted if k is not None]
            )
            errors = [
                user_error(context, ErrorCode.NOT_FOUND, "not_found", ["input", "siteIds", index])
                for index, key in enumerate(wanted)
                if key is None or key not in known
            ]
            if errors:
                raise UserErrors(errors)
            keys = [k for k in wanted if k is not None]
        return await set_site_access(conn, organization_id, member["id"], scope, keys)


async def set_member_role(context: Context, user_id: str, role: Role) -> asyncpg.Record:
    viewer, organization_id = _require_admin_viewer(context)
    pk = decode_id_of(user_id, "User")
    async with context.pool.acquire() as conn, conn.transaction():
        admins = await _lock_admins(conn, context, viewer, organization_id)
        member = await lock_member(conn, organization_id, pk) if pk is not None else None
        if member is None:
            raise user_error(context, ErrorCode.NOT_FOUND, "member_not_found", ["userId"])
        if role == Role.MEMBER and admins == [member["id"]]:
            raise user_error(context, ErrorCode.INVALID, "last_admin", ["role"])
        return await set_role(conn, organization_id, member["id"], role)


def default_site_scope(context: Context, organization_pk: int, stored: str) -> SiteScope:
    """Organization.defaultSiteScope: for its administrators and the platform staff
    (FORBIDDEN otherwise)."""
    viewer = require_viewer(context)
    if not viewer.is_staff:
        _require_admin_of(context, organization_pk)
    return SiteScope(stored)


async def set_organization_default_site_scope(
    context: Context, organization_id: str, scope: SiteScope
) -> asyncpg.Record:
    """The scope members attached from now on start with; current members keep theirs."""
    viewer = require_full_access(context)
    pk = decode_id_of(organization_id, "Organization")
    if pk is None:
        raise user_error(context, ErrorCode.NOT_FOUND, "not_found", ["input", "organizationId"])
    if pk != viewer.organization_id or not viewer.is_admin:
        raise user_error(context, ErrorCode.FORBIDDEN, "admin_only", None)
    async with context.pool.acquire() as conn, conn.transaction():
        await _lock_admins(conn, context, viewer, pk)
        return await set_default_site_scope(conn, pk, scope)
