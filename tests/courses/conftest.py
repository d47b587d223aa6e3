"""Courses under test: a real courses server, a real users server (JWKS, internal lookup)
and a small stand-in for payments that checks the HMAC signature of every call. Lecture
uploads run against a real files server wired to its own courses server both ways."""

from __future__ import annotations

import itertools
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from coursegraph.service_auth import MemoryNonceStore, ServiceAuthError, ServiceVerifier
from coursegraph.settings import SERVICES, Settings
from coursegraph.testing import ServerThread
from subgraphs.courses.app import create_app
from subgraphs.courses.bootstrap import CoursesContainer, bootstrap
from subgraphs.courses.settings import CoursesSettings
from subgraphs.files.app import create_app as create_files_app
from subgraphs.files.settings import FilesSettings, ProcessingSettings
from subgraphs.users.app import create_app as create_users_app
from subgraphs.users.bootstrap import key_store
from subgraphs.users.keys import KeyStore
from subgraphs.users.settings import UsersSettings
from tests.courses.api import People, UploadStack
from tests.files.servers import DeferredApp


# ------------------------------------------------------------------ payments stand-in
@dataclass
class FakePayments:
    """Answers `preparePayment` like payments will, after verifying the signature."""

    settings: Settings
    available: bool = True
    calls: list[dict[str, Any]] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def reset(self) -> None:
        self.available = True
        self.calls.clear()
        self._ids = itertools.count(1)

    def app(self) -> Starlette:
        verifier = ServiceVerifier(
            {name: self.settings.service_key(name) for name in SERVICES}, MemoryNonceStore()
        )

        async def graphql(request: Request) -> Response:
            body = await request.body()
            try:
                caller = await verifier.verify("POST", request.url.path, request.headers, body)
            except ServiceAuthError as error:
                return JSONResponse({"errors": [{"message": str(error)}]}, status_code=401)
            if not self.available:
                return JSONResponse({"errors": [{"message": "down"}]}, status_code=503)
            payload = orjson.loads(body)
            self.calls.append(
                {
                    "caller": caller,
                    "query": payload["query"],
                    "variables": payload["variables"],
                    "authorization": request.headers.get("authorization"),
                }
            )
            payment_id = f"pay_{next(self._ids)}"
            return JSONResponse({"data": {"preparePayment": {"id": payment_id}}})

        return Starlette(routes=[Route("/graphql", graphql, methods=["POST"])])


@pytest.fixture(scope="session")
def fake_payments_server(settings: Settings) -> Iterator[tuple[FakePayments, ServerThread]]:
    fake = FakePayments(settings)
    with ServerThread(fake.app()) as server:
        yield fake, server


@pytest.fixture
def fake_payments(
    fake_payments_server: tuple[FakePayments, ServerThread],
) -> Iterator[FakePayments]:
    fake = fake_payments_server[0]
    fake.reset()
    yield fake
    fake.reset()


# ------------------------------------------------------------------ real servers
@pytest.fixture(scope="session")
def courses_users_server(
    settings: Settings, users_section: UsersSettings
) -> Iterator[ServerThread]:
    with ServerThread(create_users_app(settings, users_section)) as server:
        yield server


@pytest.fixture(scope="session")
def courses_settings(
    settings: Settings,
    courses_users_server: ServerThread,
    fake_payments_server: tuple[FakePayments, ServerThread],
) -> Settings:
    return settings.model_copy(
        update={
            "users_url": courses_users_server.url,
            "payments_url": fake_payments_server[1].url,
        }
    )


