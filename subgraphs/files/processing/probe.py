"""A small container prober: is this an MP4/QuickTime or WebM video, and how long is it?

It reads only box and element headers (seeking past media data), so probing a large file
costs a few small reads. Anything it cannot make sense of is a `ProbeError` whose message
is shown to the uploader.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

# Top-level ISO BMFF boxes a real MP4/MOV may start with.
MP4_FIRST_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pdin", b"styp"}
EBML_HEADER = 0x1A45DFA3
EBML_DOCTYPE = 0x4282
MKV_SEGMENT = 0x18538067
MKV_INFO = 0x1549A966
MKV_TIMECODE_SCALE = 0x2AD7B1
MKV_DURATION = 0x4489
MKV_TRACKS = 0x1654AE6B
MKV_TRACK_ENTRY = 0xAE
MKV_TRACK_TYPE = 0x83
MKV_CLUSTER = 0x1F43B675
MKV_VIDEO_TRACK = 1


class ProbeError(Exception):
    """The file is not a video we can use; the message says why."""


@dataclass(frozen=True)
class ProbeResult:
    container: str  # "mp4" or "webm"
    duration_seconds: float


def probe(file: BinaryIO, content_type: str) -> ProbeResult:
    """Probe a seekable reader holding the whole object."""
    try:
        size = file.seek(0, io.SEEK_END)
        if content_type in ("video/mp4", "video/quicktime"):
            return ProbeResult("mp4", _probe_mp4(file, size))
        if content_type == "video/webm":
            return ProbeResult("webm", _probe_webm(file, size))
    except (struct.error, StopIteration):
        raise ProbeError("The file is corrupt.") from None
    raise ProbeError(f"Files of type {content_type} cannot be processed.")


# ---------------------------------------------------------------------- MP4 / QuickTime
def _boxes(file: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) of each box between `start` and `end`."""
    position = start
    while position + 8 <= end:
        file.seek(position)
        size, kind = struct.unpack(">I4s", _read(file, 8))
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", _read(file, 8))
            header = 16
        elif size == 0:  # the last box runs to the end of its parent
            size = end - position
        if size < header or position + size > end:
            raise ProbeError("The MP4 file is corrupt (a box overruns the file).")
        yield kind, position + header, position + size
        position += size


