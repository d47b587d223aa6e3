"""Who may do what with notifications: a user's notifications and preferences are theirs
alone (not even an ADMIN reads another's inbox)."""

from __future__ import annotations

from coursegraph.errors import Forbidden
from coursegraph.identity import Viewer


def require_owner(viewer: Viewer | None, user_id: str) -> Viewer:
    """The viewer, when they are `user_id`; FORBIDDEN for anyone else."""
    if viewer is None or viewer.id != user_id:
        raise Forbidden("Only the user themselves may see their notifications.")
    return viewer
