"""The delivery loop: results from the database to the chats, and status messages kept fresh.

Everything comes from the database, never from memory, so a bot restart delivers what the
engine finished meanwhile; ``mark_delivered`` after the answer is sent makes it happen once.
Each pass answers every finished job (:class:`~bot.delivery.results.ResultSender`, then the
job's status message brought to its last word), then refreshes the status messages that are
due (:class:`~bot.delivery.status.StatusMessages`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.orm import Session, sessionmaker
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter
from telegram.ext import ExtBot

from engine.jobs import queue
from engine.jobs.models import JobState

from ..settings import BotSettings
from ..store import in_transaction
from ..store.results import Finished, finished_jobs
from ..texts import Texts, pick_language
from .results import ResultSender
from .status import StatusMessages

logger = logging.getLogger(__name__)


def closing_text(job: Finished, t: Texts) -> str:
    """What a finished job's status message says in the end."""
    if job.state == JobState.DONE and job.result_sha:
        return t("done_status")
    if job.state == JobState.FAILED:
        return t("failed_status")
    return t("cancelled_status")


class Delivery:
    """Runs the loop, every ``delivery_poll_seconds``; ``passes`` counts the passes made."""

    def __init__(
        self, bot: ExtBot[int], maker: sessionmaker[Session], settings: BotSettings
    ) -> None:
        self.maker = maker
        self.settings = settings
        self.results = ResultSender(bot, maker)
        self.status = StatusMessages(bot, maker, settings)
        self.passes = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="delivery")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.status.stop()

    async def _run(self) -> None:
        logger.info("delivery loop started")
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                # One bad job or a database hiccup must not end delivery for everyone.
                logger.exception("delivery loop: unexpected error, carrying on")
            self.passes += 1
            logger.debug("delivery pass %d done", self.passes)
            await asyncio.sleep(self.settings.delivery_poll_seconds)

    async def tick(self) -> None:
        """One pass: answer every finished job, then refresh status messages that are due."""
        # Jobs whose status message was on its way when the read began were read without
        # it: they wait for the next pass, as those still on their way do.
        posting = self.status.posting_now()
        for job in await in_transaction(self.maker, finished_jobs):
            if job.job_id not in posting and not self.status.is_posting(job.job_id):
                await self.deliver(job)
        await self.status.refresh_due()

    async def deliver(self, job: Finished) -> None:
        """Send one finished job's answer, then mark it delivered (also when it cannot be sent)."""
        t = Texts(pick_language(job.language, None))
        try:
            # The answer first: it is what the person waits for; the status message follows.
            sent = await self.results.send(job, t)
            await self.status.close(job, closing_text(job, t), result=sent)
        except Forbidden as e:
            logger.info("job %s: the person blocked the bot (%s); marked delivered", job.job_id, e)
        except RetryAfter as e:
            logger.warning(
                "job %s: flood control even after retries (%s); will retry", job.job_id, e
            )
            return
        except BadRequest as e:
            logger.warning(
                "job %s: Telegram refused the answer (%s); marked delivered", job.job_id, e
            )
        except NetworkError as e:
            logger.warning("job %s: network error (%s); will retry", job.job_id, e)
            return
        if await in_transaction(self.maker, queue.mark_delivered, job.job_id):
            logger.info("job %s delivered (%s)", job.job_id, job.state)
        self.status.forget(job.job_id)
