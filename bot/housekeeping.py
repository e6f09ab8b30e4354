"""Housekeeping: at start-up and then once a day, forget what is older than KEEP_DAYS.

A task of the application's own (started in ``post_init``, stopped in ``post_stop``), apart
from delivery, so that a slow prune never holds up an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from engine.jobs.outage import brief, is_outage
from engine.jobs.prune import Pruned, prune

from .store import in_transaction
from .store.uploads import forget_uploads

logger = logging.getLogger(__name__)


def _prune(s: Session, *, older_than: timedelta) -> Pruned:
    """The engine's prune, and then the bot's own count of what people sent that no longer
    counts (pictures pruned just now among them)."""
    pruned = prune(s, older_than=older_than)
    forget_uploads(s)
    return pruned

PRUNE_EVERY_SECONDS = 24 * 3600


class Housekeeping:
    """Prunes answered jobs, unused pictures and gone workers older than ``keep_days``."""

    def __init__(
        self, maker: sessionmaker[Session], *, keep_days: int, every: float = PRUNE_EVERY_SECONDS
    ) -> None:
        self.maker = maker
        self.keep_days = keep_days  # 0: keep everything
        self.every = every  # seconds between prunes
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.keep_days:
            self._task = asyncio.create_task(self._run(), name="housekeeping")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def prune(self) -> Pruned:
        """Forget what is older than ``keep_days`` now."""
        older_than = timedelta(days=self.keep_days)
        return await in_transaction(self.maker, _prune, older_than=older_than)

    async def _run(self) -> None:
        while True:
            try:
                await self.prune()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # try again next time, the bot carries on
                if is_outage(e):
                    logger.warning("housekeeping: not pruned, the database is away (%s)", brief(e))
                else:
                    logger.exception("housekeeping: pruning failed")
            await asyncio.sleep(self.every)
