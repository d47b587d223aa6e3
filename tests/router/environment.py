"""Router tests that depend on the environment (development, production) patch the
settings the router's server and edge pipeline read."""

from __future__ import annotations

import pytest

from coursegraph.settings import Settings, get_settings
from router import server
from router.edge import pipeline


def patch_settings(monkeypatch: pytest.MonkeyPatch, **update: object) -> Settings:
    """The settings with `update` applied, as the router's server and edge see them."""
    settings = get_settings().model_copy(update=update)
    monkeypatch.setattr(server, "get_settings", lambda: settings)
    monkeypatch.setattr(pipeline, "get_settings", lambda: settings)
    return settings
