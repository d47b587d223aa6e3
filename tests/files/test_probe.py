"""The local prober: container checks and durations of MP4, QuickTime and WebM files."""

from __future__ import annotations

import io

import pytest

from subgraphs.files.processing.probe import ProbeError, ProbeResult, probe
from tests.files.media import box, make_mp4, make_webm


def probe_bytes(data: bytes, content_type: str) -> ProbeResult:
    return probe(io.BytesIO(data), content_type)


def test_mp4_duration() -> None:
    result = probe_bytes(make_mp4(12.5), "video/mp4")
    assert result.container == "mp4"
    assert result.duration_seconds == pytest.approx(12.5)


def test_quicktime_and_64_bit_header() -> None:
    data = make_mp4(3723.25, timescale=600, brand=b"qt  ", version=1)
    assert probe_bytes(data, "video/quicktime").duration_seconds == pytest.approx(3723.25)


def test_large_size_box_is_skipped() -> None:
    # A box with a 64-bit size (size field 1) before the movie header.
    payload = b"x" * 32
    wide = (1).to_bytes(4, "big") + b"free" + (16 + len(payload)).to_bytes(8, "big") + payload
    data = make_mp4(2.0)
    assert probe_bytes(wide + data, "video/mp4").duration_seconds == 2.0


def test_webm_duration() -> None:
    result = probe_bytes(make_webm(42.0), "video/webm")
    assert result.container == "webm"
    assert result.duration_seconds == pytest.approx(42.0)


@pytest.mark.parametrize(
    ("data", "content_type", "message"),
    [
        (b"this is not a video at all", "video/mp4", "not an MP4"),
        (make_mp4(5.0, handler=b"soun"), "video/mp4", "no video track"),
        (make_mp4(0.0), "video/mp4", "duration"),
        (box(b"ftyp", b"isom\0\0\0\0") + box(b"mdat", b"\0" * 16), "video/mp4", "moov"),
        (make_mp4(5.0)[:60], "video/mp4", "corrupt"),
        (make_webm(5.0, track_type=2), "video/webm", "no video track"),
        (make_mp4(5.0), "video/webm", "not a WebM"),
        (b"\x1a\x45\xdf", "video/webm", "ends unexpectedly"),
    ],
)
def test_unusable_files_are_refused(data: bytes, content_type: str, message: str) -> None:
    with pytest.raises(ProbeError, match=message):
        probe_bytes(data, content_type)
