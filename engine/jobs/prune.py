"""Housekeeping: forget answered jobs, unused pictures and gone workers after a while.

The bot runs it once a day (``KEEP_DAYS``); ``python -m engine prune --days N`` by hand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine.jobs import outputs
from engine.jobs.blobs import lock_pictures
from engine.jobs.models import FINISHED_STATES, ChatSession, Image, ImagePin, Job, Worker, utcnow

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pruned:
    jobs: int
    images: int
    workers: int


def prune(s: Session, *, older_than: timedelta, now: datetime | None = None) -> Pruned:
    """Forget what nobody needs any more, so that the database does not grow for ever.

    Deleted: jobs that finished and were answered (or found undeliverable) before the cutoff,
    workers not seen since it, and pictures stored before it that no remaining job or chat
    session refers to and nobody pinned. A job still waiting, running or not yet answered is
    never touched, nor anything it uses. A deleted job's preview, time-lapse frames and film
    go with it (their rows by the foreign keys' cascade, their pictures as unused ones).

    Safe beside people using the bot: on PostgreSQL it holds the pictures lock
    (``blobs.lock_pictures``) against jobs being queued, and a picture stored again
    meanwhile (its ``created_at`` moved to now) is spared by the delete's own re-check.
    """
    cutoff = (now or utcnow()) - older_than
    lock_pictures(s, exclusive=True)
    answered = Job.delivered_at.is_not(None) | Job.undeliverable_at.is_not(None)
    jobs = s.execute(
        delete(Job)
        .where(Job.state.in_(FINISHED_STATES), answered, Job.finished_at < cutoff)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    workers = s.execute(
        delete(Worker)
        .where(Worker.last_seen_at < cutoff)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    used: set[str | None] = set()
    for content, styles, result in s.execute(select(Job.content_sha, Job.styles, Job.result_sha)):
        used.update((content, result), (style["sha256"] for style in styles))
    for content, style in s.execute(select(ChatSession.content_sha, ChatSession.style_sha)):
        used.update((content, style))
    used.update(s.scalars(select(ImagePin.sha256)))
    used.update(outputs.used_pictures(s))
    old = s.scalars(select(Image.sha256).where(Image.created_at < cutoff)).all()
    doomed = [sha for sha in old if sha not in used]
    images = 0
    for start in range(0, len(doomed), 500):
        images += s.execute(
            delete(Image)
            # The cutoff again: a picture sent again since the read above is young once more.
            .where(Image.sha256.in_(doomed[start : start + 500]), Image.created_at < cutoff)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
    if jobs or images or workers:
        logger.info(
            "pruned %d jobs, %d pictures and %d workers older than %s",
            jobs,
            images,
            workers,
            cutoff,
        )
    return Pruned(jobs=jobs, images=images, workers=workers)
