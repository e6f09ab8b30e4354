"""Finished jobs the bot has not answered yet, the result pictures it sends, and what it
records as an answer goes out: each step as Telegram accepts it, a chat that moved."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from engine.contract import JobKind
from engine.jobs import outputs, queue
from engine.jobs.models import ChatSession, Image, Job, JobState, User


@dataclass(frozen=True)
class Finished:
    """A finished job that has not been answered yet, and the steps of its answer so far."""

    job_id: int
    chat_id: int
    state: JobState
    status_message_id: int | None
    result_sha: str | None
    error: str | None  # the raw text: for the logs, never for the person
    error_kind: str | None  # engine.contract.FailureKind: what the person is told
    run_seconds: float | None
    language: str | None
    send_file: bool
    finished_at: datetime | None = None
    result_message_id: int | None = None  # the result photo (or the failure's reason) sent
    file_message_id: int | None = None  # the full-quality file sent
    delivery_attempts: int = 0  # tries so far that failed
    status_photo: bool = False  # its status message is a picture with a caption
    frames: int = 0  # time-lapse frames kept: a film can be made of them
    kind: JobKind = JobKind.PHOTO  # a video's result is a clip, not a picture


def finished_jobs(s: Session, *, limit: int = 20, skip: Sequence[int] = ()) -> list[Finished]:
    """Finished jobs to answer now (none backing off), oldest first; ``skip``: those being
    answered at the moment."""
    found = []
    jobs = queue.undelivered(s, limit=limit, skip=skip)
    frames = outputs.frame_counts(s, [job.id for job in jobs if job.result_sha])
    for job in jobs:
        user = s.get(User, job.user_id)
        found.append(
            Finished(
                job_id=job.id,
                chat_id=job.chat_id,
                state=job.state,
                status_message_id=job.status_message_id,
                result_sha=job.result_sha,
                error=job.error,
                error_kind=job.error_kind,
                run_seconds=job.run_seconds,
                language=user.language if user else None,
                send_file=bool(user and user.send_file),
                finished_at=job.finished_at,
                result_message_id=job.result_message_id,
                file_message_id=job.file_message_id,
                delivery_attempts=job.delivery_attempts or 0,
                status_photo=job.status_photo,
                frames=frames.get(job.id, 0),
                kind=job.kind,
            )
        )
    return found


def result_image(s: Session, *, sha: str) -> tuple[bytes, int, int]:
    """A result's bytes and size."""
    image = s.get(Image, sha)
    if image is None:
        raise LookupError(f"result image {sha} is missing")
    return image.data, image.width, image.height


def result_clip(s: Session, *, sha: str) -> tuple[bytes, str]:
    """A video job's result: the MP4's bytes and its mime (contract.ANIMATION_MIME: no sound,
    VIDEO_MIME: with the source's sound)."""
    clip = s.get(Image, sha)
    if clip is None:
        raise LookupError(f"result clip {sha} is missing")
    return clip.data, clip.mime


def move_chat(s: Session, *, old_chat_id: int, new_chat_id: int) -> int:
    """A group became a supergroup (Telegram's ChatMigrated): jobs and chat sessions in the
    old chat move to the new one; how many jobs moved."""
    moved = s.execute(
        update(Job)
        .where(Job.chat_id == old_chat_id)
        .values(chat_id=new_chat_id)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    s.execute(
        update(ChatSession)
        .where(ChatSession.chat_id == old_chat_id)
        .values(chat_id=new_chat_id)
        .execution_options(synchronize_session=False)
    )
    return int(moved or 0)
