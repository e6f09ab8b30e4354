"""Pictures as blobs: stored once by the SHA-256 of their bytes, however often they are sent.

Photos, styles and results all live here, so an engine on another machine needs nothing but
the database. The caller owns the transaction.

Pictures nobody uses are pruned after a while (``engine.jobs.prune``); two things keep one:
a *pin* (the bot pins each preset painting it keeps by hash), and a job that refers to it. A
job is queued under :func:`use_pictures`, which makes sure its pictures are there and, on
PostgreSQL, that a prune running at the same moment sees the job or is seen by it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine.jobs.db import dialect_of
from engine.jobs.models import Image, ImagePin, utcnow

# PostgreSQL advisory lock between queueing jobs (shared) and pruning pictures (exclusive).
# The number is arbitrary.
PICTURES_LOCK = 0x5717EB08


class MissingPicture(LookupError):
    """A job was to use a picture that is not stored (any more): the photo must be sent again."""


def put_image(s: Session, data: bytes, *, mime: str, width: int, height: int) -> str:
    """Store image bytes once, however often they are sent; their SHA-256 (hex).

    Storing bytes that are already there only moves their ``created_at`` to now, so that
    :func:`engine.jobs.prune.prune` leaves a picture alone while someone is about to use it again.
    """
    sha = hashlib.sha256(data).hexdigest()
    now = utcnow()
    values = {"sha256": sha, "data": data, "mime": mime, "width": width, "height": height}
    values["created_at"] = now
    # An upsert: two people sending the same picture at the same moment must both succeed,
    # where a check-then-insert would let one of them hit the primary key.
    # Both databases this project runs on spell it INSERT ... ON CONFLICT DO UPDATE.
    dialect = postgresql if dialect_of(s) == "postgresql" else sqlite
    upsert = dialect.insert(Image).values(values)
    s.execute(upsert.on_conflict_do_update(index_elements=["sha256"], set_={"created_at": now}))
    return sha


def get_image(s: Session, sha256: str) -> bytes:
    """The bytes stored under ``sha256``; KeyError if there are none."""
    data = s.scalar(select(Image.data).where(Image.sha256 == sha256))
    if data is None:
        raise KeyError(f"no image {sha256}")
    return data


def lock_pictures(s: Session, *, exclusive: bool) -> None:
    """Until the transaction ends: queueing jobs (shared) and pruning (exclusive) exclude
    each other on PostgreSQL, so prune never decides from a view of the jobs that a
    submission is about to change. (SQLite's BEGIN IMMEDIATE already serialises them.)"""
    if dialect_of(s) != "postgresql":
        return
    how = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    s.execute(text(f"SELECT {how}(:key)"), {"key": PICTURES_LOCK})


def use_pictures(s: Session, shas: Iterable[str]) -> None:
    """A job is being queued with these pictures: MissingPicture unless every one is stored.

    Holds the shared side of :func:`lock_pictures` until the transaction ends: a prune that
    started earlier has committed by the time the check runs (and its deletions show), one
    that starts later waits for this job and then sees it."""
    wanted = set(shas)
    lock_pictures(s, exclusive=False)
    found = s.scalar(select(func.count()).select_from(Image).where(Image.sha256.in_(wanted)))
    if found != len(wanted):
        raise MissingPicture("a picture for this job is no longer stored")


def pin_image(s: Session, sha256: str, *, owner: str) -> None:
    """Keep the picture whatever its age, for as long as ``owner`` holds the pin (one picture
    per owner: a new one replaces the old)."""
    dialect = postgresql if dialect_of(s) == "postgresql" else sqlite
    upsert = dialect.insert(ImagePin).values(owner=owner, sha256=sha256, pinned_at=utcnow())
    s.execute(
        upsert.on_conflict_do_update(
            index_elements=["owner"], set_={"sha256": sha256, "pinned_at": utcnow()}
        )
    )


def keep_pins(s: Session, *, prefix: str, owners: Collection[str]) -> int:
    """Drop the pins whose owner starts with ``prefix`` but is not in ``owners`` (presets the
    operator removed); how many."""
    doomed = delete(ImagePin).where(ImagePin.owner.startswith(prefix, autoescape=True))
    if owners:
        doomed = doomed.where(ImagePin.owner.not_in(list(owners)))
    result = s.execute(doomed.execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
