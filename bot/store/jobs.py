"""A person's jobs: queueing one (its parameters from their settings), finding one of theirs,
and what their status messages show while a job waits or runs."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.contract import STRENGTH_RANGE, JobParams, PhotoParams, VideoParams, load_params
from engine.jobs import outputs, queue
from engine.jobs.models import ChatSession, Image, Job, JobState, User

from ..clips import is_clip
from ..presets import Preset
from .people import Person, person_row
from .waiting import NothingWaiting, put_waiting, waiting_photo


@dataclass(frozen=True)
class JobView:
    """What the bot needs to know about one of a person's jobs."""

    id: int
    user_id: int
    chat_id: int
    state: JobState
    content_sha: str
    styles: tuple[tuple[str, float], ...]  # (sha256, weight)
    params: JobParams
    result_sha: str | None

    @classmethod
    def of(cls, job: Job) -> JobView:
        return cls(
            id=job.id,
            user_id=job.user_id,
            chat_id=job.chat_id,
            state=job.state,
            content_sha=job.content_sha,
            styles=tuple((str(s["sha256"]), float(s["weight"])) for s in job.styles),
            params=load_params(job.kind, job.params),
            result_sha=job.result_sha,
        )


def photo_params(person: Person, preset: Preset | None = None) -> PhotoParams:
    """A photo job's parameters from a person's settings, and the preset painting's tuning
    (its strength multiplies the person's; its style scale is the job's), if one was picked."""
    strength = person.strength * (preset.strength if preset else 1.0)
    low, high = STRENGTH_RANGE  # a strong preset on a strong setting stays inside the range
    return PhotoParams(
        preset=person.quality,
        size=person.size,
        strength=round(min(max(strength, low), high), 3),
        style_scale=preset.style_scale if preset else PhotoParams.style_scale,
        keep_colors=person.keep_colors,
    )


def submit_job(
    s: Session,
    *,
    user_id: int,
    chat_id: int,
    content_sha: str | None,
    styles: list[tuple[str, float]],
    params: JobParams,
    max_queued_per_user: int,
    max_per_hour_per_user: int,
    max_queued_total: int,
    max_attempts: int,
    uses_waiting: bool = False,
) -> tuple[int, int | None]:
    """Queue a job (raises engine.jobs.queue.QueueFull past a limit); its id and place in line.

    ``uses_waiting``: the job is made of the photo waiting for a style, which it uses up;
    ``content_sha`` None: that photo is read here too (NothingWaiting if there is none), which
    saves a tap on a preset a transaction of its own.

    Six statements in all: in a burst every trip to the database is waited for.
    """
    # The person's row, locked for queue.submit's per-person limits (a row created here is
    # this transaction's alone until it commits).
    if s.get(User, user_id, with_for_update=True) is None:
        person_row(s, user_id)
    chat = s.get(ChatSession, user_id) if content_sha is None or uses_waiting else None
    if content_sha is None:
        content_sha = waiting_photo(chat)
        if content_sha is None:
            raise NothingWaiting
        uses_waiting = True
    params = _as_its_kind(s, content_sha, params)
    job = queue.submit(
        s,
        user_id=user_id,
        chat_id=chat_id,
        content_sha=content_sha,
        styles=styles,
        params=params,
        max_queued_per_user=max_queued_per_user,
        max_per_hour_per_user=max_per_hour_per_user,
        max_queued_total=max_queued_total,
        max_attempts=max_attempts,
        person_locked=True,
    )
    if uses_waiting:
        put_waiting(s, chat, user_id=user_id, chat_id=chat_id, sha=None)
    s.flush()
    return job.id, queue.position(s, job.id)


def _as_its_kind(s: Session, content_sha: str, params: JobParams) -> JobParams:
    """A clip is painted as a video: the options a person chose (their settings, a preset's
    tuning, a rerun's change) are a photo's, and each frame is painted with them. Whether the
    job is a photo or a video follows from what waits, so every way of picking a style (a
    preset, a second picture, "another style") needs no kind of its own."""
    if not isinstance(params, PhotoParams):
        return params
    mime = s.scalar(select(Image.mime).where(Image.sha256 == content_sha))
    if mime is None or not is_clip(mime):
        return params
    return VideoParams.from_photo(params)


def job_of(s: Session, *, job_id: int, user_id: int) -> JobView | None:
    """The job, if it exists and belongs to this person."""
    job = s.get(Job, job_id)
    if job is None or job.user_id != user_id:
        return None
    return JobView.of(job)


def open_job_ids(s: Session, *, user_id: int) -> list[int]:
    """The person's jobs that are waiting or running."""
    rows = s.scalars(
        select(Job.id).where(
            Job.user_id == user_id, Job.state.in_((JobState.QUEUED, JobState.RUNNING))
        )
    )
    return list(rows)


def set_status_message(s: Session, *, job_id: int, message_id: int, photo: bool = False) -> None:
    """Remember the message that shows this job's place in the queue and progress (``photo``:
    a picture with a caption, whose picture live previews replace)."""
    # One UPDATE; loading the job first would read its row (with its JSON) for nothing.
    s.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(status_message_id=message_id, status_photo=photo)
        .execution_options(synchronize_session=False)
    )


def status_picture(s: Session, *, job_id: int) -> tuple[bytes, str] | None:
    """What a job's status message starts with: the job's photo (or clip), and its mime."""
    row = s.execute(
        select(Image.data, Image.mime)
        .join(Job, Job.content_sha == Image.sha256)
        .where(Job.id == job_id)
    ).first()
    return None if row is None else (row[0], row[1])


@dataclass(frozen=True)
class Active:
    """A waiting or running job whose status message may need an edit."""

    job_id: int
    chat_id: int
    status_message_id: int
    state: JobState
    position: int | None
    progress: float
    eta_seconds: float | None
    language: str | None
    status_photo: bool = False  # the message is a picture with a caption
    preview: int = 0  # previews the job has had (engine.jobs.outputs): a new one to show?


def active_jobs(s: Session, *, skip: frozenset[int] = frozenset()) -> list[Active]:
    """Open jobs with a status message, except ``skip`` (edited too recently to edit again),
    running ones first: their progress bars matter more than places in the queue."""
    found = []
    places: dict[int, int] | None = None
    rows = queue.active_jobs(s)
    # Which running jobs have a new picture to show: one small query, for those whose status
    # message is a picture.
    watched = [
        job.id
        for job in rows
        if job.status_photo and job.state == JobState.RUNNING and job.id not in skip
    ]
    previews = outputs.preview_seqs(s, watched)
    for job in rows:
        if job.status_message_id is None or job.id in skip:
            continue
        queued = job.state == JobState.QUEUED
        if queued and places is None:
            places = queue.positions(s)  # one query for the whole queue
        found.append(
            Active(
                job_id=job.id,
                chat_id=job.chat_id,
                status_message_id=job.status_message_id,
                state=job.state,
                position=places.get(job.id) if queued and places is not None else None,
                progress=job.progress or 0.0,
                eta_seconds=job.eta_seconds,
                language=job.language,
                status_photo=job.status_photo,
                preview=previews.get(job.id, 0),
            )
        )
    found.sort(key=lambda active: active.state != JobState.RUNNING)
    return found
