"""Flow 2 with Mux: a second stack whose files hands uploaded videos to the Mux API
stand-in (the real `mux-python` SDK), which fetches the stored object from files' signed
URL and reports back through a signed webhook, as Mux does. An enrolled student gets a
signed Mux playback URL; a visitor gets none."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from coursegraph.testing import ServerThread
from subgraphs.files.settings import FilesSettings
from tests.e2e.client import Api
from tests.e2e.scenario import published_course, upload_lecture_video
from tests.e2e.stack import build_stack, fresh_database
from tests.files.fake_mux import FakeMux, mux_settings

SIGNING_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def mux() -> Iterator[tuple[FakeMux, str]]:
    fake = FakeMux()
    with ServerThread(fake.app()) as server:
        yield fake, server.url


@pytest.fixture(scope="module")
def mux_api(
    database_server_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    mux: tuple[FakeMux, str],
) -> Iterator[Api]:
    fake, mux_url = mux
    workdir: Path = tmp_path_factory.mktemp("e2e-mux")
    (workdir / "data").mkdir()
    pem = SIGNING_KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    files = FilesSettings(_env_file=None, **mux_settings(mux_url, pem))
    mux_env = {
        f"MUX_{name.upper()}": value.get_secret_value()
        if isinstance(value, SecretStr)
        else str(value)
        for name, value in files.mux.model_dump().items()
        if value is not None
    }
    env = {"FILES_VIDEO_PROCESSOR": files.video_processor, **mux_env}
    with fresh_database(database_server_url, "coursegraph_e2e_mux") as database_url:
        stack = build_stack(workdir, database_url, env)
        # Mux reaches files on its public address, which here is files' own.
        fake.webhook_url = f"{stack.services['files'].url}/webhooks/mux"
        with stack:
            yield Api(stack.graphql_url)


async def test_mux_processes_the_upload_and_signs_playback(
    mux_api: Api, mux: tuple[FakeMux, str]
) -> None:
    fake = mux[0]
    api = mux_api
    teacher = await api.sign_up("TEACHER")
    course = await published_course(api, teacher)
    lecture_id = course.lecture_ids[0]
    video = await upload_lecture_video(api, teacher, lecture_id, seconds=7.0)
    assert fake.failures == []
    (ingested,) = [i for i in fake.ingested if i.size == len(video)]
    assert ingested.status_code == 200
    assert ingested.content == video  # Mux got exactly the bytes the teacher uploaded

    student = await api.sign_up()
    await api.data("Enroll", {"courseId": course.id}, token=student.token)
    lecture = (await api.data("Lecture", {"id": lecture_id}, token=student.token))["lecture"]
    assert lecture["videoStatus"] == "READY"
    assert lecture["video"]["durationSeconds"] == 7.0
    playback = urlsplit(lecture["video"]["playbackUrl"])
    playback_id = Path(playback.path).stem
    assert f"{playback.scheme}://{playback.netloc}{playback.path}" == (
        f"https://stream.mux.com/{playback_id}.m3u8"
    )
    (token,) = parse_qs(playback.query)["token"]
    claims = jwt.decode(token, SIGNING_KEY.public_key(), algorithms=["RS256"], audience="v")
    assert claims["sub"] == playback_id
    assert lecture["video"]["thumbnailUrl"].startswith(
        f"https://image.mux.com/{playback_id}/thumbnail.jpg?token="
    )

    visitor = (await api.data("Lecture", {"id": lecture_id}))["lecture"]
    assert visitor["videoStatus"] == "READY"
    assert visitor["video"]["playbackUrl"] is None
    assert visitor["video"]["thumbnailUrl"] is None
