"""py-spy around the stack benchmark's measured windows (`bench/stack.py --profile DIR`).

`record()` samples one process (and its uvicorn workers) without pausing it; `top_frames()`
reads the collapsed stacks it wrote and turns sample counts into CPU milliseconds per
request: a sample is 1/rate seconds of a running thread (idle threads are not sampled).

    .venv/bin/python bench/pyspy.py DIR/catalog-courses.txt --requests 1234   # again
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

PY_SPY = Path(sys.executable).parent / "py-spy"
RATE = 250  # samples per second: ~1 ms of a 4-20 ms page is resolution enough
# "function (path:line)"; the path made readable below.
_FRAME = re.compile(r"^(?P<function>.*) \((?P<path>.*?)(?::(?P<line>\d+))?\)$")
_SHORTEN = (
    re.compile(r"^.*/site-packages/"),
    re.compile(r"^.*/(?=(coursegraph|subgraphs|router|launcher)/)"),
)


def record(pid: int, seconds: int, output: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling `pid` and its children for `seconds` into `output` (collapsed)."""
    if not PY_SPY.exists():
        raise SystemExit("py-spy is not installed: `make install` (it is a dev dependency).")
    return subprocess.Popen(
        [str(PY_SPY), "record", "--pid", str(pid), "--subprocesses", "--nonblocking",
         "--function", "--rate", str(RATE), "--duration", str(seconds), "--format", "raw",
         "--output", str(output)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def label(frame: str) -> str:
    """`function (file)`, with the path from the package root."""
    found = _FRAME.match(frame)
    if found is None:
        return frame
    path = found["path"]
    for pattern in _SHORTEN:
        path = pattern.sub("", path)
    return f"{found['function']} ({path})"


@dataclass
class Profile:
    samples: int
    own: Counter[str]  # samples whose innermost frame is the function
    total: Counter[str]  # samples with the function anywhere on the stack

    def ms(self, samples: int, requests: int, rate: int = RATE) -> float:
        return samples * 1000 / rate / max(requests, 1)


def read(path: Path) -> Profile:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        # With --subprocesses the first frame names the process: not a function.
        frames = [label(f) for f in stack.split(";") if not f.startswith("process ")]
        if not frames:
            continue
        samples += n
        own[frames[-1]] += n
        for function in set(frames):
            total[function] += n
    return Profile(samples, own, total)


def top_frames(path: Path, requests: int, count: int = 15) -> str:
    """The functions that took most CPU (own, and with what they called), in ms/request."""
    profile = read(path)
    lines = [f"{path.name}: {profile.ms(profile.samples, requests):.2f} ms CPU per request "
             f"sampled ({profile.samples} samples at {RATE}/s, {requests} requests)",
             "  own time (innermost frame):"]  # fmt: skip
    lines += [
        f"    {profile.ms(n, requests):6.2f} ms  {100 * n / max(profile.samples, 1):4.1f} %  {f}"
        for f, n in profile.own.most_common(count)
    ]
    lines.append("  with callees (anywhere on the stack):")
    lines += [
        f"    {profile.ms(n, requests):6.2f} ms  {100 * n / max(profile.samples, 1):4.1f} %  {f}"
        for f, n in profile.total.most_common(count)
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="collapsed stacks written by record()")
    parser.add_argument("--requests", type=int, required=True, help="requests in the window")
    parser.add_argument("--count", type=int, default=15, help="functions listed")
    args = parser.parse_args()
    print(top_frames(args.file, args.requests, args.count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
