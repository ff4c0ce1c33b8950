"""Who sees what: the viewer's scope over the fleet, and fleet errors (texts in i18n).

An ADMIN sees every site of the organization; a MEMBER sees every site
(ALL_SITES) or the sites the administrator selected (SELECTED_SITES). The
scope is applied in SQL by `db/`; this module only says whose it is.
"""

from __future__ import annotations

from typing import Any

from db.fleet import ViewerScope
from resolvers.account_values import Role, SiteScope
from resolvers.context import Context
from resolvers.errors import ErrorCode, PublicError, UserError
from resolvers.i18n import text
from resolvers.permissions import require_full_access


def user_error(
    context: Context, code: ErrorCode, key: str, field: list[str | int] | None, **values: Any
) -> UserError:
    path = [str(f) for f in field] if field else None
    return UserError(code, text(context.language, key, **values), path)


def group_not_found(context: Context) -> PublicError:
    return PublicError(text(context.language, "group_not_found"), "NOT_FOUND")


def viewer_scope(context: Context) -> ViewerScope:
    """The signed-in FULL viewer's scope (UNAUTHENTICATED / FORBIDDEN otherwise)."""
    viewer = require_full_access(context)
    assert viewer.organization_id is not None  # FULL access implies an organization
    return ViewerScope(
        organization_id=viewer.organization_id,
        user_id=viewer.user_id,
        all_sites=viewer.is_admin or viewer.site_scope == SiteScope.ALL_SITES,
    )


def scope_of_user(
    organization_id: int, user_id: int, role: str | None, site_scope: str
) -> ViewerScope:
    """The scope another user of the organization has (e.g. their visibleSites)."""
    return ViewerScope(
        organization_id=organization_id,
        user_id=user_id,
        all_sites=role == Role.ADMIN or site_scope == SiteScope.ALL_SITES,
    )
