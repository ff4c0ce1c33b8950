"""Who sees what: the viewer's scope over the fleet, and the texts of fleet errors.

An ADMIN sees every site of the organization; a MEMBER sees every site
(ALL_SITES) or the sites the administrator selected (SELECTED_SITES). The
scope is applied in SQL by `db/`; this module only says whose it is.
"""

from __future__ import annotations

from typing import Any

from db.fleet import ViewerScope
from resolvers.context import Context
from resolvers.errors import ErrorCode, PublicError, UserError
from resolvers.permissions import require_full_access

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "group_not_found": "There is no such custom group.",
        "not_found": "There is no such item, or you may not see it.",
        "name_required": "Give the group a name.",
        "too_long": "This field is too long (at most {max} characters).",
        "too_many_groups": "You already have {max} custom groups: delete one first.",
        "too_many_products": "A group lists at most {max} products.",
        "admin_only": "Only an administrator of your organization may do this.",
        "members_only": "Only members of this organization see its sites.",
        "member_not_found": "There is no such member in your organization.",
        "last_admin": "Your organization must keep at least one administrator.",
        "cursor_invalid": "The cursor in `after` is not valid.",
        "days_invalid": "Use a number of days between 0 and {max}.",
        "search_too_long": "Search for at most {max} characters.",
    },
    "fr": {
        "group_not_found": "Ce groupe personnalisé n'existe pas.",
        "not_found": "Cet élément n'existe pas, ou vous ne pouvez pas le voir.",
        "name_required": "Donnez un nom au groupe.",
        "too_long": "Ce champ est trop long ({max} caractères au plus).",
        "too_many_groups": "Vous avez déjà {max} groupes personnalisés : supprimez-en un d'abord.",
        "too_many_products": "Un groupe liste au plus {max} produits.",
        "admin_only": "Seul un administrateur de votre organisation peut faire ceci.",
        "members_only": "Seuls les membres de cette organisation voient ses sites.",
        "member_not_found": "Ce membre n'existe pas dans votre organisation.",
        "last_admin": "Votre organisation doit garder au moins un administrateur.",
        "cursor_invalid": "Le curseur de `after` n'est pas valide.",
        "days_invalid": "Indiquez un nombre de jours entre 0 et {max}.",
        "search_too_long": "Cherchez au plus {max} caractères.",
    },
}


def fleet_text(language: str, key: str, **values: Any) -> str:
    texts = MESSAGES.get(language, MESSAGES["en"])
    return texts[key].format(**values)


def user_error(
    context: Context, code: ErrorCode, key: str, field: list[str | int] | None, **values: Any
) -> UserError:
    path = [str(f) for f in field] if field else None
    return UserError(code, fleet_text(context.language, key, **values), path)


def group_not_found(context: Context) -> PublicError:
    return PublicError(fleet_text(context.language, "group_not_found"), "NOT_FOUND")


def viewer_scope(context: Context) -> ViewerScope:
    """The signed-in FULL viewer's scope (UNAUTHENTICATED / FORBIDDEN otherwise)."""
    viewer = require_full_access(context)
    assert viewer.organization_id is not None  # FULL access implies an organization
    return ViewerScope(
        organization_id=viewer.organization_id,
        user_id=viewer.user_id,
        all_sites=viewer.is_admin or viewer.site_scope == "ALL_SITES",
    )


def scope_of_user(
    organization_id: int, user_id: int, role: str | None, site_scope: str
) -> ViewerScope:
    """The scope another user of the organization has (e.g. their visibleSites)."""
    return ViewerScope(
        organization_id=organization_id,
        user_id=user_id,
        all_sites=role == "ADMIN" or site_scope == "ALL_SITES",
    )
