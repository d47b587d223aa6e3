"""In a real browser (headless Chromium; skipped without one): a page on another origin
calls the API through the router and uploads a lecture video to its ticket's URL (CORS,
preflights included), then seeks in it; GraphiQL renders with the walkthrough tabs, and
its prefilled sign-in gives a token the page then sends by itself.

The page is served on `localhost` (the stack listens on 127.0.0.1, so it is another
origin), and the stack allows `http://localhost:*` through CORS_ORIGINS, as development
does by default.
"""

from __future__ import annotations

import json
import queue
import re
import uuid
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from coursegraph.settings import get_settings
from coursegraph.testing import ServerThread
from router.graphiql_tabs import DEMO_STUDENT_EMAIL
from tests.e2e.browser import DevTools, devtools, open_page, render
from tests.e2e.client import PASSWORD, Api, operation
from tests.e2e.stack import Stack
from tests.files.media import make_mp4

# Bounds the whole page run (sign-up, upload, processing, seek); not a timing assertion.
PAGE_TIMEOUT_SECONDS = 120
OPERATIONS = (
    "Register",
    "CreateCourse",
    "AddSection",
    "AddLecture",
    "InitiateLectureUpload",
    "ConfirmLectureUpload",
    "Lecture",
)

# What a frontend on its own dev server does, with nothing but fetch().
PAGE_SCRIPT = """
const { api, operations, email, password } = CONFIG;

async function gql(name, variables, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = "Bearer " + token;
  const response = await fetch(api, {
    method: "POST",
    headers,
    body: JSON.stringify({ query: operations[name], operationName: name, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(name + ": " + JSON.stringify(body.errors));
  return { data: body.data, requestId: response.headers.get("x-request-id") };
}

async function run() {
  const signedUp = await gql("Register", {
    input: { email, password, name: "Page Teacher", role: "TEACHER" },
  });
  const token = signedUp.data.register.accessToken;
  const course = (await gql("CreateCourse", { input: { title: "From the browser" } }, token))
    .data.createCourse;
  const section = (await gql("AddSection", { courseId: course.id, title: "One" }, token))
    .data.addSection;
  const lecture = (await gql("AddLecture",
    { sectionId: section.id, input: { title: "Clip", isPreview: true } }, token)).data.addLecture;
  const video = await (await fetch("/video.mp4")).arrayBuffer();
  const ticket = (await gql("InitiateLectureUpload", {
    lectureId: lecture.id,
    input: { fileName: "clip.mp4", fileSize: video.byteLength, contentType: "video/mp4" },
  }, token)).data.initiateLectureUpload;
  const headers = Object.fromEntries(ticket.headers.map((h) => [h.name, h.value]));
  const upload = await fetch(ticket.uploadUrl, { method: ticket.method, headers, body: video });
  await gql("ConfirmLectureUpload", { lectureId: lecture.id, fileId: ticket.fileId }, token);
  let watched = null;
  for (let attempt = 0; attempt < 400; attempt++) {
    watched = (await gql("Lecture", { id: lecture.id }, token)).data.lecture;
    if (watched.video && watched.video.status !== "PROCESSING") break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const part = await fetch(watched.video.playbackUrl, { headers: { Range: "bytes=0-99" } });
  return {
    requestId: signedUp.requestId,
    uploadStatus: upload.status,
    videoStatus: watched.video.status,
    rangeStatus: part.status,
    contentRange: part.headers.get("content-range"),
    acceptRanges: part.headers.get("accept-ranges"),
    rangeBytes: (await part.arrayBuffer()).byteLength,
    size: video.byteLength,
  };
}

function report(result) {
  return fetch("/result", { method: "POST", body: JSON.stringify(result) });
}
run().then((result) => report({ ok: true, ...result }),
           (error) => report({ ok: false, error: String(error) }));
"""


def _page_server(stack: Stack, video: bytes, results: queue.Queue[Any]) -> ServerThread:
    config = {
        "api": stack.graphql_url,
        "operations": {name: operation(name) for name in OPERATIONS},
        "email": f"page-{uuid.uuid4().hex[:8]}@example.com",
        "password": PASSWORD,
    }
    html = (
        "<!doctype html><html><head><meta charset='utf-8'><title>frontend</title></head>"
        f"<body><script>const CONFIG = {json.dumps(config)};\n{PAGE_SCRIPT}</script>"
        "</body></html>"
    )

    async def page(request: Request) -> Response:
        return HTMLResponse(html)

    async def media(request: Request) -> Response:
        return Response(video, media_type="video/mp4")

    async def result(request: Request) -> Response:
        results.put(json.loads(await request.body()))
        return Response(status_code=204)

    return ServerThread(
        Starlette(
            routes=[
                Route("/", page),
                Route("/video.mp4", media),
                Route("/result", result, methods=["POST"]),
            ]
        )
    )


