"""Who may play what: files decides nothing about courses, it trusts one signed answer."""

from __future__ import annotations


def entitled_to_play(claimed: object, from_router: bool) -> bool:
    """`viewerCanWatch` is courses' answer, fetched by the router for a `@requires` field.
    It counts only when the signed router passed it on; absent, or claimed by any other
    caller, the viewer is not entitled."""
    return claimed is True and from_router
