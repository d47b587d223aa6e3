"""The router's compiled modules (router/native.py): used only when built from the current
source, bypassed all together otherwise, and the interpreted router a switch away."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from router import native

REPO = Path(__file__).resolve().parents[2]
MODULES = ("pkg.alpha", "pkg.beta")
LIBRARY = "pkg._lib__mypyc"


def tree(tmp_path: Path) -> Path:
    """A package with two modules, a stand-in for their compiled files and its manifest."""
    root = tmp_path / "pkg"
    root.mkdir()
    manifest = {}
    for name in MODULES:
        stem = name.rpartition(".")[2]
        (root / f"{stem}.py").write_text(f"WHO = '{stem}'\n")
        (root / f"{stem}{native.SUFFIXES[0]}").write_bytes(b"")
        manifest[name] = native.digest(root / f"{stem}.py")
    (root / f"_lib__mypyc{native.SUFFIXES[0]}").write_bytes(b"")
    (root / native.MANIFEST).write_text(json.dumps(manifest))
    return root


def test_a_build_of_the_current_sources_is_used(tmp_path: Path) -> None:
    assert native.refusal(MODULES, tree(tmp_path), {}, LIBRARY) is None


def test_an_edited_source_bypasses_every_compiled_module(tmp_path: Path) -> None:
    root = tree(tmp_path)
    with (root / "beta.py").open("a") as f:
        f.write("# edited\n")
    assert native.refusal(MODULES, root, {}, LIBRARY) == (
        "beta.py changed since the build (make install rebuilds)"
    )


def test_no_manifest_or_no_compiled_file_means_not_built(tmp_path: Path) -> None:
    root = tree(tmp_path)
    library = root / f"_lib__mypyc{native.SUFFIXES[0]}"
    library.unlink()
    assert native.refusal(MODULES, root, {}, LIBRARY) == "not built for this Python"
    library.write_bytes(b"")
    (root / f"alpha{native.SUFFIXES[0]}").unlink()
    assert native.refusal(MODULES, root, {}, LIBRARY) == "not built for this Python"
    (root / native.MANIFEST).unlink()
    assert native.refusal(MODULES, root, {}, LIBRARY) == "not built"


def test_the_switch_turns_a_current_build_off(tmp_path: Path) -> None:
    root = tree(tmp_path)
    off = native.refusal(MODULES, root, {native.DISABLE: "1"}, LIBRARY)
    assert off == "COURSEGRAPH_NO_COMPILED is set"
    assert native.refusal(MODULES, root, {native.DISABLE: "0"}, LIBRARY) is None


def test_the_source_finder_loads_the_py_file(tmp_path: Path) -> None:
    root = tree(tmp_path)
    spec = native.SourceFinder(MODULES, root).find_spec("pkg.alpha", None)
    assert spec is not None
    assert spec.origin == str(root / "alpha.py")
    assert native.SourceFinder(MODULES, root).find_spec("pkg.gamma", None) is None


def test_the_makefile_rebuilds_when_a_compiled_source_changes() -> None:
    makefile = (REPO / "Makefile").read_text()
    sources = re.search(r"^NATIVE_SOURCES := (.*)$", makefile, re.MULTILINE)
    assert sources is not None
    listed = set(sources.group(1).split())
    assert {str(native.source(name).relative_to(REPO)) for name in native.MODULES} <= listed
    assert "router/native.py" in listed


def test_without_a_c_compiler_the_build_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC", "/nonexistent/cc -O2")
    assert native.toolchain() == "no C compiler (/nonexistent/cc)"


def loaded(root: Path, **env: str) -> tuple[dict[str, str], str]:
    """Where each compiled module is loaded from in a fresh interpreter with `root` first on
    the path (file names), and what it printed on stderr."""
    code = (
        "import importlib, json, router.native as n\n"
        "print(json.dumps({m: importlib.import_module(m).__file__ for m in n.MODULES}))"
    )
    environ = {k: v for k, v in os.environ.items() if k != native.DISABLE}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**environ, "PYTHONPATH": str(root), **env},
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    files = json.loads(done.stdout)
    return {name: Path(path).name for name, path in files.items()}, done.stderr


def test_the_switch_runs_the_router_interpreted() -> None:
    files, _ = loaded(REPO, **{native.DISABLE: "1"})
    assert all(name.endswith(".py") for name in files.values()), files


def test_a_stale_build_never_runs(tmp_path: Path) -> None:
    """A copy of the router whose executor changed after the build: every module loads from
    its .py, with one line saying why; the unchanged copy loads the compiled ones."""
    if native.refusal(environ={}) is not None:
        pytest.skip(f"the router is not compiled here: {native.refusal(environ={})}")
    copy = tmp_path / "router"
    shutil.copytree(native.ROUTER, copy, ignore=shutil.ignore_patterns("__pycache__"))
    files, _ = loaded(tmp_path)
    assert all(not name.endswith(".py") for name in files.values()), files
    with (copy / "executor.py").open("a") as f:
        f.write("# edited after the build\n")
    files, stderr = loaded(tmp_path)
    assert all(name.endswith(".py") for name in files.values()), files
    assert "executor.py changed since the build" in stderr


def test_clean_removes_a_module_no_longer_compiled(tmp_path: Path) -> None:
    root = tree(tmp_path)
    dropped = root / f"gamma{native.SUFFIXES[0]}"  # compiled by an earlier build
    dropped.write_bytes(b"")
    (root / "gamma.py").write_text("WHO = 'gamma'\n")
    native.clean(root)
    assert sorted(p.name for p in root.iterdir()) == ["alpha.py", "beta.py", "gamma.py"]
