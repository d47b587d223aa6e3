"""Who may see what of an account: pure functions of a viewer, and the permission
classes that guard fields with them."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from coursegraph.identity import Viewer


def can_see_email(viewer: Viewer | None, user_id: object) -> bool:
    """An account's email is for its owner and ADMIN."""
    return viewer is not None and viewer.is_self_or_admin(user_id)


class EmailVisible(BasePermission):
    """Guards `User.email` (a denial reads as null). The caller just proved the account
    theirs where a payload says so (register, login), before any token exists."""

    message = "Only this user or an admin can see the email."

    def has_permission(self, source: Any, info: Info[Any, Any], **kwargs: Any) -> bool:
        if source._owned_by_caller:
            return True
        return can_see_email(info.context.viewer, source.id)
