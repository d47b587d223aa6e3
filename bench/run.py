#!/usr/bin/env python3
"""Gateway benchmark: the heavy TestQuery through each gateway, closed loop, one core each
(and both cores for the `-2c` rows).

    python bench/run.py [--gateways apollo,hive,hive-rust,grafbase,coursegraph,coursegraph-bare,
                                    grafbase-2c,coursegraph-2c]
                        [--duration 30]
                        [--warmup 10] [--connections 50] [--markdown FILE]
    .venv/bin/python bench/run.py --gateways coursegraph --profile DIR   # py-spy the router

What it does (see docs/benchmarks.md):
  1. installs bench/node_modules with `npm ci` when missing (dev-only npm packages), and
     the Grafbase CLI (a static binary in an npm package for Linux x86_64 only, so not in
     bench/package.json) into bench/.work/grafbase when that gateway is chosen;
  2. starts the four bench subgraphs (one Node process) pinned to the load core;
  3. for each gateway: starts it pinned to the gateway core with `taskset` (a `-2c` row:
     both cores, shared with the subgraphs and wrk), checks a full
     response against bench/expected-response.json, warms up, then drives it with `wrk`
     (closed loop, N connections, on the load core) while sampling the gateway's CPU time
     and memory; wrk's Lua script checks EVERY response (status 200, no "errors", exact
     length); checks a full response again; stops the gateway; then replays the subgraph
     requests this gateway made straight at the subgraphs to show their own rate;
  4. prints a table (and writes it as markdown with --markdown) and stops everything.

A gateway that fails to start or gives a wrong result is skipped with a message.
Only the Python standard library is used; `wrk` comes from Debian (`apt-get install wrk`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / ".work"
SUBGRAPH_PORT = 4210  # fixed: it is written into the committed supergraph.graphql
GRAFBASE_PACKAGE = "@grafbase/cli-x86_64-unknown-linux-musl"
GRAFBASE_VERSION = "0.103.0"
GRAFBASE_DIR = WORK / "grafbase"
GRAFBASE_BIN = GRAFBASE_DIR / "node_modules" / GRAFBASE_PACKAGE / "grafbase"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Gateway:
    name: str
    label: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    # 1: pinned to --gateway-cpu; 2: may run on both cores (a `-2c` row).
    cores: int = 1


def gateway_specs(port: int) -> dict[str, Gateway]:
    bin_dir = BENCH / "node_modules" / ".bin"
    sg = str(BENCH / "supergraph.graphql")
    node_env = {"NODE_ENV": "production"}
    # Like NODE_ENV for the JS gateways: no development-only extras (extensions.cost would
    # change every response's length, which wrk checks).
    python_env = {"COURSEGRAPH_ENV": "test"}
    listen = ["--host", "127.0.0.1", "--port", str(port)]
    hive = [str(bin_dir / "hive-gateway"), "supergraph", sg, *listen, "--fork", "1"]
    grafbase = [
        str(GRAFBASE_BIN),
        "dev",
        "--config",
        str(WORK / "grafbase.toml"),
        "--listen-address",
        f"127.0.0.1:{port}",
    ]
    grafbase_env = {"HOME": str(GRAFBASE_DIR / "home")}
    coursegraph = [str(REPO / ".venv" / "bin" / "coursegraph"), "router", "--supergraph", sg]
    return {
        "apollo": Gateway(
            "apollo",
            "Apollo Gateway",
            ["node", str(BENCH / "gateways" / "apollo.mjs"), "--supergraph", sg, *listen],
            node_env,
        ),
        "hive": Gateway(
            "hive",
            "Hive Gateway",
            [*hive, "-c", str(BENCH / "gateways" / "hive.config.mjs"), "--jit"],
            node_env,
        ),
        "hive-rust": Gateway(
            "hive-rust",
            "Hive Gateway + Rust planner",
            [*hive, "-c", str(BENCH / "gateways" / "hive-rust.config.mjs")],
            node_env,
        ),
        # `grafbase dev` runs the Grafbase Gateway (Rust, multi-threaded) from grafbase.toml:
        # the same engine as the standalone `grafbase-gateway`, plus composition of the
        # subgraph schema files at start-up and the Explorer UI (assets under $HOME/.grafbase).
        "grafbase": Gateway(
            "grafbase",
            f"Grafbase Gateway {GRAFBASE_VERSION} (grafbase dev)",
            grafbase,
            grafbase_env,
        ),
        # Multi-threaded: the same process, allowed both cores.
        "grafbase-2c": Gateway(
            "grafbase-2c",
            f"Grafbase Gateway {GRAFBASE_VERSION} (grafbase dev), 2 cores",
            grafbase,
            grafbase_env,
            cores=2,
        ),
        "coursegraph": Gateway(
            "coursegraph",
            "Coursegraph router (default edge)",
            [*coursegraph, *listen, "--workers", "1"],
            python_env,
        ),
        "coursegraph-bare": Gateway(
            "coursegraph-bare",
            "Coursegraph router (edge off)",
            [*coursegraph, "--config", str(BENCH / "router-bare.yaml"), *listen, "--workers", "1"],
            python_env,
        ),
        # One worker process per core sharing the port, as in production (WORKERS = cores).
        "coursegraph-2c": Gateway(
            "coursegraph-2c",
            "Coursegraph router (default edge), 2 workers, 2 cores",
            [*coursegraph, *listen, "--workers", "2"],
            python_env,
            cores=2,
        ),
    }


@dataclass
class Result:
    gateway: str
    label: str
    status: str = "ok"
    note: str = ""
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    cpu_ms_per_req: float = 0.0
    cpu_util: float = 0.0
    rps_per_core: float = 0.0
    others_on_core: float = 0.0
    peak_rss_mib: float = 0.0
    requests: int = 0
    bad_responses: int = 0
    socket_errors: int = 0
    subgraph_calls_per_req: float = 0.0
    subgraph_cpu_util: float = 0.0
    subgraph_rps_alone: float = 0.0
    subgraph_capacity_rps: float = 0.0
    response_bytes: int = 0
    cores: int = 1


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- processes


class Proc:
    """A process we started in its own session, so its whole tree can be measured/stopped."""

    def __init__(self, name: str, cmd: list[str], cpu: str, env: dict[str, str] | None = None):
        WORK.mkdir(exist_ok=True)
        self.name = name
        self.log_path = WORK / f"{name}.log"
        self.log_file = self.log_path.open("w")
        full_env = {**os.environ, **(env or {})}
        self.popen = subprocess.Popen(
            ["taskset", "-c", cpu, *cmd],
            cwd=BENCH,
            env=full_env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.sid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def pids(self) -> list[int]:
        """All live processes of this session (the gateway and any workers it forked)."""
        out = []
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[3]) == self.sid:  # field 6 of /proc/pid/stat: session id
                out.append(int(entry.name))
        return out

    def cpu_seconds(self) -> float:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{pid}/stat").read_text()
                fields = stat[stat.rindex(")") + 2 :].split()
                total += int(fields[11]) + int(fields[12])  # utime + stime
        return total / CLK_TCK

    def rss_bytes(self) -> int:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError, IndexError, ValueError):
                total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        return total

    def stop(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.sid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=8)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.sid, signal.SIGKILL)
                self.popen.wait(timeout=5)
        # workers left behind in the session (if any)
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.log_file.close()

    def tail(self, n: int = 15) -> str:
        self.log_file.flush()
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])


def core_times(cpu: int) -> tuple[int, int]:
    """(process time, total) jiffies of one core, from /proc/stat. Process time is user +
    nice + system: interrupt time (mostly the loopback TCP work of the benchmark's own
    traffic) is left out."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            v = [int(x) for x in line.split()[1:]]
            total = sum(v[:8])  # guest time is already counted in user
            return v[0] + v[1] + v[2], total
    raise RuntimeError(f"no cpu{cpu} in /proc/stat")


