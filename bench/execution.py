"""The router's execution and projection of bench/run.py's TestQuery, alone, in one process:
compiled (router/native.py) against the same sources interpreted, and optionally another
checkout's, alternated round by round so that the machine's load weighs on each alike.

    .venv/bin/python bench/execution.py [--rounds 7] [--before /work/main]

The plan is executed against the subgraphs' answers recorded once from the four bench
subgraphs (Node, started here on port 4219) and parsed again from their JSON bytes at every
fetch, as the HTTP client would; then the response is projected. What is left out is the
server, the subgraph client and the network: figures are CPU µs per TestQuery, medians
(docs/benchmarks-log.md, "In-process: optimised and compiled").
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import httpx
import orjson
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse

import router.executor
import router.projection
from router import native
from router.api_schema import build_api_schema
from router.planner.builder import PlanBuilder
from router.supergraph import Supergraph

BENCH = Path(__file__).resolve().parent
PORT = 4219
CALLS = 200


def interpreted(name: str, root: Path, label: str) -> ModuleType:
    """Module `name` run from `root`'s source, under a name of its own."""
    spec = importlib.util.spec_from_file_location(
        f"{name}_{label}", root / (name.replace(".", "/") + ".py")
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


class Recorded:
    """A stand-in for a subgraph's traffic: answers recorded once over HTTP, then parsed
    again from their bytes for every fetch."""

    answers: dict[bytes, bytes] = {}
    live = True

    def __init__(self, name: str) -> None:
        self.endpoint = SimpleNamespace(name=name)

    async def request(
        self, payload: Any, headers: Mapping[str, str], idempotent: bool = True
    ) -> Any:
        key = self.endpoint.name.encode() + orjson.dumps(payload)
        if Recorded.live:
            url = f"http://127.0.0.1:{PORT}/{self.endpoint.name}"
            async with httpx.AsyncClient() as client:
                Recorded.answers[key] = (await client.post(url, json=payload)).content
        return orjson.loads(Recorded.answers[key])


async def measure(variants: dict[str, tuple[ModuleType, ModuleType]], rounds: int) -> None:
    supergraph = Supergraph((BENCH / "supergraph.graphql").read_text())
    api = build_api_schema(supergraph)
    document = parse((BENCH / "query.graphql").read_text())
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    expected = orjson.loads((BENCH / "expected-response.json").read_bytes())["data"]
    plan = PlanBuilder(supergraph, operation, fragments, {}).build()
    graphs = {key: graph.name for key, graph in supergraph.subgraphs.items()}
    clients = {key: SimpleNamespace(endpoint=SimpleNamespace(name=n)) for key, n in graphs.items()}

    async def once(executor: Any, projection: ModuleType, compiled: Any) -> Any:
        execution = await executor.execute(plan, {}, {})
        return projection.Projector(execution.errors).run(compiled, execution.data)

    ready = {}
    for label, (executor_module, projection_module) in variants.items():
        traffic = {key: Recorded(name) for key, name in graphs.items()}
        executor = executor_module.Executor(supergraph, clients, traffic)
        compiled = projection_module.Compiler(supergraph.schema, api, fragments, {}).compile(
            operation
        )
        if await once(executor, projection_module, compiled) != expected:
            raise SystemExit(f"{label}: wrong TestQuery response")
        Recorded.live = False
        ready[label] = (executor, projection_module, compiled)
    samples: dict[str, list[float]] = {label: [] for label in ready}
    for _ in range(rounds):
        for label, (executor, projection_module, compiled) in ready.items():
            start = time.process_time()
            for _ in range(CALLS):
                await once(executor, projection_module, compiled)
            samples[label].append((time.process_time() - start) / CALLS * 1e6)
    print("TestQuery executed and projected in process: CPU µs per request")
    for label, values in samples.items():
        print(
            f"  {label:<24} median {statistics.median(values):6,.0f}, min {min(values):6,.0f} "
            f"(rounds: {', '.join(f'{v:,.0f}' for v in values)})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--before", type=Path, help="another checkout, run interpreted too")
    args = parser.parse_args()
    if not native.compiled():
        raise SystemExit(f"the router is not compiled here ({native.refusal()}): make install")
    variants: dict[str, tuple[ModuleType, ModuleType]] = {}
    if args.before is not None:
        variants[f"{args.before} interpreted"] = (
            interpreted("router.executor", args.before, "before"),
            interpreted("router.projection", args.before, "before"),
        )
    variants["interpreted"] = (
        interpreted("router.executor", native.ROUTER.parent, "interpreted"),
        interpreted("router.projection", native.ROUTER.parent, "interpreted"),
    )
    variants["compiled"] = (router.executor, router.projection)
    node = subprocess.Popen(
        ["node", str(BENCH / "subgraphs" / "server.mjs"), "--port", str(PORT)],
        env={**os.environ, "NODE_ENV": "production"},
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{PORT}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        asyncio.run(measure(variants, args.rounds))
    finally:
        node.terminate()
        node.wait(timeout=10)


if __name__ == "__main__":
    main()
