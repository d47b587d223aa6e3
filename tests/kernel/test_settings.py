"""The kernel's settings and the sections subgraphs declare: defaults that depend on the
environment, variable names, loading."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from coursegraph.settings import Section, Settings, load_section
from tests.helpers import REPO_ROOT
from tests.variables import all_variable_names


def test_workers_default_to_one_outside_production_and_the_cpus_in_it() -> None:
    assert Settings(_env_file=None).resolved_workers == 1
    assert Settings(_env_file=None, workers=3).resolved_workers == 3
    production = Settings(
        _env_file=None, COURSEGRAPH_ENV="production", service_secret_key="a-real-secret"
    )
    assert production.resolved_workers == len(os.sched_getaffinity(0))


class _Adapter(BaseModel):
    api_key: str | None = None
    timeout_seconds: float = 5.0


class _Section(Section):
    model_config = SettingsConfigDict(env_prefix="things_")

    page_size: int = 10
    public_url: str | None = Field(default=None, validation_alias="thing_public_url")
    remote: _Adapter = Field(default_factory=_Adapter)
    vendor: _Adapter = Field(default_factory=_Adapter, validation_alias="vendor")


def test_a_section_reads_its_variables_nested_ones_and_env_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("THINGS_PAGE_SIZE", "7")
    monkeypatch.setenv("THING_PUBLIC_URL", "http://thing")
    monkeypatch.setenv("THINGS_REMOTE_API_KEY", "remote-key")
    monkeypatch.setenv("VENDOR_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("THINGS_URL", "http://unrelated")  # no field of the section
    (tmp_path / ".env").write_text("VENDOR_API_KEY=from-dotenv\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    section = _Section()
    assert (section.page_size, section.public_url) == (7, "http://thing")
    assert section.remote == _Adapter(api_key="remote-key")
    assert section.vendor == _Adapter(api_key="from-dotenv", timeout_seconds=2.5)
    assert _Section(_env_file=None).vendor == _Adapter(timeout_seconds=2.5)
    # Code and tests name fields, not variables; a nested value given whole replaces
    # none of the defaults it leaves out.
    given = _Section(_env_file=None, public_url="http://given", vendor=_Adapter(api_key="k"))
    assert (given.public_url, given.vendor) == ("http://given", _Adapter(api_key="k"))


def test_a_section_is_loaded_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THINGS_PAGE_SIZE", "3")
    first = load_section(_Section)
    monkeypatch.setenv("THINGS_PAGE_SIZE", "4")
    assert load_section(_Section) is first
    assert first.page_size == 3


def test_the_readme_lists_every_variable() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Configuration") : readme.index("## Production")]
    listed = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))
    # Written once as patterns in the table.
    patterns = {"SERVICE_KEY_", "_DATABASE_URL"}
    missing = {
        name
        for name in all_variable_names() - listed
        if not any(pattern in name for pattern in patterns)
    }
    assert not missing, f"README's configuration table does not list {sorted(missing)}"
