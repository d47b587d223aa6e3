"""Every client operation is valid against the public contract the apps are written to."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import build_schema, parse, validate

REPO_ROOT = Path(__file__).resolve().parent.parent
CONTRACT = REPO_ROOT.parent / "shared" / "contract" / "api-outline.graphql"
OPERATIONS = sorted((REPO_ROOT / "clients" / "operations").glob("*.graphql"))


@pytest.mark.skipif(not CONTRACT.exists(), reason="the shared contract is not beside the repo")
@pytest.mark.parametrize("path", OPERATIONS, ids=lambda p: p.name)
def test_operation_matches_the_contract(path: Path) -> None:
    schema = build_schema(CONTRACT.read_text())
    errors = validate(schema, parse(path.read_text()))
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