def cores_busy(cpus: list[int]) -> tuple[int, float]:
    """(process jiffies summed over `cpus`, jiffies of one core) since boot."""
    times = [core_times(c) for c in cpus]
    return sum(t[0] for t in times), sum(t[1] for t in times) / len(cpus)


def children_cpu_seconds() -> float:
    """CPU time of the finished children of this driver (wrk runs as one)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_quiet(cores: list[int], limit: float, max_wait: float) -> float:
    """Wait until each core is at most `limit` busy over one second (or give up after
    `max_wait` s); return the highest busy fraction seen in the last check."""
    deadline = time.monotonic() + max_wait
    said = 0.0
    while True:
        before = [core_times(c) for c in cores]
        time.sleep(1.0)
        after = [core_times(c) for c in cores]
        busy = max((a[0] - b[0]) / max(1, a[1] - b[1]) for a, b in zip(after, before, strict=True))
        if busy <= limit or time.monotonic() >= deadline:
            return busy
        if time.monotonic() - said > 15:
            log(f"machine busy ({busy:.0%} of a core used by others); waiting up to {max_wait:g} s")
            said = time.monotonic()


class RssSampler(threading.Thread):
    def __init__(self, proc: Proc, every: float = 0.25):
        super().__init__(daemon=True)
        self.proc, self.every, self.peak = proc, every, 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, self.proc.rss_bytes())
            self._stop_event.wait(self.every)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak


# --------------------------------------------------------------------------- HTTP helpers


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def http(url: str, body: bytes | None = None, timeout: float = 10.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    req.add_header("Content-Type", "application/json")
    req.add_header("Accept", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_ready(proc: Proc, url: str, timeout: float) -> str | None:
    """Wait until `{ __typename }` answers; return an error message or None."""
    deadline = time.monotonic() + timeout
    probe = json.dumps({"query": "{ __typename }"}).encode()
    while time.monotonic() < deadline:
        if not proc.alive():
            return f"exited with code {proc.popen.returncode}"
        with contextlib.suppress(OSError):
            status, body = http(url, probe, timeout=2)
            if status == 200 and b'"Query"' in body:
                return None
        time.sleep(0.2)
    return f"not answering after {timeout:g} s"


def first_difference(expected: object, got: object, path: str = "") -> str | None:
    if type(expected) is not type(got):
        return f"{path or '/'}: expected {type(expected).__name__}, got {type(got).__name__}"
    if isinstance(expected, dict) and isinstance(got, dict):
        for key in expected.keys() | got.keys():
            if key not in got or key not in expected:
                return f"{path}/{key}: missing on one side"
            diff = first_difference(expected[key], got[key], f"{path}/{key}")
            if diff:
                return diff
        return None
    if isinstance(expected, list) and isinstance(got, list):
        if len(expected) != len(got):
            return f"{path}: expected {len(expected)} items, got {len(got)}"
        for i, (a, b) in enumerate(zip(expected, got, strict=True)):
            diff = first_difference(a, b, f"{path}/{i}")
            if diff:
                return diff
        return None
    return None if expected == got else f"{path}: expected {expected!r}, got {got!r}"


def check_response(url: str, body: bytes, expected: object) -> tuple[str | None, int]:
    """Return (problem or None, response length)."""
    try:
        status, raw = http(url, body, timeout=30)
    except OSError as e:
        return f"request failed: {e}", 0
    if status != 200:
        return f"HTTP {status}: {raw[:300]!r}", len(raw)
    try:
        got = json.loads(raw)
    except ValueError:
        return f"not JSON: {raw[:300]!r}", len(raw)
    if isinstance(got, dict) and got.get("errors"):
        return f"GraphQL errors: {json.dumps(got['errors'])[:300]}", len(raw)
    diff = first_difference(expected, got)
    return (f"wrong result at {diff}" if diff else None), len(raw)


# --------------------------------------------------------------------------- wrk


def run_wrk(
    url: str,
    script: Path,
    seconds: int,
    connections: int,
    cpu: int,
    env: dict[str, str],
) -> dict[str, float]:
    cmd = ["taskset", "-c", str(cpu), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    cmd += ["--timeout", "10s", "-s", str(script), url]
    out = subprocess.run(
        cmd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    for line in out.stdout.splitlines():
        if line.startswith("WRKJSON "):
            parsed: dict[str, float] = json.loads(line[len("WRKJSON ") :])
            return parsed
    raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout[-500:]} {out.stderr[-500:]}")


def lua_long_string(text: str) -> str:
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]"


def write_mix(distinct: list[dict[str, object]], path: Path) -> int:
    """Write the recorded subgraph requests as a Lua list, each repeated by its count."""
    entries = []
    for item in distinct:
        count = int(str(item["count"]))
        entry = f"{{path = {lua_long_string(str(item['route']))}, "
        entry += f"body = {lua_long_string(str(item['body']))}}}"
        entries.extend([entry] * count)
    path.write_text("return {\n" + ",\n".join(entries) + "\n}\n")
    return len(entries)


# --------------------------------------------------------------------------- main flow


def ensure_npm() -> None:
    if (BENCH / "node_modules" / ".bin" / "hive-gateway").exists():
        return
    log("installing bench/node_modules (npm ci) ...")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BENCH, check=True)


def ensure_grafbase() -> None:
    """The pinned Grafbase CLI in bench/.work/grafbase, and grafbase.toml naming the bench
    subgraphs (URL from the supergraph, schema file beside the subgraphs' server)."""
    meta = GRAFBASE_DIR / "node_modules" / GRAFBASE_PACKAGE / "package.json"
    installed = None
    with contextlib.suppress(OSError, ValueError):
        installed = json.loads(meta.read_text())["version"]
    if installed != GRAFBASE_VERSION:
        log(f"installing {GRAFBASE_PACKAGE}@{GRAFBASE_VERSION} into {GRAFBASE_DIR} ...")
        GRAFBASE_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                *("npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix", "."),
                f"{GRAFBASE_PACKAGE}@{GRAFBASE_VERSION}",
            ],
            cwd=GRAFBASE_DIR,
            check=True,
        )
    lines: list[str] = []
    for name in ("accounts", "inventory", "products", "reviews"):
        lines += [
            f"[subgraphs.{name}]",
            f'url = "http://127.0.0.1:{SUBGRAPH_PORT}/{name}"',
            f"schema_path = {json.dumps(str(BENCH / 'subgraphs' / f'{name}.graphql'))}",
            "",
        ]
    # Identical concurrent requests would share one execution: a benchmark artefact, not
    # the per-request cost this table compares.
    lines += ["[traffic_shaping]", "inflight_deduplication = false", ""]
    (WORK / "grafbase.toml").write_text("\n".join(lines))