def test_a_page_on_another_origin_uses_the_api_and_uploads(stack: Stack, tmp_path: Path) -> None:
    video = make_mp4(6.0, media_bytes=4096)
    results: queue.Queue[Any] = queue.Queue()
    with (
        _page_server(stack, video, results) as server,
        open_page(
            tmp_path / "profile", f"http://localhost:{server.port}/", tmp_path / "chromium.log"
        ),
    ):
        try:
            result = results.get(timeout=PAGE_TIMEOUT_SECONDS)
        except queue.Empty:
            log = (tmp_path / "chromium.log").read_text(errors="replace")[-3000:]
            raise AssertionError(f"the page reported nothing; browser log:\n{log}") from None
    assert result["ok"], result.get("error")
    assert result["requestId"]  # an exposed header the page could read
    assert result["uploadStatus"] == 200
    assert result["videoStatus"] == "READY"
    assert result["rangeStatus"] == 206
    assert result["contentRange"] == f"bytes 0-99/{len(video)}"
    assert result["acceptRanges"] == "bytes"
    assert result["rangeBytes"] == 100


def test_graphiql_opens_with_the_walkthrough(stack: Stack, tmp_path: Path) -> None:
    # `GET /` leads there; the page needs nothing from the internet.
    dom = render(tmp_path / "profile", f"{stack.router.url}/", "--dump-dom")
    # What GraphiQL rendered, not the page's own script that configures it.
    rendered = re.sub(r"<script\b.*?</script>", "", dom, flags=re.DOTALL)
    assert "graphiql-container" in rendered
    # GraphiQL names each tab after its first operation.
    for tab in ("Login", "Courses", "CreateCourse", "UpdateProgress"):
        assert f">{tab}<" in rendered, tab
    # The sign-in tab's variables are in the editor: a demo student and the demo password.
    assert "sam.student@example.com" in rendered
    assert "coursegraph-demo" in rendered
    screenshot = tmp_path / "graphiql.png"
    render(
        tmp_path / "profile",
        f"{stack.router.url}/graphql",
        f"--screenshot={screenshot}",
        "--window-size=1400,900",
    )
    assert screenshot.stat().st_size > 20_000  # a rendered explorer, not a blank page


async def _run_operation(page: DevTools, name: str) -> None:
    """Press GraphiQL's run button and pick `name` from its menu of the tab's operations."""
    items = "[...document.querySelectorAll('[role=menuitem]')]"
    item = f"{items}.find((i) => i.textContent === {json.dumps(name)})"
    # The menu (Radix) opens on pointerdown, not on click; pressed again until it shows,
    # as the editor may not have read the tab's operations yet.
    await page.wait_for(
        f"(() => {{ if ({item}) return true;"
        " document.querySelector('.graphiql-execute-button').dispatchEvent(new PointerEvent("
        "'pointerdown', {bubbles: true, button: 0, pointerType: 'mouse'})); return false; })()"
    )
    await page.evaluate(f"{item}.click()")


async def test_graphiql_signs_in_and_sends_the_token(
    stack: Stack, api: Api, tmp_path: Path
) -> None:
    # The account the sign-in tab is prefilled with (the e2e stack has no demo data).
    student = {
        "email": DEMO_STUDENT_EMAIL,
        "password": get_settings().seed_password.get_secret_value(),
        "name": "Sam Student",
    }
    await api.data("Register", {"input": student})
    async with devtools(tmp_path / "profile", f"{stack.router.url}/graphql") as page:
        await page.wait_for("document.querySelectorAll('.graphiql-tab').length === 4")
        await _run_operation(page, "Login")
        token = await page.wait_for("sessionStorage.getItem('coursegraph:accessToken')")
        assert token.count(".") == 2  # a JWT
        # The same tab's `Me`, with no header typed: the page sends the token itself.
        await _run_operation(page, "Me")
        answer = await page.wait_for(
            "(document.querySelector('.result-window') || {}).textContent"
            " && document.querySelector('.result-window').textContent.includes('\"me\"')"
            " && document.querySelector('.result-window').textContent"
        )
    assert "Sam Student" in answer
    assert "UNAUTHENTICATED" not in answer
