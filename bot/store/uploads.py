"""What each person has sent: their allowance of pictures an hour and of bytes kept.

Every picture the bot downloads is counted (``uploads``): one it stored, with its size, and one
it refused after downloading, since that cost the download too. The pictures a person keeps
are the ones they sent that are still stored (housekeeping prunes unused ones after
``KEEP_DAYS``), each counted once however often it was sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from engine.jobs.models import Image, Upload, utcnow

from ..uploads import MB, UploadRejected
from .people import person_row

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class UploadLimits:
    per_hour: int  # pictures downloaded, per person
    stored_bytes: int  # of pictures kept, per person


def sent_last_hour(s: Session, *, user_id: int, now: datetime | None = None) -> int:
    since = (now or utcnow()) - HOUR
    return (
        s.scalar(select(func.count()).where(Upload.user_id == user_id, Upload.created_at >= since))
        or 0
    )


def bytes_kept(s: Session, *, user_id: int) -> int:
    """Bytes of the person's pictures still stored, each distinct picture once."""
    theirs = (
        select(Upload.sha256, Upload.size_bytes)
        .where(Upload.user_id == user_id, Upload.sha256.is_not(None))
        .distinct()
        .subquery()
    )
    # The join drops pictures pruned since: they are no longer kept.
    kept = select(func.sum(theirs.c.size_bytes)).join_from(
        theirs, Image, Image.sha256 == theirs.c.sha256
    )
    return int(s.scalar(kept) or 0)


def keeps(s: Session, *, user_id: int, sha: str) -> bool:
    """Whether the person sent the picture ``sha`` before and it is still stored."""
    sent = select(Upload.id).where(Upload.user_id == user_id, Upload.sha256 == sha).exists()
    return bool(s.scalar(select(Image.sha256).where(Image.sha256 == sha, sent)))


def check_allowance(
    s: Session,
    *,
    user_id: int,
    limits: UploadLimits,
    adding: int = 0,
    sha: str | None = None,
    now: datetime | None = None,
) -> None:
    """UploadRejected when the person has sent their pictures for this hour, or when keeping
    ``adding`` more bytes (the picture ``sha``: nothing more if they keep it already, as when
    they send the same photo again for another style) would pass their allowance."""
    if sent_last_hour(s, user_id=user_id, now=now) >= limits.per_hour:
        raise UploadRejected("limit_uploads_hourly", {"limit": limits.per_hour})
    if adding and sha is not None and keeps(s, user_id=user_id, sha=sha):
        adding = 0
    if bytes_kept(s, user_id=user_id) + adding > limits.stored_bytes:
        raise UploadRejected("limit_stored", {"limit_mb": limits.stored_bytes / MB})


def record_upload(
    s: Session, *, user_id: int, sha: str | None, size: int, now: datetime | None = None
) -> None:
    """Count a picture the person sent: stored as ``sha`` (None: refused), ``size`` bytes."""
    person_row(s, user_id)
    s.add(Upload(user_id=user_id, sha256=sha, size_bytes=size, created_at=now or utcnow()))


def forget_uploads(s: Session, *, now: datetime | None = None) -> int:
    """Forget what no longer counts: refused pictures older than an hour, and pictures no
    longer stored that were sent more than an hour ago; how many rows went."""
    before = (now or utcnow()) - HOUR
    gone = ~select(Image.sha256).where(Image.sha256 == Upload.sha256).exists()
    result = s.execute(
        delete(Upload)
        .where(Upload.created_at < before, Upload.sha256.is_(None) | gone)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