def versions() -> dict[str, str]:
    info: dict[str, str] = {}
    for pkg in (
        "@apollo/gateway",
        "@apollo/server",
        "@apollo/subgraph",
        "@apollo/composition",
        "@graphql-hive/gateway",
        "@graphql-hive/router-runtime",
        "graphql",
    ):
        with contextlib.suppress(OSError, ValueError):
            meta = json.loads((BENCH / "node_modules" / pkg / "package.json").read_text())
            info[pkg] = meta["version"]
    with contextlib.suppress(OSError, ValueError):
        meta = json.loads((GRAFBASE_BIN.parent / "package.json").read_text())
        info["grafbase"] = meta["version"]
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    info["node"] = node.stdout.strip()
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    info["wrk"] = (wrk.stdout or wrk.stderr).split(" [")[0].removeprefix("wrk ").strip()
    info["python"] = platform.python_version()
    return info


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def profile_start(
    gw: Gateway, proc: Proc, args: argparse.Namespace
) -> tuple[subprocess.Popen[bytes], Path] | None:
    """py-spy over the measured window, on the load core, for our (Python) gateways."""
    if args.profile is None or not gw.name.startswith("coursegraph"):
        return None
    import pyspy  # bench/pyspy.py, beside this script

    args.profile.mkdir(parents=True, exist_ok=True)
    output = (args.profile / f"{gw.name}.txt").resolve()
    # Inherits this driver's affinity: the load core.
    return pyspy.record(proc.popen.pid, args.duration, output), output


