"""The database schema: people, their chat sessions, images as blobs, jobs and workers.

SQLAlchemy 2.0 typed models. The schema changes only through Alembic (``migrations/``); a
test holds these models and the migrations to each other. All times are naive UTC
(``utcnow()``), so SQLite and PostgreSQL compare them the same way.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    false,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from engine.contract import DEFAULT_PRESET, DEFAULT_STRENGTH, JobKind

# Constraint names are spelled out so that Alembic can drop and alter them on every backend
# (SQLite batch mode needs names to find them again).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time as naive UTC, the form every timestamp column holds."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


E = TypeVar("E", bound=enum.StrEnum)


class EnumText(TypeDecorator[E], Generic[E]):
    """A string enum in a plain VARCHAR: rows read back as the enum's members, and the
    schema stays a string column (a CHECK constraint, where there is one, lists the values)."""

    impl = String(16)
    cache_ok = True

    def __init__(self, enum_type: type[E]) -> None:
        super().__init__()
        self.enum_type = enum_type

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum_type(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum_type(value)


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED_STATES = (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


class User(Base):
    """A person who talks to the bot, keyed by their Telegram user id, with their settings."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    language: Mapped[str | None] = mapped_column(String(8))  # None: follow Telegram's
    quality: Mapped[str] = mapped_column(String(16), default=DEFAULT_PRESET)
    size: Mapped[int | None] = mapped_column(Integer)  # long side in pixels; None: the preset's
    strength: Mapped[float] = mapped_column(Float, default=DEFAULT_STRENGTH)
    keep_colors: Mapped[bool] = mapped_column(Boolean, default=False)
    send_file: Mapped[bool] = mapped_column(Boolean, default=False)  # always add a full file
    # The status message shows the picture as it is painted (off: a text progress bar).
    previews: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class ChatSession(Base):
    """What a person has sent so far: the photo waiting for a style, and the chosen style."""

    __tablename__ = "chat_sessions"

    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    chat_id: Mapped[int] = mapped_column(BigInteger)
    content_sha: Mapped[str | None] = mapped_column(String(64), ForeignKey("images.sha256"))
    style_sha: Mapped[str | None] = mapped_column(String(64), ForeignKey("images.sha256"))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Image(Base):
    """Image bytes, addressed by the SHA-256 of those bytes (stored once, however often sent)."""

    __tablename__ = "images"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    mime: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Job(Base):
    """One style-transfer request and everything that happens to it on its way through the queue."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(
            "state IN ('queued', 'running', 'done', 'failed', 'cancelled')", name="state_valid"
        ),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress_fraction"),
        # Claiming scans queued jobs in priority and age order.
        Index("ix_jobs_state_priority_created", "state", "priority", "created_at"),
        # Per-person limits and fairness count a person's open jobs.
        Index("ix_jobs_user_state", "user_id", "state"),
        # Fairness counts each waiting person's recent starts at every claim (engine.jobs.queue).
        Index("ix_jobs_user_started", "user_id", "started_at"),
        # The bot's delivery loop looks for finished, undelivered jobs.
        Index("ix_jobs_delivered_state", "delivered_at", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    # What the job makes; no CHECK constraint, so that a new kind needs no migration
    # (engine.contract.JobKind lists them).
    kind: Mapped[JobKind] = mapped_column(
        EnumText(JobKind), default=JobKind.PHOTO, server_default=JobKind.PHOTO.value
    )
    state: Mapped[JobState] = mapped_column(EnumText(JobState), default=JobState.QUEUED)
    priority: Mapped[int] = mapped_column(Integer, default=0)  # higher runs first

    # Inputs: images by hash, and the kind's parameters (engine.contract.dump_params: their
    # fields and version).
    content_sha: Mapped[str] = mapped_column(String(64), ForeignKey("images.sha256"))
    styles: Mapped[list[Any]] = mapped_column(JSON)  # [{"sha256": str, "weight": float}, ...]
    params: Mapped[dict[str, Any]] = mapped_column(JSON)

    # Leasing: who runs it, until when, and how often it has been tried. Every write a worker
    # makes about the job names the claim it holds (a fresh random token per claim), so a
    # worker whose lease passed is refused even if the job went back to a worker of its name.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    worker_id: Mapped[str | None] = mapped_column(String(128))
    claim_token: Mapped[str | None] = mapped_column(String(32))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)

    # Progress, for the person watching: fraction done and the engine's estimate of time left.
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    eta_seconds: Mapped[float | None] = mapped_column(Float)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)

    # Outcome.
    result_sha: Mapped[str | None] = mapped_column(String(64), ForeignKey("images.sha256"))
    error: Mapped[str | None] = mapped_column(Text)  # what went wrong, for the logs and admins
    # What kind of failure it was (engine.contract.FailureKind): the bot tells the person a
    # sentence of its own for it, in their language, never the error text itself.
    error_kind: Mapped[str | None] = mapped_column(String(32))
    run_seconds: Mapped[float | None] = mapped_column(Float)  # time in the optimisation itself

    # The bot's side: the message it keeps up to date (a picture with a caption, or a text),
    # and when it answered.
    status_message_id: Mapped[int | None] = mapped_column(BigInteger)
    status_photo: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The answer's steps, each recorded the moment Telegram accepts it, so that a retry sends
    # only what is missing: the result photo (or the failure's reason), the full-quality file.
    result_message_id: Mapped[int | None] = mapped_column(BigInteger)
    file_message_id: Mapped[int | None] = mapped_column(BigInteger)
    # Tries at answering, the next one not before deliver_after, and the last error; a job
    # that runs out of tries is undeliverable (undeliverable_at, delivery_error says why).
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    deliver_after: Mapped[datetime | None] = mapped_column(DateTime)
    delivery_error: Mapped[str | None] = mapped_column(Text)
    undeliverable_at: Mapped[datetime | None] = mapped_column(DateTime)

    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


def held_by(job_id: int, worker_id: str, token: str) -> tuple[ColumnElement[bool], ...]:
    """The job is still this claim's: every write a worker makes is conditional on it. After
    its lease ran out the job may belong to someone else (even to a worker of the same name,
    which is why the token, new at every claim, decides), and the late writer must lose."""
    return (
        Job.id == job_id,
        Job.claim_token == token,
        Job.worker_id == worker_id,
        Job.state == JobState.RUNNING,
    )


class ImagePin(Base):
    """A picture kept whatever its age, for as long as its owner (``preset:<id>``: a preset
    painting the bot offers, and keeps by hash) holds the pin. Prune never deletes a pinned
    picture."""

    __tablename__ = "image_pins"

    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    sha256: Mapped[str] = mapped_column(
        String(64), ForeignKey("images.sha256", ondelete="CASCADE"), index=True
    )
    pinned_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Upload(Base):
    """A picture someone sent, for the per-person limits: how many an hour, how many bytes kept.

    ``sha256`` None: the picture was downloaded and refused (it counts toward the hourly
    limit, which bounds what downloads cost, but keeps nothing). The picture itself may be
    pruned meanwhile: only pictures still stored count toward the bytes kept.
    """

    __tablename__ = "uploads"
    __table_args__ = (Index("ix_uploads_user_created", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    sha256: Mapped[str | None] = mapped_column(String(64))  # no foreign key: prune may go first
    size_bytes: Mapped[int] = mapped_column(Integer)  # as stored (or as downloaded, when refused)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class JobPreview(Base):
    """A running job's latest small picture (any kind of job), replaced as the run goes on;
    the bot shows it in the job's status message. One row per job, so it costs the same however
    long the run."""

    __tablename__ = "job_previews"

    job_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    seq: Mapped[int] = mapped_column(Integer)  # previews written so far: a new one has a higher
    step: Mapped[int] = mapped_column(Integer)  # the run's step it shows...
    total: Mapped[int] = mapped_column(Integer)  # ...of this many
    data: Mapped[bytes] = mapped_column(LargeBinary)  # a JPEG
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    written_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class JobFrame(Base):
    """One frame of a job's time-lapse: the picture after ``step`` of the run, stored in
    ``images`` like every picture. At most ``engine.contract.MAX_FRAMES`` per job."""

    __tablename__ = "job_frames"

    job_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    step: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), ForeignKey("images.sha256"))


class JobFilm(Base):
    """A job's time-lapse film (an MP4 in ``images``), made of its frames when first asked for."""

    __tablename__ = "job_films"

    job_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    sha256: Mapped[str] = mapped_column(String(64), ForeignKey("images.sha256"))
    made_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ClipFrame(Base):
    """A finished frame of a video job (issue #15), painted and kept until the whole clip is
    made: a worker that dies part-way leaves them, and the next one paints only the rest.

    Written under the claim like every worker write (``engine.jobs.clip_frames``: only while
    the job is still that claim's); the bytes live here rather than in ``images`` since they
    are the job's alone and go with it (the foreign key's cascade) once the clip is made or
    the job is pruned.
    """

    __tablename__ = "clip_frames"

    job_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    frame: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # from 0
    data: Mapped[bytes] = mapped_column(LargeBinary)  # a JPEG (contract.VIDEO_FRAME_QUALITY)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer)  # the job's attempt that painted it (logs)
    written_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Worker(Base):
    """An engine worker process, so that /stats can tell live workers from dead ones."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    device: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime)
    current_job_id: Mapped[int | None] = mapped_column(Integer)
    jobs_done: Mapped[int] = mapped_column(Integer, default=0)
