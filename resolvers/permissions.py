"""Who may call a field: permission classes attached with `permission_classes`.

Each class raises its own `PublicError` from `has_permission` so that the
message is in the request's language (strawberry builds one permission object
per field for the whole schema, so it cannot hold per-request state).
"""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from resolvers.account_values import AccessLevel
from resolvers.context import Context
from resolvers.errors import PublicError
from resolvers.i18n import text
from resolvers.viewer import Viewer


def _context(info: Any) -> Context:
    context: Context = info.context
    return context


def require_viewer(context: Context) -> Viewer:
    """The signed-in viewer, or an UNAUTHENTICATED error."""
    if context.viewer is None:
        raise PublicError(text(context.language, "unauthenticated"), "UNAUTHENTICATED")
    return context.viewer


def require_full_access(context: Context) -> Viewer:
    """A viewer attached to an organization (registration COMPLETE), or FORBIDDEN."""
    viewer = require_viewer(context)
    if viewer.access_level != AccessLevel.FULL:
        raise PublicError(text(context.language, "finish_registration"), "FORBIDDEN")
    return viewer


def require_staff(context: Context) -> Viewer:
    viewer = require_viewer(context)
    if not viewer.is_staff:
        raise PublicError(text(context.language, "staff_only"), "FORBIDDEN")
    return viewer


class IsAuthenticated(BasePermission):
    message = "Sign in to see this."

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        require_viewer(_context(info))
        return True


class HasFullAccess(BasePermission):
    """Fleet data: only for users whose registration is COMPLETE.

    LIMITED users (verified, still registering) get FORBIDDEN with a message
    telling them to finish their registration.
    """

    message = "Finish your registration to see fleet data."

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        require_full_access(_context(info))
        return True


class IsStaff(BasePermission):
    message = "Only the platform staff may do this."

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        require_staff(_context(info))
        return True