class StatementCounter:
    """Counts SQL statements the courses server sends (outbox relay polls excluded)."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)

    def reset(self) -> None:
        self.statements.clear()

    def __call__(self, conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
        # The outbox relay polls on its own clock; it is not part of any request.
        if "outbox" not in statement:
            self.statements.append(statement)


@dataclass
class CoursesServer:
    server: ServerThread
    app: Starlette
    statements: StatementCounter

    @property
    def url(self) -> str:
        return f"{self.server.url}/graphql"

    @property
    def container(self) -> CoursesContainer:
        container: CoursesContainer = self.app.state.container
        return container


@pytest.fixture(scope="session")
def courses_server(
    courses_settings: Settings, courses_section: CoursesSettings
) -> Iterator[CoursesServer]:
    app = create_app(courses_settings, courses_section)
    with ServerThread(app) as server:
        counter = StatementCounter()
        engine = app.state.container.database.engine.sync_engine
        event.listen(engine, "before_cursor_execute", counter)
        yield CoursesServer(server, app, counter)
        event.remove(engine, "before_cursor_execute", counter)


@pytest.fixture
def courses_url(courses_server: CoursesServer, clean_database: None) -> str:
    return courses_server.url


@pytest.fixture
async def container(
    courses_settings: Settings, courses_section: CoursesSettings
) -> AsyncIterator[CoursesContainer]:
    """The service layer in the test's own event loop (for set-ups the API leaves to
    other subgraphs, such as attaching a video file)."""
    async with bootstrap(courses_settings, courses_section, relay=False) as built:
        yield built


# ------------------------------------------------------------------ courses with files
@contextmanager
def running_upload_stack(
    settings: Settings, courses_section: CoursesSettings, **files_settings: Any
) -> Iterator[UploadStack]:
    """Courses and files servers, each told the other's address; keyword arguments
    (FilesSettings fields) choose files' backends (storage, video processor)."""
    # Both ports are bound first: each app's settings name the other's address.
    courses_app, files_app = DeferredApp(), DeferredApp()
    courses, files = ServerThread(courses_app), ServerThread(files_app)
    stack_settings = settings.model_copy(
        update={"courses_url": courses.url, "files_url": files.url}
    )
    files_section = FilesSettings(
        _env_file=None, processing=ProcessingSettings(poll_seconds=0.2)
    ).model_copy(update=files_settings)
    courses_app.app = create_app(stack_settings, courses_section)
    files_app.app = create_files_app(stack_settings, files_section)
    with files, courses:
        yield UploadStack(courses, files, stack_settings, courses_section, courses_app.app)


@pytest.fixture(scope="module")
def upload_servers(
    courses_settings: Settings,
    courses_section: CoursesSettings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[UploadStack]:
    # Per module, not per session: a files server's worker claims any due PROCESSING row
    # in the shared database, so it must be gone before other files servers (with other
    # storage folders) start in tests/files.
    storage_dir = tmp_path_factory.mktemp("files-storage")
    with running_upload_stack(courses_settings, courses_section, storage_dir=storage_dir) as stack:
        yield stack


@pytest.fixture
def upload_stack(upload_servers: UploadStack, clean_database: None) -> UploadStack:
    return upload_servers


@pytest.fixture
def courses_without_files(upload_stack: UploadStack) -> Iterator[str]:
    """The GraphQL URL of a courses server whose files address refuses connections."""
    with socket.socket() as unused:
        # Bound but never listening: every connection to it is refused at once.
        unused.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{unused.getsockname()[1]}"
        settings = upload_stack.settings.model_copy(update={"files_url": dead_url})
        with ServerThread(create_app(settings, upload_stack.courses_section)) as server:
            yield f"{server.url}/graphql"


# ------------------------------------------------------------------ people
@pytest.fixture(scope="session")
def signing_keys(
    settings: Settings, users_section: UsersSettings, courses_users_server: ServerThread
) -> KeyStore:
    # The users server made the keys when it started; sign with the same ones.
    keys = key_store(settings, users_section)
    keys.load(create=False)
    return keys


@pytest.fixture
def people(
    settings: Settings, signing_keys: KeyStore, courses_users_server: ServerThread
) -> People:
    return People(settings, signing_keys, f"{courses_users_server.url}/graphql")
