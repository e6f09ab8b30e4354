"""Riding out a database that went away: telling an outage from a bug, backing off between
tries, and saying so in two log lines (when it starts, when it ends) instead of a traceback
per try. The worker loop and the bot's loops (delivery, status messages, housekeeping) use it.
"""

from __future__ import annotations

import logging
import random
import time

from sqlalchemy import exc

from engine.jobs.metrics import DATABASE_DOWN, DATABASE_OUTAGES


def is_outage(error: BaseException) -> bool:
    """The database is away (down, restarting, unreachable, a lock held past the lock
    timeout, no pooled connection free in time), as opposed to a bug in a statement."""
    if isinstance(error, exc.DBAPIError):
        return isinstance(error, (exc.OperationalError, exc.InterfaceError)) or bool(
            error.connection_invalidated
        )
    return isinstance(error, exc.TimeoutError)  # the pool's: every connection is stuck


def backoff_seconds(
    attempt: int, *, first: float, cap: float, rng: random.Random | None = None
) -> float:
    """The wait before try ``attempt + 1``: ``first`` doubled per try up to ``cap``, then a
    random 50 to 100% of it, so that many waiters do not all come back at the same moment."""
    delay = min(cap, first * 2 ** min(attempt, 60))
    return delay * (rng or random).uniform(0.5, 1.0)


def brief(error: BaseException) -> str:
    """An error in one short line (a driver's message may run to many)."""
    cause = getattr(error, "orig", None) or error
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0][:200]}" if text else type(cause).__name__


class Outage:
    """One line when the database goes away, one when it is back, back-off in between.

    ``failed(error)`` after a try that met an outage returns how long to wait; ``ok()`` after
    a try that worked. ``what`` names who is waiting, in the log ("worker w1", "delivery").
    """

    def __init__(
        self, logger: logging.Logger, what: str, *, first: float = 0.5, cap: float = 10.0
    ) -> None:
        self.logger = logger
        self.what = what
        self.first = first
        self.cap = cap
        self.tries = 0
        self.since: float | None = None  # monotonic time the outage began; None: no outage
        self.outages = 0  # how many there have been
        self.loop = what.split()[0]  # the metric's label: "worker", "delivery"...

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, error: BaseException) -> float:
        if self.since is None:
            self.since = time.monotonic()
            self.outages += 1
            DATABASE_OUTAGES.labels(self.loop).inc()
            DATABASE_DOWN.inc()
            self.logger.warning(
                "%s: database unreachable (%s); retrying with back-off", self.what, brief(error)
            )
        delay = backoff_seconds(self.tries, first=self.first, cap=self.cap)
        self.tries += 1
        return delay

    def ok(self) -> None:
        if self.since is not None:
            DATABASE_DOWN.dec()
            self.logger.warning(
                "%s: database reachable again after %.1f s (%d tries)",
                self.what,
                time.monotonic() - self.since,
                self.tries,
            )
        self.since = None
        self.tries = 0
