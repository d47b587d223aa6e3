"""Who may see and do what with payments: pure functions of a viewer, no I/O."""

from __future__ import annotations

from coursegraph.errors import Forbidden
from coursegraph.identity import Viewer


def owns_payments_of(viewer: Viewer | None, user_id: object) -> bool:
    """Payments are private: an account's own, and any for an ADMIN."""
    return viewer is not None and viewer.is_self_or_admin(user_id)


def require_list_access(viewer: Viewer | None, user_id: object) -> None:
    if not owns_payments_of(viewer, user_id):
        raise Forbidden("You may only see your own payments.")


def may_override_refund_rules(viewer: Viewer) -> bool:
    """Only an ADMIN chooses the refund amount or refunds despite a certificate."""
    return viewer.is_admin
