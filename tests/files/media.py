"""Tiny but valid video containers built in the test: no sample media is downloaded."""

from __future__ import annotations

import struct


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def full_box(kind: bytes, version: int, payload: bytes) -> bytes:
    return box(kind, bytes([version, 0, 0, 0]) + payload)


def mvhd(duration: int, timescale: int, *, version: int = 0) -> bytes:
    if version == 1:
        times = struct.pack(">QQIQ", 0, 0, timescale, duration)
    else:
        times = struct.pack(">IIII", 0, 0, timescale, duration)
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    rest = struct.pack(">IH10x", 0x10000, 0x100) + matrix + bytes(24) + struct.pack(">I", 2)
    return full_box(b"mvhd", version, times + rest)


def track(handler: bytes) -> bytes:
    hdlr = full_box(b"hdlr", 0, bytes(4) + handler + bytes(12) + b"VideoHandler\0")
    return box(b"trak", box(b"mdia", hdlr))


def make_mp4(
    seconds: float,
    *,
    timescale: int = 1000,
    brand: bytes = b"isom",
    handler: bytes = b"vide",
    version: int = 0,
    media_bytes: int = 4096,
) -> bytes:
    """ftyp + moov (mvhd, one track) + mdat: enough structure for any MP4 parser."""
    ftyp = box(b"ftyp", brand + struct.pack(">I", 512) + brand + b"mp41")
    moov = box(
        b"moov", mvhd(round(seconds * timescale), timescale, version=version) + track(handler)
    )
    mdat = box(b"mdat", bytes(range(256)) * (media_bytes // 256))
    return ftyp + moov + mdat


def ebml(element_id: int, payload: bytes) -> bytes:
    id_bytes = element_id.to_bytes((element_id.bit_length() + 7) // 8, "big")
    return id_bytes + (0x01 << 56 | len(payload)).to_bytes(8, "big") + payload


def make_webm(seconds: float, *, track_type: int = 1) -> bytes:
    header = ebml(0x1A45DFA3, ebml(0x4286, b"\x01") + ebml(0x4282, b"webm"))
    info = ebml(
        0x1549A966,
        ebml(0x2AD7B1, (1_000_000).to_bytes(3, "big"))
        + ebml(0x4489, struct.pack(">d", seconds * 1000)),
    )
    tracks = ebml(0x1654AE6B, ebml(0xAE, ebml(0xD7, b"\x01") + ebml(0x83, bytes([track_type]))))
    cluster = ebml(0x1F43B675, ebml(0xE7, b"\x00") + bytes(64))
    return header + ebml(0x18538067, info + tracks + cluster)
