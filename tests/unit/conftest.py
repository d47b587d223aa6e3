"""The fast tier: pure functions of the domain (money, refunds, policies, state machines),
no database, no server, no network. Every test here carries the marker `unit`
(tests/conftest.py), so `pytest -m unit` runs this tier alone.

A test that reaches for the network (a database fixture, a server) fails here at once,
rather than making the fast tier slow by accident.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest


def _no_network(*args: Any, **kwargs: Any) -> NoReturn:
    raise AssertionError("a unit test opened a connection: it belongs beside the HTTP tests")


# Package scope: set once for the tier, and undone before any other package's test runs
# in the same process (hypothesis also refuses function-scoped fixtures around @given).
@pytest.fixture(scope="package", autouse=True)
def no_network() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", _no_network)
        patch.setattr(socket.socket, "connect_ex", _no_network)
        yield
