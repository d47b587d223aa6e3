"""Video status transitions: a lecture's video in courses (subgraphs/courses/videos.py)
and the uploaded file in files (subgraphs/files/service.py). Newer news always wins."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coursegraph.errors import ServiceUnavailable
from subgraphs.courses.models import Lecture, VideoStatus
from subgraphs.courses.videos import attach_video, confirm_video, status_after_confirm
from subgraphs.files.models import StoredFile
from subgraphs.files.service import upload_problem
from subgraphs.files.storage import ObjectInfo

VIDEO_STATUSES = tuple(VideoStatus)


def _lecture(
    status: str = "NONE", file_id: str | None = None, duration: int | None = None
) -> Lecture:
    return Lecture(
        id=uuid.uuid4(), video_status=status, video_file_id=file_id, duration_seconds=duration
    )


@pytest.mark.parametrize(
    ("files_says", "lecture_becomes"),
    [
        ("UPLOADED", "PROCESSING"),
        ("PROCESSING", "PROCESSING"),
        ("READY", "READY"),
        ("FAILED", "FAILED"),
    ],
)
def test_files_answer_to_a_confirmation(files_says: str, lecture_becomes: str) -> None:
    assert status_after_confirm(files_says) == lecture_becomes


@pytest.mark.parametrize("files_says", ["PENDING_UPLOAD", "", "ready", "DELETED"])
def test_an_answer_files_never_gives_is_a_fault_of_files(files_says: str) -> None:
    with pytest.raises(ServiceUnavailable):
        status_after_confirm(files_says)


@pytest.mark.parametrize("status", VIDEO_STATUSES)
def test_a_new_file_waits_for_its_upload(status: str) -> None:
    lecture = _lecture(status, "old", duration=7)
    assert attach_video(lecture, "new") == "old"  # the replaced file, to delete
    assert (lecture.video_status, lecture.video_file_id) == ("UPLOADING", "new")
    assert lecture.duration_seconds is None


def test_attaching_the_same_file_again_changes_nothing() -> None:
    lecture = _lecture("PROCESSING", "same", duration=7)
    assert attach_video(lecture, "same") is None
    assert (lecture.video_status, lecture.duration_seconds) == ("PROCESSING", 7)


def test_a_first_video_replaces_nothing() -> None:
    lecture = _lecture()
    assert attach_video(lecture, "new") is None
    assert lecture.video_status == "UPLOADING"


@pytest.mark.parametrize("status", ["PROCESSING", "READY", "FAILED"])
def test_a_waiting_upload_moves_on_once_confirmed(status: str) -> None:
    lecture = _lecture("UPLOADING", "f1")
    assert confirm_video(lecture, "f1", VideoStatus(status), 61.6)
    assert lecture.video_status == status
    assert lecture.duration_seconds == (62 if status == "READY" else None)


@pytest.mark.parametrize("status", [s for s in VIDEO_STATUSES if s != "UPLOADING"])
def test_a_confirmation_never_overrides_newer_news(status: str) -> None:
    # Files' worker may have reported READY (or FAILED) before this answer arrived.
    lecture = _lecture(status, "f1")
    assert not confirm_video(lecture, "f1", VideoStatus.PROCESSING, None)
    assert lecture.video_status == status


def test_a_confirmation_of_a_replaced_upload_is_ignored() -> None:
    lecture = _lecture("UPLOADING", "newer")
    assert not confirm_video(lecture, "older", VideoStatus.READY, 10.0)
    assert (lecture.video_status, lecture.video_file_id) == ("UPLOADING", "newer")


@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("attach"), st.sampled_from(["a", "b"])),
            st.tuples(st.just("confirm"), st.sampled_from(["a", "b"])),
        ),
        max_size=10,
    ),
    st.sampled_from(["PROCESSING", "READY", "FAILED"]),
)
def test_only_the_current_file_decides_the_status(
    steps: list[tuple[str, str]], confirmed_as: str
) -> None:
    lecture = _lecture()
    confirmed: set[str] = set()
    for step, file_id in steps:
        if step == "attach":
            before = lecture.video_file_id
            attach_video(lecture, file_id)
            if before != file_id:  # attached anew: waits for its upload again
                confirmed.discard(file_id)
        elif confirm_video(lecture, file_id, VideoStatus(confirmed_as), 3.0):
            confirmed.add(file_id)
    current = lecture.video_file_id
    if current is None:
        assert lecture.video_status == "NONE"
    elif current in confirmed:
        assert lecture.video_status == confirmed_as
    else:
        assert lecture.video_status == "UPLOADING"


# ------------------------------------------------------------------ files
def _stored(size: int = 1000, content_type: str = "video/mp4") -> StoredFile:
    return StoredFile(
        id=uuid.uuid4(), size_bytes=size, content_type=content_type, status="PENDING_UPLOAD"
    )


@pytest.mark.parametrize(
    ("info", "problem"),
    [
        (ObjectInfo(1000, "video/mp4"), None),
        (ObjectInfo(1000, "Video/MP4; codecs=avc1"), None),
        (ObjectInfo(1000, None), None),  # a store that keeps no type: the size decides
        (None, "The upload was not received."),
        (ObjectInfo(999, "video/mp4"), "The upload has 999 bytes; 1000 were announced."),
        (
            ObjectInfo(1000, "video/webm"),
            "The upload has type video/webm; video/mp4 was announced.",
        ),
    ],
)
def test_an_upload_is_processed_only_as_announced(info: ObjectInfo | None, problem: str) -> None:
    assert upload_problem(_stored(), info) == problem


@given(st.integers(0, 2**40), st.integers(0, 2**40))
def test_any_other_size_fails_the_upload(announced: int, received: int) -> None:
    problem = upload_problem(_stored(announced), ObjectInfo(received, "video/mp4"))
    assert (problem is None) is (announced == received)
