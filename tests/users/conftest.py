from __future__ import annotations

from collections.abc import Iterator

import pytest

from coursegraph.settings import Settings
from coursegraph.testing import ServerThread
from subgraphs.users.app import create_app
from subgraphs.users.settings import UsersSettings


@pytest.fixture(scope="session")
def users_server(settings: Settings, users_section: UsersSettings) -> Iterator[ServerThread]:
    with ServerThread(create_app(settings, users_section)) as server:
        yield server


@pytest.fixture
def users_url(users_server: ServerThread, clean_database: None) -> str:
    return f"{users_server.url}/graphql"
