"""Pictures as blobs: stored once by the SHA-256 of their bytes, however often they are sent.

Photos, styles and results all live here, so an engine on another machine needs nothing but
the database. The caller owns the transaction.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine.jobs.db import dialect_of
from engine.jobs.models import Image, utcnow


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
