"""`coursegraph schema check`: what a schema registry checks before a merge, run in CI.

(a) each subgraph's committed SDL matches its code; (b) the subgraphs compose; (c) the
committed supergraph.graphql is the one composition writes; (d) the API schema's breaking
and dangerous changes against the base commit's supergraph, breaking ones failing unless
acknowledged in a reviewed file; (e) every client operation validates against the new
API schema. Each step reports in plain lines; the check fails when any step fails.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from graphql import (
    GraphQLError,
    GraphQLSchema,
    find_breaking_changes,
    find_dangerous_changes,
    parse,
    validate,
)

from router.composition import api_graphql_schema, compose
from router.composition.sources import SourceError, read_config, read_sources

SUPERGRAPH_FILE = "supergraph.graphql"
DEFAULT_ACK = "schema-changes.ack"

ExportSdl = Callable[[str], str | None]


@dataclass(slots=True)
class Step:
    label: str
    status: str = "ok"  # ok | fail | skip
    summary: str = ""
    details: list[str] = field(default_factory=list)


@dataclass(slots=True)
class CheckReport:
    steps: list[Step] = field(default_factory=list)
    supergraph_sdl: str | None = None

    @property
    def ok(self) -> bool:
        return all(step.status != "fail" for step in self.steps)

    def render(self) -> str:
        marks = {"ok": "PASS", "fail": "FAIL", "skip": "SKIP"}
        lines = ["schema check"]
        for step in self.steps:
            lines.append(f"  {marks[step.status]}  {step.label}: {step.summary}")
            lines.extend(f"        {detail}" for detail in step.details)
        failed = sum(step.status == "fail" for step in self.steps)
        lines.append("result: " + ("passed" if not failed else f"FAILED ({failed} step(s))"))
        return "\n".join(lines)


def default_base(repo: Path) -> str | None:
    """What the API is compared with.

    On a branch: the merge base with origin/main. On main itself (CI checks a clone of
    main, where that merge base is HEAD): the commit before the latest change to
    supergraph.graphql, so the newest API change is always the one reviewed.
    """
    head = _git(repo, "rev-parse", "HEAD")
    if _git(repo, "rev-parse", "--verify", "-q", "origin/main") is not None:
        merge_base = _git(repo, "merge-base", "HEAD", "origin/main")
        if merge_base is not None and merge_base != head:
            return merge_base
    changed = _git(repo, "log", "-n", "1", "--format=%H", "--", SUPERGRAPH_FILE)
    if changed and _git(repo, "rev-parse", "--verify", "-q", f"{changed}~1") is not None:
        return f"{changed}~1"
    return None


def run_check(
    repo: Path,
    config: Path,
    *,
    supergraph: Path,
    base: str | None,
    ack: Path,
    export_sdl: ExportSdl | None,
) -> CheckReport:
    report = CheckReport()
    report.steps.append(_check_exports(config, export_sdl))
    composed = _check_composition(config, report)
    report.steps.append(_check_committed(supergraph, composed))
    new_schema = api_graphql_schema(composed) if composed else None
    report.steps.append(_check_changes(repo, supergraph, base, ack, new_schema))
    report.steps.append(_check_operations(repo / "clients" / "operations", new_schema))
    return report


def _check_exports(config: Path, export_sdl: ExportSdl | None) -> Step:
    step = Step("(a) subgraph SDL files match code")
    if export_sdl is None:
        return Step(step.label, "skip", "no exporter available")
    try:
        configs = read_config(config)
    except SourceError as error:
        return Step(step.label, "fail", str(error))
    checked: list[str] = []
    stale: list[str] = []
    skipped: list[str] = []
    for entry in configs:
        if entry.file is None:
            skipped.append(f"{entry.name} (no schema file)")
            continue
        try:
            exported = export_sdl(entry.name)
        except Exception as error:  # a subgraph that cannot even import fails this step
            stale.append(f"{entry.name} (cannot export: {type(error).__name__}: {error})")
            continue
        if exported is None:
            skipped.append(f"{entry.name} (no code in this checkout)")
            continue
        committed = entry.file.read_text(encoding="utf-8") if entry.file.exists() else ""
        (checked if committed == exported else stale).append(entry.name)
    if stale:
        step.status = "fail"
        step.summary = "stale: " + ", ".join(stale)
        step.details.append("run `coursegraph schema export` and commit the files")
    elif checked:
        step.summary = ", ".join(checked)
    else:
        step.status, step.summary = "skip", "no subgraph code to compare with"
    step.details.extend(f"skipped {s}" for s in skipped)
    return step


def _check_composition(config: Path, report: CheckReport) -> str | None:
    step = Step("(b) composition")
    report.steps.append(step)
    try:
        sources = read_sources(config)
    except SourceError as error:
        step.status, step.summary = "fail", str(error)
        return None
    result = compose(sources)
    if result.supergraph_sdl is None:
        step.status = "fail"
        step.summary = f"{len(result.errors)} error(s)"
        step.details = [str(e) for e in result.errors]
        return None
    step.summary = f"{len(sources)} subgraph(s) compose: " + ", ".join(s.name for s in sources)
    report.supergraph_sdl = result.supergraph_sdl
    return result.supergraph_sdl


def _check_committed(supergraph: Path, composed: str | None) -> Step:
    label = f"(c) {supergraph.name} is current"
    if composed is None:
        return Step(label, "skip", "composition failed")
    if not supergraph.exists():
        return Step(label, "fail", f"{supergraph.name} is missing: run `coursegraph compose`")
    if supergraph.read_text(encoding="utf-8").strip() != composed.strip():
        return Step(label, "fail", "differs from composition: run `coursegraph compose`")
    return Step(label, "ok", "matches composition")


def read_ack(path: Path) -> set[str]:
    """Acknowledged coordinates, one per line (`Type`, `Type.field`, `Type.field(arg:)`);
    `#` starts a comment."""
    if not path.exists():
        return set()
    found = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = line.split("#", 1)[0].strip()
        if entry:
            found.add(entry)
    return found


def _acknowledged(description: str, acks: set[str]) -> bool:
    words = set(re.findall(r"[_A-Za-z][\w.]*(?:\([_A-Za-z]\w*:\))?", description))
    words |= {w.rstrip(".") for w in words}
    return any(ack in words or ack.split("(")[0] in words for ack in acks)


def _check_changes(
    repo: Path, supergraph: Path, base: str | None, ack: Path, new: GraphQLSchema | None
) -> Step:
    label = "(d) API changes"
    if new is None:
        return Step(label, "skip", "composition failed")
    if base is None:
        return Step(label, "skip", "no base commit to compare with")
    relative = supergraph.resolve().relative_to(repo.resolve()).as_posix()
    old_sdl = _git(repo, "show", f"{base}:{relative}", strip=False)
    if old_sdl is None:
        return Step(label, "skip", f"{relative} does not exist at {base}")
    try:
        old = api_graphql_schema(old_sdl)
    except (GraphQLError, ValueError) as error:
        return Step(label, "skip", f"cannot read {relative} at {base}: {error}")
    acks = read_ack(ack)
    breaking = find_breaking_changes(old, new)
    dangerous = find_dangerous_changes(old, new)
    step = Step(label)
    unacknowledged = 0
    for change in breaking:
        if _acknowledged(change.description, acks):
            step.details.append(f"BREAKING (acknowledged) {change.type.name}: {change.description}")
        else:
            unacknowledged += 1
            step.details.append(f"BREAKING {change.type.name}: {change.description}")
    step.details.extend(f"dangerous {c.type.name}: {c.description}" for c in dangerous)
    step.summary = (
        f"vs {base}: {len(breaking)} breaking ({len(breaking) - unacknowledged} acknowledged), "
        f"{len(dangerous)} dangerous"
    )
    if unacknowledged:
        step.status = "fail"
        step.details.append(
            f"acknowledge a reviewed breaking change by listing its coordinate in {ack.name}"
        )
    return step


def _check_operations(folder: Path, schema: GraphQLSchema | None) -> Step:
    label = "(e) client operations"
    files = sorted(folder.rglob("*.graphql")) if folder.is_dir() else []
    if not files:
        return Step(label, "skip", "no client operations")
    if schema is None:
        return Step(label, "skip", "composition failed")
    step = Step(label)
    for path in files:
        try:
            problems = validate(schema, parse(path.read_text(encoding="utf-8")))
        except GraphQLError as error:
            problems = [error]
        for problem in problems:
            where = path.relative_to(folder).as_posix()
            if problem.locations:
                where += f":{problem.locations[0].line}:{problem.locations[0].column}"
            step.details.append(f"{where}: {problem.message}")
    step.status = "fail" if step.details else "ok"
    step.summary = f"{len(files)} file(s), {len(step.details)} problem(s)"
    return step


def _git(repo: Path, *args: str, strip: bool = True) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, text=True, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() if strip else done.stdout