def profile_end(
    profiler: tuple[subprocess.Popen[bytes], Path],
    gw: Gateway,
    requests: int,
) -> str:
    import pyspy

    recorder, output = profiler
    _, error = recorder.communicate(timeout=60)
    if recorder.returncode != 0 or not output.exists():
        return f"py-spy failed: {error.decode(errors='replace')[-300:]}"
    top = pyspy.top_frames(output, requests, count=25)
    summary = output.with_name(f"{gw.name}-top.txt")
    summary.write_text(top + "\n")
    print(top, flush=True)
    return f"profiled (py-spy), top frames in {summary}"


@contextlib.contextmanager
def started(proc: Proc) -> Iterator[Proc]:
    try:
        yield proc
    finally:
        proc.stop()


def bench_gateway(
    gw: Gateway, args: argparse.Namespace, body: bytes, expected: object, sg_url: str
) -> Result:
    res = Result(gw.name, gw.label)
    exe = gw.command[0]
    if not (Path(exe).exists() or shutil.which(exe)):
        res.status, res.note = "skipped", f"{exe} not found"
        log(f"{gw.name}: SKIPPED ({res.note})")
        return res
    if port_in_use(args.port):
        res.status, res.note = "skipped", f"port {args.port} already in use"
        log(f"{gw.name}: SKIPPED ({res.note})")
        return res
    url = f"http://127.0.0.1:{args.port}/graphql"
    if args.quiet_wait > 0:
        busy = wait_quiet([args.gateway_cpu, args.load_cpu], 0.15, args.quiet_wait)
        if busy > 0.15:
            log(f"still {busy:.0%} busy after {args.quiet_wait:.0f} s; measuring anyway")
    # A 2-core row shares the load core with the subgraphs and wrk, as a gateway on a
    # 2-core host shares it with whatever else runs there.
    cpus = sorted({args.gateway_cpu, args.load_cpu}) if gw.cores > 1 else [args.gateway_cpu]
    cpu_list = ",".join(map(str, cpus))
    log(f"{gw.name}: starting on core(s) {cpu_list}: {' '.join(gw.command)}")
    with started(Proc(f"gateway-{gw.name}", gw.command, cpu_list, gw.env)) as proc:
        sampler = RssSampler(proc)
        sampler.start()
        err = wait_ready(proc, url, args.start_timeout)
        if err:
            sampler.stop()
            res.status, res.note = "skipped", f"did not start: {err}"
            log(f"{gw.name}: SKIPPED ({res.note}); last log lines:\n{proc.tail()}")
            return res
        http(f"{sg_url}/__reset", b"{}")
        problem, length = check_response(url, body, expected)
        one = json.loads(http(f"{sg_url}/__stats")[1])  # the fan-out of ONE TestQuery
        res.subgraph_calls_per_req = float(one["requests"])
        if problem:
            sampler.stop()
            res.status, res.note = "skipped", f"wrong response before load: {problem}"
            log(f"{gw.name}: SKIPPED ({res.note})")
            return res
        res.response_bytes = length
        wrk_env = {
            "BENCH_BODY_FILE": str(WORK / "request.json"),
            "BENCH_EXPECT_LEN": str(length),
        }
        script = BENCH / "wrk" / "testquery.lua"
        if args.warmup > 0:
            log(f"{gw.name}: warm-up {args.warmup} s")
            run_wrk(url, script, args.warmup, args.connections, args.load_cpu, wrk_env)
        http(f"{sg_url}/__reset", b"{}")
        sg_before = json.loads(http(f"{sg_url}/__stats")[1])
        profiler = profile_start(gw, proc, args)
        core_before, wrk_before = cores_busy(cpus), children_cpu_seconds()
        cpu_before, t0 = proc.cpu_seconds(), time.monotonic()
        log(f"{gw.name}: measuring {args.duration} s, {args.connections} connections")
        w = run_wrk(url, script, args.duration, args.connections, args.load_cpu, wrk_env)
        wall = time.monotonic() - t0
        cpu = proc.cpu_seconds() - cpu_before
        core_after, wrk_cpu = cores_busy(cpus), children_cpu_seconds() - wrk_before
        sg_after = json.loads(http(f"{sg_url}/__stats")[1])
        problem_after, _ = check_response(url, body, expected)
        if profiler is not None:
            log(f"{gw.name}: {profile_end(profiler, gw, int(w['requests']))}")
        res.peak_rss_mib = sampler.stop() / 2**20
        if not proc.alive():
            res.note = f"gateway exited during the run (code {proc.popen.returncode})"

    n = int(w["requests"])
    res.requests = n
    res.rps = n / (w["duration_us"] / 1e6)
    res.p50_ms, res.p99_ms = w["p50_us"] / 1000, w["p99_us"] / 1000
    res.cpu_ms_per_req = cpu * 1000 / n if n else 0.0
    res.cpu_util = cpu / wall
    res.rps_per_core = 1000 / res.cpu_ms_per_req if res.cpu_ms_per_req else 0.0
    res.cores = len(cpus)
    busy = core_after[0] - core_before[0]
    total = core_after[1] - core_before[1]
    res.bad_responses = int(w["bad_status"] + w["with_errors"] + w["bad_length"])
    res.socket_errors = int(
        w["connect_errors"] + w["read_errors"] + w["write_errors"] + w["timeouts"]
    )
    res.subgraph_cpu_util = (sg_after["cpuSeconds"] - sg_before["cpuSeconds"]) / wall
    # Whatever ran on the gateway's core(s) besides the gateway (other people's work,
    # kernel), in cores; on a 2-core row the subgraphs and wrk share them and are ours.
    ours = res.cpu_util + (res.subgraph_cpu_util + wrk_cpu / wall if len(cpus) > 1 else 0.0)
    res.others_on_core = max(0.0, busy / total - ours) if total else 0.0
    notes = [res.note] if res.note else []
    if problem_after:
        notes.append(f"wrong response after load: {problem_after}")
    if res.bad_responses or res.socket_errors:
        notes.append(f"{res.bad_responses} bad responses, {res.socket_errors} socket errors")
    if res.others_on_core > 0.05:
        used = (
            f"{res.others_on_core:.0%} of the gateway's core"
            if len(cpus) == 1
            else f"{res.others_on_core:.2f} cores of the gateway's {len(cpus)}"
        )
        notes.append(
            f"other processes used {used}: "
            "RPS is lowered and CPU ms/req inflated; re-run on a quiet machine"
        )
    if res.subgraph_cpu_util > 0.8:
        notes.append("subgraphs above 80% of their core: result may be subgraph-bound")

    res.note = "; ".join(notes)
    if notes:
        res.status = "suspect"

    # The subgraphs' own rate for this gateway's request mix (gateway stopped now).
    distinct = one.get("distinct", [])
    if distinct and args.subgraph_check > 0:
        mix_file = WORK / f"mix-{gw.name}.lua"
        write_mix(distinct, mix_file)
        sgw = run_wrk(
            f"{sg_url}/",
            BENCH / "wrk" / "mix.lua",
            args.subgraph_check,
            args.connections,
            args.gateway_cpu,  # the gateway's core is free now: wrk there, subgraphs stay
            {"BENCH_MIX_FILE": str(mix_file), "BENCH_HOST": f"127.0.0.1:{SUBGRAPH_PORT}"},
        )
        res.subgraph_rps_alone = sgw["requests"] / (sgw["duration_us"] / 1e6)
        if res.subgraph_calls_per_req:
            res.subgraph_capacity_rps = res.subgraph_rps_alone / res.subgraph_calls_per_req
        if sgw["bad"]:
            res.note += f"; {sgw['bad']} bad subgraph responses in the replay"
    log(
        f"{gw.name}: {res.rps:.1f} req/s, p50 {res.p50_ms:.1f} ms, p99 {res.p99_ms:.1f} ms, "
        f"{res.cpu_ms_per_req:.2f} ms CPU/req, peak RSS {res.peak_rss_mib:.0f} MiB, "
        f"{res.bad_responses} bad of {n}"
    )
    return res