def _child(file: BinaryIO, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    for found, payload, box_end in _boxes(file, start, end):
        if found == kind:
            return payload, box_end
    return None


def _probe_mp4(file: BinaryIO, size: int) -> float:
    file.seek(0)
    head = file.read(8)
    if len(head) < 8 or head[4:8] not in MP4_FIRST_BOXES:
        raise ProbeError("The file is not an MP4 or QuickTime video.")
    moov = _child(file, 0, size, b"moov")
    if moov is None:
        raise ProbeError("The MP4 file has no movie header (moov); it may be incomplete.")
    mvhd = _child(file, *moov, b"mvhd")
    if mvhd is None:
        raise ProbeError("The MP4 file has no movie header (mvhd).")
    file.seek(mvhd[0])
    version = _read(file, 4)[0]
    if version == 1:
        _created, _modified, timescale, duration = struct.unpack(">QQIQ", _read(file, 28))
    else:
        _created, _modified, timescale, duration = struct.unpack(">IIII", _read(file, 16))
    if not _has_video_track(file, *moov):
        raise ProbeError("The MP4 file has no video track.")
    if timescale == 0 or duration == 0:
        raise ProbeError("The MP4 file does not state its duration.")
    return float(duration) / timescale


def _has_video_track(file: BinaryIO, start: int, end: int) -> bool:
    for kind, payload, box_end in _boxes(file, start, end):
        if kind != b"trak":
            continue
        mdia = _child(file, payload, box_end, b"mdia")
        hdlr = _child(file, *mdia, b"hdlr") if mdia else None
        if hdlr is not None:
            file.seek(hdlr[0] + 8)  # version/flags, pre_defined
            if _read(file, 4) == b"vide":
                return True
    return False


# ---------------------------------------------------------------------- WebM (Matroska)
def _vint(file: BinaryIO, *, keep_marker: bool) -> tuple[int, int, bool]:
    """An EBML variable-length integer: (value, length, all value bits set)."""
    first = _read(file, 1)[0]
    length = 1
    mask = 0x80
    while length <= 8 and not first & mask:
        length += 1
        mask >>= 1
    if length > 8:
        raise ProbeError("The WebM file is corrupt (bad element header).")
    value = first if keep_marker else first & (mask - 1)
    for byte in _read(file, length - 1):
        value = (value << 8) | byte
    unknown = not keep_marker and value == (1 << (7 * length)) - 1
    return value, length, unknown


def _elements(file: BinaryIO, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(id, data start, data end) of each element between `start` and `end`."""
    position = start
    while position < end:
        file.seek(position)
        element, id_length, _ = _vint(file, keep_marker=True)
        size, size_length, unknown = _vint(file, keep_marker=False)
        data = position + id_length + size_length
        # Only a Segment or Cluster may leave its size open; it then runs to the end.
        data_end = end if unknown else data + size
        if data_end > end:
            raise ProbeError("The WebM file is corrupt (an element overruns the file).")
        yield element, data, data_end
        position = data_end


def _uint(file: BinaryIO, start: int, end: int) -> int:
    file.seek(start)
    return int.from_bytes(_read(file, end - start), "big")


def _probe_webm(file: BinaryIO, size: int) -> float:
    file.seek(0)
    if _read(file, 4) != EBML_HEADER.to_bytes(4, "big"):
        raise ProbeError("The file is not a WebM video.")
    elements = _elements(file, 0, size)
    _, header_start, header_end = next(elements)
    doctype = b""
    for element, start, end in _elements(file, header_start, header_end):
        if element == EBML_DOCTYPE:
            file.seek(start)
            doctype = _read(file, end - start).rstrip(b"\0")
    if doctype not in (b"webm", b"matroska"):
        raise ProbeError("The file is not a WebM video.")
    segment = next(
        ((s, e) for i, s, e in _elements(file, header_end, size) if i == MKV_SEGMENT), None
    )
    if segment is None:
        raise ProbeError("The WebM file has no segment.")
    scale, duration, video = 1_000_000, 0.0, False
    for element, start, end in _elements(file, *segment):
        if element == MKV_INFO:
            for child, c_start, c_end in _elements(file, start, end):
                if child == MKV_TIMECODE_SCALE:
                    scale = _uint(file, c_start, c_end)
                elif child == MKV_DURATION:
                    file.seek(c_start)
                    raw = _read(file, c_end - c_start)
                    if len(raw) not in (4, 8):
                        raise ProbeError("The WebM file is corrupt (bad duration).")
                    duration = struct.unpack(">f" if len(raw) == 4 else ">d", raw)[0]
        elif element == MKV_TRACKS:
            video = video or _webm_has_video(file, start, end)
        elif element == MKV_CLUSTER:
            break  # media data: the headers we need come before it
    if not video:
        raise ProbeError("The WebM file has no video track.")
    if duration <= 0:
        raise ProbeError("The WebM file does not state its duration.")
    return duration * scale / 1e9


def _webm_has_video(file: BinaryIO, start: int, end: int) -> bool:
    for element, e_start, e_end in _elements(file, start, end):
        if element != MKV_TRACK_ENTRY:
            continue
        for child, c_start, c_end in _elements(file, e_start, e_end):
            if child == MKV_TRACK_TYPE and _uint(file, c_start, c_end) == MKV_VIDEO_TRACK:
                return True
    return False


def _read(file: BinaryIO, count: int) -> bytes:
    data = file.read(count)
    if len(data) != count:
        raise ProbeError("The file ends unexpectedly.")
    return data
