"""Posters: whether one can be offered now (a live GPU worker paints them), how large, and how
long one would take.

A poster is painted in tiles on a GPU (engine/style/tiled.py); on a CPU it would take hours, so
the bot offers one only while a GPU worker is live. Each worker's description in the registry
names the largest poster it paints (``engine.contract.poster_tag``, from its GPU's memory or
its ``POSTER_MAX_SIDE``); the offer is the largest a live one names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.contract import poster_side_of
from engine.jobs.models import Worker, utcnow
from engine.jobs.registry import WORKER_LIVE_SECONDS

# A GPU paints this many megapixels of poster a second (the whole schedule, the coarse levels
# included). A first figure from bench/bench_engine.py's poster section, to be measured on
# each kind of GPU (docs/BENCHMARKS.md): the time the bot announces is this rate's.
POSTER_SECONDS_PER_MEGAPIXEL = 6.0
POSTER_ASPECT = 3 / 4  # the estimate's short side: a photo's usual shape


@dataclass(frozen=True)
class PosterOffer:
    """A poster the bot can offer: its long side and the seconds it is expected to take."""

    side: int
    seconds: float

    @property
    def minutes(self) -> int:
        """The time, as the bot says it: whole minutes, at least one."""
        return max(1, round(self.seconds / 60))


def poster_estimate(side: int) -> float:
    """Seconds a poster of long side ``side`` takes, from :data:`POSTER_SECONDS_PER_MEGAPIXEL`."""
    megapixels = side * side * POSTER_ASPECT / 1e6
    return megapixels * POSTER_SECONDS_PER_MEGAPIXEL


def poster_offer(s: Session, *, now: datetime | None = None) -> PosterOffer | None:
    """The poster on offer now, or None while no live GPU worker paints posters."""
    since = (now or utcnow()) - timedelta(seconds=WORKER_LIVE_SECONDS)
    devices = s.scalars(
        select(Worker.device).where(Worker.stopped_at.is_(None), Worker.last_seen_at >= since)
    ).all()
    sides = [
        side
        for device in devices
        if device and device.startswith("cuda") and (side := poster_side_of(device))
    ]
    if not sides:
        return None
    side = max(sides)
    return PosterOffer(side=side, seconds=poster_estimate(side))
