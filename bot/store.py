"""The bot's data access: people and their settings, chat sessions, and jobs' chat messages.

Sync SQLAlchemy with keyword-only arguments; the caller owns the transaction
(``with sessionmaker.begin() as s:``). The bot reaches these through ``asyncio.to_thread``,
like the queue. Functions return frozen snapshots, never live rows, so nothing is read
outside its session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from engine.contract import STRENGTH_RANGE, JobParams, PhotoParams, load_params
from engine.jobs import blobs, queue
from engine.jobs.models import ChatSession, Image, Job, JobState, User, utcnow

from .callback_data import SETTING_VALUES
from .presets import Preset
from .texts import LANGUAGES

T = TypeVar("T")

CONTENT_WAITS = timedelta(hours=6)  # how long a photo waits for its style


async def in_transaction(
    maker: sessionmaker[Session], function: Callable[..., T], /, *args: Any, **kwargs: Any
) -> T:
    """``function(session, *args, **kwargs)`` inside ``maker.begin()``, in a worker thread."""

    def run() -> T:
        with maker.begin() as s:
            return function(s, *args, **kwargs)

    return await asyncio.to_thread(run)


@dataclass(frozen=True)
class Person:
    """A person's stored settings."""

    id: int
    language: str | None  # None: follow Telegram's language_code
    quality: str
    size: int | None  # None: the quality preset's size
    strength: float
    keep_colors: bool
    send_file: bool

    @classmethod
    def of(cls, user: User) -> Person:
        return cls(
            id=user.id,
            language=user.language,
            quality=user.quality,
            size=user.size,
            strength=user.strength,
            keep_colors=bool(user.keep_colors),
            send_file=bool(user.send_file),
        )


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


def _user(s: Session, user_id: int, language: str | None = None) -> User:
    user = s.get(User, user_id)
    if user is None:
        user = User(id=user_id, language=language)
        s.add(user)
        s.flush()  # the columns' defaults are the new person's settings
    return user


def ensure_person(s: Session, *, user_id: int, telegram_language: str | None = None) -> Person:
    """The person's settings, creating the row with defaults on first contact.

    The language Telegram reports at first contact is stored, so that results delivered
    later (with no update to read it from) speak it too; /lang changes it.
    """
    short = (telegram_language or "").split("-")[0].lower()
    return Person.of(_user(s, user_id, short if short in LANGUAGES else None))


def set_language(s: Session, *, user_id: int, language: str) -> None:
    _user(s, user_id).language = language


def set_setting(s: Session, *, user_id: int, setting: str, value: str) -> Person:
    """Store one value chosen in the settings menu (already checked by callback_data)."""
    if value not in SETTING_VALUES.get(setting, ()):
        raise ValueError(f"not a value for {setting}: {value!r}")
    user = _user(s, user_id)
    if setting == "size":
        user.size = None if value == "auto" else int(value)
    elif setting == "strength":
        user.strength = float(value)
    elif setting == "colors":
        user.keep_colors = value == "1"
    elif setting == "quality":
        user.quality = value
    elif setting == "file":
        user.send_file = value == "1"
    s.flush()
    return Person.of(user)


def waiting_content(s: Session, *, user_id: int) -> str | None:
    """The photo waiting for a style, if any (a photo forgotten for hours no longer waits)."""
    return _waiting(s.get(ChatSession, user_id))


def _waiting(chat: ChatSession | None) -> str | None:
    if chat is None or chat.updated_at < utcnow() - CONTENT_WAITS:
        return None
    return chat.content_sha


def set_waiting_content(s: Session, *, user_id: int, chat_id: int, sha: str | None) -> None:
    """Remember (or with None, forget) the photo waiting for its style."""
    _user(s, user_id)
    _set_waiting(s, user_id=user_id, chat_id=chat_id, sha=sha)


def _set_waiting(s: Session, *, user_id: int, chat_id: int, sha: str | None) -> None:
    _put_waiting(s, s.get(ChatSession, user_id), user_id=user_id, chat_id=chat_id, sha=sha)


def _put_waiting(
    s: Session, chat: ChatSession | None, *, user_id: int, chat_id: int, sha: str | None
) -> None:
    """Like _set_waiting, given the person's row (None: there is none) as this transaction
    read it. (Hand it on rather than read it again: the session's identity map holds rows
    weakly, so a row nobody refers to any more costs another trip to the database.)"""
    if chat is None:
        chat = ChatSession(user_id=user_id, chat_id=chat_id)
        s.add(chat)
    chat.chat_id = chat_id
    chat.content_sha = sha
    chat.style_sha = None
    chat.updated_at = utcnow()


@dataclass(frozen=True)
class Taken:
    """A picture someone sent, stored: its sha256, and the photo it is the style of, if any."""

    sha: str
    waiting: str | None  # None: this picture is now the photo waiting for its style


def take_picture(
    s: Session, *, user_id: int, chat_id: int, data: bytes, mime: str, width: int, height: int
) -> Taken:
    """Store a picture, and make it the waiting photo unless a photo already waits for a style.

    One transaction for what a picture needs, so that a burst of people sending photos at once
    costs the bot as few trips to the database as possible.
    """
    _user(s, user_id)
    sha = blobs.put_image(s, data, mime=mime, width=width, height=height)
    chat = s.get(ChatSession, user_id)
    waiting = _waiting(chat)
    if waiting is None:
        _put_waiting(s, chat, user_id=user_id, chat_id=chat_id, sha=sha)
    return Taken(sha=sha, waiting=waiting)


def job_of(s: Session, *, job_id: int, user_id: int) -> JobView | None:
    """The job, if it exists and belongs to this person."""
    job = s.get(Job, job_id)
    if job is None or job.user_id != user_id:
        return None
    return JobView.of(job)


def set_status_message(s: Session, *, job_id: int, message_id: int) -> None:
    """Remember the message that shows this job's place in the queue and progress."""
    # One UPDATE; loading the job first would read its row (with its JSON) for nothing.
    s.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(status_message_id=message_id)
        .execution_options(synchronize_session=False)
    )


def open_job_ids(s: Session, *, user_id: int) -> list[int]:
    """The person's jobs that are waiting or running."""
    rows = s.scalars(
        select(Job.id).where(
            Job.user_id == user_id, Job.state.in_((JobState.QUEUED, JobState.RUNNING))
        )
    )
    return list(rows)


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


class NothingWaiting(Exception):
    """A job was to be made of the photo waiting for a style, and none waits."""


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
        _user(s, user_id)
    chat = s.get(ChatSession, user_id) if content_sha is None or uses_waiting else None
    if content_sha is None:
        content_sha = _waiting(chat)
        if content_sha is None:
            raise NothingWaiting
        uses_waiting = True
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
        _put_waiting(s, chat, user_id=user_id, chat_id=chat_id, sha=None)
    s.flush()
    return job.id, queue.position(s, job.id)


def put_image(s: Session, *, data: bytes, mime: str, width: int, height: int) -> str:
    """Store image bytes (once per content); their sha256."""
    return blobs.put_image(s, data, mime=mime, width=width, height=height)


def get_image(s: Session, *, sha: str) -> bytes:
    return blobs.get_image(s, sha)


def image_size(s: Session, *, sha: str) -> tuple[int, int] | None:
    image = s.get(Image, sha)
    return (image.width, image.height) if image is not None else None


def cancel_job(s: Session, *, job_id: int, user_id: int) -> bool:
    return queue.cancel(s, job_id, user_id=user_id)
