from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from coursegraph.db import one_of, schema_metadata
from coursegraph.outbox import outbox_table


class FileStatus(StrEnum):
    PENDING_UPLOAD = "PENDING_UPLOAD"
    UPLOADED = "UPLOADED"
    PROCESSING = "PROCESSING"
    READY = "READY"
    FAILED = "FAILED"


class Base(DeclarativeBase):
    metadata = schema_metadata("files")


class StoredFile(Base):
    """One uploaded object and its processing state. Its storage key is derived from the id
    alone, never from anything a client sent."""

    __tablename__ = "files"
    __table_args__ = (
        CheckConstraint(one_of("status", FileStatus), name="status"),
        CheckConstraint("size_bytes > 0", name="size_positive"),
        # The processing worker's queue: files waiting for (another) processing attempt.
        Index(
            "ix_files_processing_due",
            "processing_due_at",
            postgresql_where="status = 'PROCESSING' AND mux_asset_id IS NULL",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[str] = mapped_column(String(64), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    file_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    storage_key: Mapped[str] = mapped_column(String(100))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    # Which processor took the file at confirmation, so a settings change strands nothing.
    processor: Mapped[str | None] = mapped_column(String(16))
    processing_attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    # When the worker may (re)try: the next attempt, or the end of a running attempt's lease.
    processing_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    mux_asset_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    mux_playback_id: Mapped[str | None] = mapped_column(String(100))
    upload_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


outbox = outbox_table(Base.metadata)
