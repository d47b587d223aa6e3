"""Every client operation is valid against the public contract the apps are written to."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import GraphQLSchema, build_schema, parse, validate

from tests.services import unavailable

REPO_ROOT = Path(__file__).resolve().parent.parent
CONTRACT = REPO_ROOT.parent / "shared" / "contract" / "api-outline.graphql"
OPERATIONS = sorted((REPO_ROOT / "clients" / "operations").glob("*.graphql"))


@pytest.fixture(scope="module")
def contract() -> GraphQLSchema:
    # The contract lives in the team's shared folder, beside a working copy of the
    # repository (and beside CI's clone), not in the repository itself.
    if not CONTRACT.exists():
        unavailable(f"the shared API contract is not beside the repository ({CONTRACT})")
    return build_schema(CONTRACT.read_text())


@pytest.mark.parametrize("path", OPERATIONS, ids=lambda p: p.name)
def test_operation_matches_the_contract(contract: GraphQLSchema, path: Path) -> None:
    errors = validate(contract, parse(path.read_text()))
    assert not errors, [e.message for e in errors]


def test_every_screen_has_its_operations() -> None:
    names = {p.stem for p in OPERATIONS}
    assert names >= {
        "catalog",
        "course-page",
        "player",
        "checkout",
        "my-learning",
        "teacher-studio",
        "account",
    }
