"""The time-lapse of a finished job: its film, or what it is made of, for the person who asks."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from engine.jobs import outputs
from engine.jobs.models import Image, Job, JobState


class NoFilm(Exception):
    """There is no film to send; ``reason`` says why: ``gone`` (the job was pruned, or never
    was), ``not_yours`` (a forged button), ``none`` (no frames were kept of it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FilmParts:
    """What a film is made of: the photo, the frames in order, and the result (their bytes)."""

    photo: bytes
    frames: list[bytes]
    result: bytes


def film_or_parts(s: Session, *, job_id: int, user_id: int) -> bytes | FilmParts:
    """The job's film if it has been made, else what to make it of; NoFilm if neither."""
    job = s.get(Job, job_id)
    if job is None:
        raise NoFilm("gone")
    if job.user_id != user_id:
        raise NoFilm("not_yours")
    film = outputs.film_of(s, job_id)
    if film is not None:
        return film
    if job.state != JobState.DONE or job.result_sha is None:
        raise NoFilm("none")
    frames = outputs.frames_of(s, job_id)
    photo, result = s.get(Image, job.content_sha), s.get(Image, job.result_sha)
    if not frames or photo is None or result is None:
        raise NoFilm("none")
    return FilmParts(photo=photo.data, frames=frames, result=result.data)
