"""Who may see and do what with payments: pure functions of a viewer, no I/O, and the
permission class that guards `User.payments` with them."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from coursegraph.errors import Forbidden
from coursegraph.identity import Viewer


def owns_payments_of(viewer: Viewer | None, user_id: object) -> bool:
    """Payments are private: an account's own, and any for an ADMIN."""
    return viewer is not None and viewer.is_self_or_admin(user_id)


class PaymentsOfSelfOrAdmin(BasePermission):
    """Guards `User.payments`: UNAUTHENTICATED for a visitor, FORBIDDEN unless the viewer
    is this user or an ADMIN."""

    message = "You may only see your own payments."

    def has_permission(self, source: Any, info: Info[Any, Any], **kwargs: Any) -> bool:
        if not owns_payments_of(info.context.require_viewer(), source.id):
            raise Forbidden(self.message)
        return True


def may_override_refund_rules(viewer: Viewer) -> bool:
    """Only an ADMIN chooses the refund amount or refunds despite a certificate."""
    return viewer.is_admin
