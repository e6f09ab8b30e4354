"""The photo waiting for its style: a person's first picture (or a clip) waits in their chat
session until a second picture (or a preset painting) becomes its style."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from hashlib import sha256

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.jobs import blobs
from engine.jobs.models import ChatSession, Image, utcnow

from ..clips import is_clip
from .people import person_row
from .uploads import UploadLimits, check_allowance, record_upload

CONTENT_WAITS = timedelta(hours=6)  # how long a photo waits for its style


class NothingWaiting(Exception):
    """A job was to be made of the photo waiting for a style, and none waits."""


@dataclass(frozen=True)
class Taken:
    """A picture someone sent, stored: its sha256, and the photo it is the style of, if any."""

    sha: str
    waiting: str | None  # None: this picture is now the photo waiting for its style
    clip: bool = False  # what waits (``waiting``) is a clip: a picture cannot swap with it


def waiting_photo(chat: ChatSession | None) -> str | None:
    """The photo waiting in a chat session, if any (one forgotten for hours no longer waits)."""
    if chat is None or chat.updated_at < utcnow() - CONTENT_WAITS:
        return None
    return chat.content_sha


def put_waiting(
    s: Session, chat: ChatSession | None, *, user_id: int, chat_id: int, sha: str | None
) -> None:
    """Make ``sha`` the photo waiting (None: forget it), given the person's chat session (None:
    there is none) as this transaction read it. (Hand it on rather than read it again: the
    session's identity map holds rows weakly, so a row nobody refers to any more costs another
    trip to the database.)"""
    if chat is None:
        chat = ChatSession(user_id=user_id, chat_id=chat_id)
        s.add(chat)
    chat.chat_id = chat_id
    chat.content_sha = sha
    chat.style_sha = None
    chat.updated_at = utcnow()


def set_waiting_photo(s: Session, *, user_id: int, chat_id: int, sha: str | None) -> None:
    """Remember (or with None, forget) the photo waiting for its style."""
    person_row(s, user_id)
    put_waiting(s, s.get(ChatSession, user_id), user_id=user_id, chat_id=chat_id, sha=sha)


def take_picture(
    s: Session,
    *,
    user_id: int,
    chat_id: int,
    data: bytes,
    mime: str,
    width: int,
    height: int,
    limits: UploadLimits,
) -> Taken:
    """Store a picture within the person's allowance (UploadRejected past it: nothing is
    stored), and make it the waiting photo unless a photo already waits for a style.

    One transaction for what a picture needs, so that a burst of people sending photos at once
    costs the bot as few trips to the database as possible.
    """
    person_row(s, user_id)
    check_allowance(
        s, user_id=user_id, limits=limits, adding=len(data), sha=sha256(data).hexdigest()
    )
    sha = blobs.put_image(s, data, mime=mime, width=width, height=height)
    record_upload(s, user_id=user_id, sha=sha, size=len(data))
    chat = s.get(ChatSession, user_id)
    waiting = waiting_photo(chat)
    if waiting is None:
        put_waiting(s, chat, user_id=user_id, chat_id=chat_id, sha=sha)
        return Taken(sha=sha, waiting=None)
    waiting_mime = s.scalar(select(Image.mime).where(Image.sha256 == waiting))
    clip = waiting_mime is not None and is_clip(waiting_mime)
    return Taken(sha=sha, waiting=waiting, clip=clip)


def take_clip(
    s: Session,
    *,
    user_id: int,
    chat_id: int,
    data: bytes,
    mime: str,
    width: int,
    height: int,
    limits: UploadLimits,
) -> str:
    """Store a clip within the person's allowance (UploadRejected past it) and make it what
    waits for a style, in place of any photo waiting: a clip is always the thing to paint,
    never a style. Its sha256."""
    person_row(s, user_id)
    check_allowance(
        s, user_id=user_id, limits=limits, adding=len(data), sha=sha256(data).hexdigest()
    )
    sha = blobs.put_image(s, data, mime=mime, width=width, height=height)
    record_upload(s, user_id=user_id, sha=sha, size=len(data))
    put_waiting(s, s.get(ChatSession, user_id), user_id=user_id, chat_id=chat_id, sha=sha)
    return sha
