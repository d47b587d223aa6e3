"""Ids from GraphQL arguments and internal calls: the one UUID parser of the house."""

from __future__ import annotations

import uuid

from coursegraph.errors import BadUserInput


def parse_uuid(value: object) -> uuid.UUID | None:
    """The UUID `value` spells, or None. A malformed id names nothing, so a lookup treats
    it like an unknown one (null or NOT_FOUND), never as a server error."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def require_uuid(value: object, field: str) -> uuid.UUID:
    """The UUID an argument that must be an id spells; BAD_USER_INPUT naming `field`."""
    parsed = parse_uuid(value)
    if parsed is None:
        raise BadUserInput(f"`{field}` is not a valid id.", field=field)
    return parsed
