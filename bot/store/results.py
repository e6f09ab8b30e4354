"""Finished jobs the bot has not answered yet, and the result pictures it sends."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from engine.jobs import outputs, queue
from engine.jobs.models import Image, JobState, User


@dataclass(frozen=True)
class Finished:
    """A finished job that has not been answered yet."""

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
    status_photo: bool = False  # its status message is a picture with a caption
    frames: int = 0  # time-lapse frames kept: a film can be made of them


def finished_jobs(s: Session, *, limit: int = 20) -> list[Finished]:
    found = []
    jobs = queue.undelivered(s, limit=limit)
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
                status_photo=job.status_photo,
                frames=frames.get(job.id, 0),
            )
        )
    return found


def result_image(s: Session, *, sha: str) -> tuple[bytes, int, int]:
    """A result's bytes and size."""
    image = s.get(Image, sha)
    if image is None:
        raise LookupError(f"result image {sha} is missing")
    return image.data, image.width, image.height
