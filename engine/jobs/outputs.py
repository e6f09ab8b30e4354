"""What a running job shows besides its result, whatever its kind: its latest preview, the
frames of its time-lapse, and the film made of them.

The worker writes the preview and the frames (:func:`record`, in the transaction of its
lease thread's progress write, fenced by the claim token, so they cost no trip to the
database of their own); the bot reads them (:func:`preview_seqs`, :func:`preview_of`,
:func:`frames_of`) and stores the film once it has made it (:func:`put_film`). A preview is
one row per job, overwritten; frames and the film are pictures in ``images`` like every
other, and go with the job when it is pruned
(``engine.jobs.prune``: the rows by the foreign keys' cascade, the pictures once nothing
refers to them). The caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine.jobs import blobs
from engine.jobs.db import dialect_of
from engine.jobs.models import (
    Image,
    Job,
    JobFilm,
    JobFrame,
    JobPreview,
    held_by,
    utcnow,
)


@dataclass(frozen=True)
class Picture:
    """A small JPEG: a preview or a frame."""

    data: bytes
    width: int
    height: int


@dataclass(frozen=True)
class Frame:
    """A time-lapse frame: the picture after ``step`` of the run, at ``position`` (1-based)."""

    position: int
    step: int
    picture: Picture


@dataclass(frozen=True)
class Preview:
    """A job's latest preview, as the bot shows it."""

    seq: int
    step: int
    total: int
    picture: Picture


def _upsert(s: Session, table: type[JobPreview] | type[JobFrame]) -> object:
    return (postgresql if dialect_of(s) == "postgresql" else sqlite).insert(table)


def record(
    s: Session,
    job_id: int,
    *,
    worker_id: str,
    token: str,
    preview: tuple[int, int, Picture] | None = None,
    frames: Sequence[Frame] = (),
    fresh: bool = False,
) -> bool:
    """Store a running job's new preview (``(step, total, picture)``) and frames; False, and
    nothing stored, when the job is no longer this claim's (``worker_id`` and ``token``).

    ``fresh``: this run's first write, so frames an earlier attempt left are dropped first
    (a film mixes no runs). Frames are keyed by position: the same position written again (a
    run started over after the GPU ran out of memory) replaces the old one.
    """
    # Fenced like every write a worker makes: only while the job is still this claim's (the
    # token, new at every claim, decides; a worker of the same name that lost it writes
    # nothing).
    held = s.scalar(select(Job.id).where(*held_by(job_id, worker_id, token)))
    if held is None:
        return False
    if fresh:
        s.execute(delete(JobFrame).where(JobFrame.job_id == job_id))
    for frame in frames:
        picture = frame.picture
        sha = blobs.put_image(
            s, picture.data, mime="image/jpeg", width=picture.width, height=picture.height
        )
        values = {"job_id": job_id, "position": frame.position, "step": frame.step, "sha256": sha}
        insert = _upsert(s, JobFrame)
        s.execute(
            insert.values(values).on_conflict_do_update(  # type: ignore[attr-defined]
                index_elements=["job_id", "position"], set_={"step": frame.step, "sha256": sha}
            )
        )
    if preview is not None:
        step, total, picture = preview
        now = utcnow()
        shown = {
            "step": step,
            "total": total,
            "data": picture.data,
            "width": picture.width,
            "height": picture.height,
            "written_at": now,
        }
        insert = _upsert(s, JobPreview)
        s.execute(
            insert.values(job_id=job_id, seq=1, **shown).on_conflict_do_update(  # type: ignore[attr-defined]
                index_elements=["job_id"], set_={"seq": JobPreview.seq + 1, **shown}
            )
        )
    return True


def drop_preview(s: Session, job_id: int) -> None:
    """Forget a job's preview: once the job has finished, its status message shows the result
    (or keeps the picture it had), and the row would only take room."""
    s.execute(delete(JobPreview).where(JobPreview.job_id == job_id))


def preview_seqs(s: Session, job_ids: Iterable[int]) -> dict[int, int]:
    """How many previews each of these jobs has had (jobs with none are left out): the bot
    fetches a preview only when the number grew."""
    ids = list(job_ids)
    if not ids:
        return {}
    rows = s.execute(select(JobPreview.job_id, JobPreview.seq).where(JobPreview.job_id.in_(ids)))
    return {job_id: seq for job_id, seq in rows}


def preview_of(s: Session, job_id: int) -> Preview | None:
    row = s.get(JobPreview, job_id)
    if row is None:
        return None
    return Preview(
        seq=row.seq,
        step=row.step,
        total=row.total,
        picture=Picture(data=row.data, width=row.width, height=row.height),
    )


def frame_counts(s: Session, job_ids: Iterable[int]) -> dict[int, int]:
    """How many time-lapse frames each of these jobs kept (jobs with none are left out)."""
    ids = list(job_ids)
    if not ids:
        return {}
    rows = s.execute(
        select(JobFrame.job_id, func.count())
        .where(JobFrame.job_id.in_(ids))
        .group_by(JobFrame.job_id)
    )
    return {job_id: count for job_id, count in rows}


def frames_of(s: Session, job_id: int) -> list[bytes]:
    """A job's time-lapse frames (JPEG bytes), in the order they were painted."""
    return list(
        s.scalars(
            select(Image.data)
            .join(JobFrame, JobFrame.sha256 == Image.sha256)
            .where(JobFrame.job_id == job_id)
            .order_by(JobFrame.position)
        )
    )


def film_of(s: Session, job_id: int) -> bytes | None:
    """The job's time-lapse film, if it has been made."""
    return s.scalar(
        select(Image.data)
        .join(JobFilm, JobFilm.sha256 == Image.sha256)
        .where(JobFilm.job_id == job_id)
    )


def put_film(s: Session, job_id: int, data: bytes, *, width: int, height: int) -> bool:
    """Keep a job's film; False (and nothing kept) when the job is gone (pruned meanwhile)."""
    if s.get(Job, job_id) is None:
        return False
    sha = blobs.put_image(s, data, mime="video/mp4", width=width, height=height)
    film = s.get(JobFilm, job_id)
    if film is None:
        s.add(JobFilm(job_id=job_id, sha256=sha, made_at=utcnow()))
    else:
        film.sha256, film.made_at = sha, utcnow()
    s.flush()
    return True


def used_pictures(s: Session) -> set[str]:
    """Every picture the outputs of remaining jobs refer to (for pruning)."""
    frames = s.scalars(select(JobFrame.sha256).distinct())
    films = s.scalars(select(JobFilm.sha256))
    return {*frames, *films}