def pick(rounds: list[Result]) -> Result:
    """Of several rounds of one gateway, the measured one least disturbed by other
    processes on the gateway's core."""
    measured = [r for r in rounds if r.status != "skipped"]
    if not measured:
        return rounds[-1]
    best = min(measured, key=lambda r: r.others_on_core)
    if len(rounds) > 1:
        best.note = "; ".join(
            x
            for x in (
                best.note,
                f"least disturbed of {len(rounds)} rounds (RPS per core in each: "
                + ", ".join(f"{r.rps_per_core:.0f}" for r in measured)
                + ")",
            )
            if x
        )
    return best


def busy_cell(r: Result) -> str:
    if r.cores == 1:
        return f"{r.cpu_util:.0%} ({r.others_on_core:.0%})"
    # in cores: on a 2-core row a percentage of one core would read as overload
    return f"{r.cpu_util:.2f} of {r.cores} ({r.others_on_core:.2f})"


def table(results: list[Result]) -> str:
    head = (
        "| Gateway | RPS per core (1000 / CPU ms) | CPU ms/req | RPS measured | p50 ms | p99 ms "
        "| gateway core(s) busy (others) | peak RSS MiB | requests (bad) | subgraph calls/req "
        "| subgraph core busy | subgraphs alone: calls/s (≙ gateway req/s) |"
    )
    rows = [head, "|---" * 12 + "|"]
    for r in results:
        if r.status == "skipped":
            rows.append(f"| {r.label} | skipped: {r.note} |" + " |" * 10)
            continue
        rows.append(
            f"| {r.label} | {r.rps_per_core:.0f} | {r.cpu_ms_per_req:.2f} | {r.rps:.1f} "
            f"| {r.p50_ms:.1f} | {r.p99_ms:.1f} "
            f"| {busy_cell(r)} | {r.peak_rss_mib:.0f} "
            f"| {r.requests} ({r.bad_responses}) | {r.subgraph_calls_per_req:.1f} "
            f"| {r.subgraph_cpu_util:.0%} "
            f"| {r.subgraph_rps_alone:,.0f} (≙ {r.subgraph_capacity_rps:,.0f}) |"
        )
    return "\n".join(rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--gateways",
        default="apollo,hive,hive-rust,grafbase,coursegraph,coursegraph-bare,"
        "grafbase-2c,coursegraph-2c",
    )
    p.add_argument("--duration", type=int, default=30, help="measured seconds per gateway")
    p.add_argument("--warmup", type=int, default=10, help="warm-up seconds per gateway")
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--port", type=int, default=4300, help="gateway port")
    p.add_argument("--gateway-cpu", type=int, default=1, help="core the gateway is pinned to")
    p.add_argument("--load-cpu", type=int, default=0, help="core for subgraphs and wrk")
    p.add_argument("--start-timeout", type=float, default=60.0)
    p.add_argument(
        "--subgraph-check", type=int, default=10, help="seconds of direct subgraph replay"
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before each gateway, wait up to this long for both cores to be idle (0: don't)",
    )
    p.add_argument(
        "--nice",
        type=int,
        default=0,
        help="scheduling priority for the run and everything it starts (e.g. -10 as root\n"
        "on a machine shared with other work, so the measured processes get their cores)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds over all gateways; per gateway the round least disturbed by other\n"
        "processes is reported",
    )
    p.add_argument("--markdown", type=Path, help="also write the results as markdown here")
    p.add_argument(
        "--profile",
        type=Path,
        help="py-spy the Coursegraph router (all its workers) during each measured window:\n"
        "collapsed stacks and top frames in ms per request into this directory\n"
        "(run with .venv/bin/python, where py-spy is installed; skews CPU ms/req a little)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Stop cleanly (every process we started) on SIGTERM, and on SIGINT even when started
    # in the background with SIGINT ignored.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    specs = gateway_specs(args.port)
    chosen = [g.strip() for g in args.gateways.split(",") if g.strip()]
    unknown = [g for g in chosen if g not in specs]
    if unknown:
        print(f"unknown gateway(s): {', '.join(unknown)}; known: {', '.join(specs)}")
        return 2
    for tool in ("wrk", "taskset", "node", "npm"):
        if not shutil.which(tool):
            hint = " (apt-get install wrk)" if tool == "wrk" else ""
            print(f"{tool} is required{hint}")
            return 2
    if max(args.gateway_cpu, args.load_cpu) >= (os.cpu_count() or 1):
        print("not enough cores for --gateway-cpu/--load-cpu")
        return 2
    ensure_npm()
    WORK.mkdir(exist_ok=True)
    if "grafbase" in chosen:
        if platform.system() != "Linux" or platform.machine() != "x86_64":
            print(f"{GRAFBASE_PACKAGE} runs on Linux x86_64 only; leave grafbase out")
            return 2
        ensure_grafbase()
    query = (BENCH / "query.graphql").read_text()
    body = json.dumps({"query": query, "operationName": "TestQuery"}).encode()
    (WORK / "request.json").write_bytes(body)
    expected = json.loads((BENCH / "expected-response.json").read_text())
    os.sched_setaffinity(0, {args.load_cpu})  # this driver stays off the gateway's core
    if args.nice:
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)  # inherited by all we start

    if port_in_use(SUBGRAPH_PORT):
        print(f"port {SUBGRAPH_PORT} (bench subgraphs) is in use; stop what holds it first")
        return 2
    sg_url = f"http://127.0.0.1:{SUBGRAPH_PORT}"
    runs: dict[str, list[Result]] = {}
    started_at = dt.datetime.now(dt.UTC)
    sg_cmd = ["node", str(BENCH / "subgraphs" / "server.mjs"), "--port", str(SUBGRAPH_PORT)]
    sg_env = {"NODE_ENV": "production"}
    with started(Proc("subgraphs", sg_cmd, str(args.load_cpu), sg_env)) as sg:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError):
                if http(f"{sg_url}/health")[0] == 200:
                    break
            if time.monotonic() > deadline or not sg.alive():
                print(f"bench subgraphs did not start:\n{sg.tail()}")
                return 1
            time.sleep(0.2)
        runs = {name: [] for name in chosen}
        for rep in range(args.repeat):
            for name in chosen:
                if args.repeat > 1:
                    log(f"{name}: round {rep + 1} of {args.repeat}")
                try:
                    runs[name].append(bench_gateway(specs[name], args, body, expected, sg_url))
                except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                    log(f"{name}: FAILED ({e})")
                    runs[name].append(Result(name, specs[name].label, "skipped", f"failed: {e}"))
        results = [pick(runs[name]) for name in chosen]

    info = versions()
    meta = {
        "date": started_at.strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{cpu_model()}, {os.cpu_count()} cores",
        "kernel": platform.release(),
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "connections": args.connections,
        "nice": args.nice,
        "repeat": args.repeat,
        "versions": info,
    }
    out = table(results)
    niced = f", nice {args.nice}" if args.nice else ""
    print()
    print(out)
    print()
    print(
        f"{meta['date']}; {meta['cpu']}; gateway pinned to core {args.gateway_cpu}, "
        f"subgraphs + wrk on core {args.load_cpu}; {args.connections} connections, "
        f"{args.warmup} s warm-up + {args.duration} s measured per gateway{niced}"
    )
    print("versions: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    for r in results:
        if r.note:
            print(f"note — {r.label}: {r.note}")
    (WORK / "results.json").write_text(
        json.dumps(
            {
                "meta": meta,
                "results": [asdict(r) for r in results],
                "rounds": {name: [asdict(r) for r in rs] for name, rs in runs.items()},
            },
            indent=2,
        )
    )
    if args.markdown:
        md = [out, ""]
        md.append(
            f"{meta['date']} · {meta['cpu']} · gateway on core {args.gateway_cpu}, "
            f"subgraphs + wrk on core {args.load_cpu} · {args.connections} connections · "
            f"{args.warmup} s warm-up + {args.duration} s measured{niced}"
        )
        md.append("")
        md.append("Versions: " + ", ".join(f"{k} {v}" for k, v in info.items()))
        notes = [f"- {r.label}: {r.note}" for r in results if r.note]
        if notes:
            md += ["", *notes]
        args.markdown.write_text("\n".join(md) + "\n")
        log(f"markdown written to {args.markdown}")
    return 0 if all(r.status == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
