"""A video job's finished frames, kept as they are painted so that a job outlives its worker.

A clip takes minutes on a CPU, frame after frame. The worker stores each frame the moment it
is painted (:func:`store`, from its lease thread, fenced by the claim token like every write
it makes about the job); a worker that dies at frame 40 of 60 leaves frames 0 to 39 here, and
the next one to claim the job reads them back (:func:`finished`) and paints only the rest.
Once the clip is made and stored as the job's result, its frames are dropped (:func:`drop`);
a job that never finishes loses them with its row when it is pruned (the foreign key's
cascade). The caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine.jobs.db import dialect_of
from engine.jobs.models import ClipFrame, Job, held_by, utcnow


@dataclass(frozen=True)
class Finished:
    """One painted frame of a clip: its index (from 0) and the picture, a JPEG."""

    index: int
    data: bytes
    width: int
    height: int


def store(
    s: Session, job_id: int, *, worker_id: str, token: str, frames: Sequence[Finished]
) -> bool:
    """Keep these painted frames of a running job; False, and nothing kept, when the job is no
    longer this claim's (``worker_id`` and ``token``).

    A frame written again (the same index, a later attempt that painted it anew) replaces the
    old one, so a job never holds two versions of a frame.
    """
    # Fenced: a worker whose lease passed (the job reclaimed, perhaps claimed again by a worker
    # of the same name) must not put its frames among the new claim's.
    held = s.scalar(select(Job.attempts).where(*held_by(job_id, worker_id, token)))
    if held is None:
        return False
    dialect = postgresql if dialect_of(s) == "postgresql" else sqlite
    for frame in frames:
        values = {
            "data": frame.data,
            "width": frame.width,
            "height": frame.height,
            "attempt": held,
            "written_at": utcnow(),
        }
        s.execute(
            dialect.insert(ClipFrame)
            .values(job_id=job_id, frame=frame.index, **values)
            .on_conflict_do_update(index_elements=["job_id", "frame"], set_=values)
        )
    return True


def finished(s: Session, job_id: int) -> dict[int, bytes]:
    """The frames of this job painted so far (by any attempt): index -> JPEG bytes."""
    rows = s.execute(
        select(ClipFrame.frame, ClipFrame.data)
        .where(ClipFrame.job_id == job_id)
        .order_by(ClipFrame.frame)
    )
    return {index: data for index, data in rows}


def count(s: Session, job_id: int) -> int:
    """How many of this job's frames are painted and kept."""
    return s.scalar(select(func.count()).where(ClipFrame.job_id == job_id)) or 0


def drop(s: Session, job_id: int) -> None:
    """Forget a job's frames: its clip is made (they are in it now)."""
    s.execute(delete(ClipFrame).where(ClipFrame.job_id == job_id))
