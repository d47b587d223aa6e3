"""The stack behind Hive Gateway instead of our router (README "Behind another router").

Hive Gateway serves the committed supergraph (its routing URLs pointed at this stack's
ports) with `docs/hive-gateway.config.mjs`, which sends the router credential
(ROUTER_SHARED_SECRET) to the private subgraphs. Runs when a `hive-gateway` binary is
found: HIVE_GATEWAY_BIN, or on PATH (`npm i @graphql-hive/gateway` outside the repo).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from coursegraph.settings import SUBGRAPHS
from tests.e2e.client import Api
from tests.e2e.conftest import ROUTER_SHARED_SECRET
from tests.e2e.scenario import published_course, upload_lecture_video
from tests.e2e.stack import REPO_ROOT, START_TIMEOUT_SECONDS, Stack, free_ports

HIVE_GATEWAY = os.environ.get("HIVE_GATEWAY_BIN") or shutil.which("hive-gateway")
pytestmark = pytest.mark.skipif(
    HIVE_GATEWAY is None,
    reason="no hive-gateway binary (set HIVE_GATEWAY_BIN or put it on PATH)",
)
GRAPH_URL = re.compile(r'@join__graph\(name: "(\w+)", url: "[^"]+"\)')


def _supergraph_for(stack: Stack, target: Path) -> Path:
    """The committed supergraph, its subgraph URLs replaced by this stack's."""
    committed = (REPO_ROOT / "supergraph.graphql").read_text(encoding="utf-8")

    def local(match: re.Match[str]) -> str:
        name = match.group(1)
        return f'@join__graph(name: "{name}", url: "{stack.services[name].url}/graphql")'

    rewritten, count = GRAPH_URL.subn(local, committed)
    assert count == len(SUBGRAPHS), (
        "every subgraph of the committed supergraph is pointed at the stack"
    )
    target.write_text(rewritten, encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def hive(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    assert HIVE_GATEWAY is not None
    workdir = tmp_path_factory.mktemp("hive")
    supergraph = _supergraph_for(stack, workdir / "supergraph.graphql")
    [port] = free_ports(1)
    log_path = workdir / "hive-gateway.log"
    env = {**os.environ, "ROUTER_SHARED_SECRET": ROUTER_SHARED_SECRET, "NODE_ENV": "production"}
    argv = [HIVE_GATEWAY, "supergraph", str(supergraph)]
    argv += ["-c", str(REPO_ROOT / "docs" / "hive-gateway.config.mjs")]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--fork", "1"]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not _ready(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"hive-gateway did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield Api(f"{url}/graphql")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readiness", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


async def test_hive_gateway_serves_the_stack_with_the_router_credential(
    hive: Api, api: Api
) -> None:
    # Accounts and the catalog, through Hive Gateway alone.
    teacher = await hive.sign_up("TEACHER")
    course = await published_course(hive, teacher)
    me = (await hive.data("MyCourses", token=teacher.token))["me"]["taughtCourses"]
    assert [c["id"] for c in me] == [course.id]
    catalog = (await hive.data("TeacherCatalog", {"teacherId": teacher.id}))["courses"]
    assert [edge["node"]["teacher"]["name"] for edge in catalog["edges"]] == [teacher.name]

    # The upload goes through our router; playback through Hive Gateway needs its
    # @requires (viewerCanWatch from courses) to be trusted by files: the credential.
    lecture_id = course.lecture_ids[0]
    video = await upload_lecture_video(api, teacher, lecture_id)
    student = await hive.sign_up()
    enrolled = (await hive.data("Enroll", {"courseId": course.id}, token=student.token))["enroll"]
    assert enrolled["status"] == "ACTIVE"
    lecture = (await hive.data("Lecture", {"id": lecture_id}, token=student.token))["lecture"]
    assert lecture["video"]["status"] == "READY"
    playback_url = lecture["video"]["playbackUrl"]
    assert playback_url
    async with httpx.AsyncClient(timeout=30) as client:
        part = await client.get(playback_url, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206
    assert part.content == video[:100]

    visitor = (await hive.data("Lecture", {"id": lecture_id}))["lecture"]
    assert visitor["video"]["playbackUrl"] is None
