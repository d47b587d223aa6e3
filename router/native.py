"""The router's hot modules compiled with mypyc, used only when built from the source beside
them; otherwise (no build, a stale build, COURSEGRAPH_NO_COMPILED=1) the same modules run
interpreted from their .py files.

`make install` builds them (`build`) when a C compiler and Python's headers are there:
one shared library `router/_native__mypyc*.so` plus a small extension
module per compiled module, next to its .py, and `router/native.json`, the SHA-256 of each
source they were built from. The `router` package checks that manifest on import
(`install`): the build is used only when it names every module below with the digest of its
current source; else every compiled module is bypassed — all of them, because compiled
modules of one build call each other's compiled functions directly.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import logging
import os
import shutil
import sys
import sysconfig
from collections.abc import Mapping, Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

# Compiled, in this order: the hot path of executing a plan, then the subgraph HTTP client and
# the request pipeline around it (profiled: docs/benchmarks-log.md).
MODULES = (
    "router.admission",
    "router.projection",
    "router.executor",
    "router.prepared",
    "router.http",
    "router.service",
    "router.direct",
)
DISABLE = "COURSEGRAPH_NO_COMPILED"
# CI: the build must succeed and the tests must run the compiled modules.
REQUIRE = "COURSEGRAPH_REQUIRE_COMPILED"
ROUTER = Path(__file__).resolve().parent
MANIFEST = "native.json"
# The shared library of the compiled modules (mypyc's group), beside them.
GROUP = "router._native"
SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES)
log = logging.getLogger("router")


def flag(name: str, environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get(name, "") not in ("", "0")


def source(name: str, root: Path = ROUTER) -> Path:
    return root / f"{name.rpartition('.')[2]}.py"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def built(name: str, root: Path = ROUTER) -> list[Path]:
    """The compiled extension modules of `name` in `root` (any Python's)."""
    stem = name.rpartition(".")[2]
    return sorted(p for p in root.glob(f"{stem}.*") if p.suffix in (".so", ".pyd"))


def refusal(
    modules: Sequence[str] = MODULES,
    root: Path = ROUTER,
    environ: Mapping[str, str] = os.environ,
    library: str = GROUP + "__mypyc",
) -> str | None:
    """Why the compiled modules may not be used (None: they may): `library` is the shared
    library they all load."""
    if flag(DISABLE, environ):
        return f"{DISABLE} is set"
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return "not built"
    for name in modules:
        if manifest.get(name) != digest(source(name, root)):
            return f"{source(name, root).name} changed since the build (make install rebuilds)"
    for name in (*modules, library):
        if not any(p.name.endswith(SUFFIXES) for p in built(name, root)):
            return "not built for this Python"
    return None


class SourceFinder(importlib.abc.MetaPathFinder):
    """Loads the given modules from their .py files, ahead of any compiled module beside."""

    def __init__(self, modules: Sequence[str], root: Path = ROUTER) -> None:
        self.paths = {name: source(name, root) for name in modules}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        found = self.paths.get(fullname)
        if found is None:
            return None
        return importlib.util.spec_from_file_location(fullname, found)


def install() -> None:
    """At the router package's import: bypass the compiled modules unless they are current.
    Says why in one line when a build is there but not used."""
    reason = refusal()
    if reason is None or any(isinstance(f, SourceFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, SourceFinder(MODULES))
    if any(built(name) for name in MODULES) and not flag(DISABLE):
        log.warning("router: compiled modules not used, running interpreted: %s", reason)


def compiled(modules: Sequence[str] = MODULES) -> bool:
    """Whether the modules, once imported, are the compiled ones."""
    return all(str(importlib.import_module(name).__file__).endswith(SUFFIXES) for name in modules)


def toolchain() -> str | None:
    """What the build lacks (None: a C compiler, Python's headers, mypyc and setuptools)."""
    # setuptools compiles with $CC when set, else with the compiler Python was built with.
    compiler = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return f"no C compiler ({compiler})"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
        return "no Python headers (Python.h)"
    if importlib.util.find_spec("mypyc") is None or importlib.util.find_spec("setuptools") is None:
        return "no mypyc or setuptools (the dev extra)"
    return None


def clean(root: Path = ROUTER) -> None:
    """Remove the build products: the manifest first, so that nothing half-removed is used.
    Every extension module of the package goes, also one of a module compiled by an earlier
    build and no longer in MODULES: Python would import it ahead of its .py."""
    (root / MANIFEST).unlink(missing_ok=True)
    for path in sorted(root.glob("*")):
        if path.suffix in (".so", ".pyd"):
            path.unlink()


def build() -> int:
    """Compile MODULES in place (`make install`); without a toolchain, say so in one line and
    leave the router interpreted (exit status 1 only under COURSEGRAPH_REQUIRE_COMPILED)."""
    required = flag(REQUIRE)
    clean()
    missing = toolchain()
    if missing is not None:
        print(f"router: not compiled, running interpreted ({missing})")
        return 1 if required else 0
    from mypyc.build import mypycify
    from setuptools import setup

    root = ROUTER.parent
    os.chdir(root)  # mypyc names the modules by their paths from here
    # Digests first: a source edited during the build then reads as stale, never as current.
    digests = {name: digest(source(name)) for name in MODULES}
    paths = [str(source(name).relative_to(root)) for name in MODULES]
    try:
        setup(
            name="coursegraph-router-native",
            ext_modules=mypycify(paths, opt_level="3", group_name=GROUP),
            script_args=["--quiet", "build_ext", "--inplace"],
        )
    except (SystemExit, Exception) as exc:  # setuptools exits on a compiler error
        clean()
        print(f"router: not compiled, running interpreted (the build failed: {exc})")
        return 1 if required else 0
    (ROUTER / MANIFEST).write_text(json.dumps(digests, indent=2) + "\n")
    print(f"router: compiled {', '.join(MODULES)} (mypyc)")
    return 0
