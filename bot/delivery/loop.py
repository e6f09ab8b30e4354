"""The delivery loop: results from the database to the chats, and status messages kept fresh.

Everything comes from the database, never from memory, so a bot restart delivers what the
engine finished meanwhile. Each pass hands every finished job that is due to a task of its own
(at most ``ANSWERS_AT_ONCE`` at a time), so one job's errors, or a reply that never comes, are
that job's alone: an answer that fails backs off (exponentially, with jitter, up to a cap) and
after ``delivery_max_attempts`` tries the job is *undeliverable*, with its reason, in the
database, the log, ``/stats`` and the metrics. A chat that migrated is followed; a person who
blocked the bot is undeliverable at once. The answer goes out step by step
(:class:`~bot.delivery.results.ResultSender`), each step recorded as Telegram accepts it, then
the status message is brought to its last word (harmless if that fails) and the job is marked
delivered.

The guarantee (README, docs/ARCHITECTURE.md): at-least-once. Telegram has no idempotency key,
so a message whose reply was lost after Telegram accepted it (a timeout, a dropped
connection, the bot killed at that moment) is sent once more on the next try; every earlier
step is recorded and never repeated. A graceful stop finishes the step in flight.

A database outage is one log line when it starts and one when it ends, with back-off between
passes, instead of a traceback per pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import ExtBot

from engine.jobs import queue
from engine.jobs.models import JobState, utcnow
from engine.jobs.outage import Outage, backoff_seconds, brief, is_outage

from ..metrics import DELIVERIES, DELIVERY_SECONDS
from ..settings import BotSettings
from ..store import in_transaction
from ..store.results import Finished, finished_jobs
from ..texts import Texts, pick_language
from .results import Answer, ResultSender
from .status import StatusMessages

logger = logging.getLogger(__name__)

ANSWERS_AT_ONCE = 8  # as many as the bot has connections to the Bot API
STOP_ANSWERING_SECONDS = 30.0  # at shutdown, answers on their way get this long
BUG_PAUSE_SECONDS = 1.0  # after an unexpected error in a pass, before the next one


def closing_text(job: Finished, t: Texts) -> str:
    """What a finished job's status message says in the end."""
    if job.state == JobState.DONE and job.result_sha:
        return t("done_status")
    if job.state == JobState.FAILED:
        return t("failed_status")
    return t("cancelled_status")


def describe(error: BaseException) -> str:
    """Why an answer failed, in a line (the job's ``delivery_error``)."""
    if isinstance(error, LookupError):
        return f"the result picture is missing ({error})"
    text = str(error).strip() or type(error).__name__
    if isinstance(error, TelegramError):
        return text if text.startswith(type(error).__name__) else f"{type(error).__name__}: {text}"
    return f"{type(error).__name__}: {text}"


def is_final(error: BaseException) -> bool:
    """An error no retry can mend: the person blocked the bot (or left, or the account is
    gone), the chat does not exist, the result picture is gone."""
    if isinstance(error, Forbidden | LookupError):
        return True
    return isinstance(error, BadRequest) and "chat not found" in str(error).lower()


class Delivery:
    """Runs the loop, every ``delivery_poll_seconds``; ``passes`` counts the passes made."""

    def __init__(
        self, bot: ExtBot[int], maker: sessionmaker[Session], settings: BotSettings
    ) -> None:
        self.maker = maker
        self.settings = settings
        self.results = ResultSender(bot, maker)
        self.status = StatusMessages(bot, maker, settings)
        self.outage = Outage(logger, "delivery")
        self.passes = 0
        self._task: asyncio.Task[None] | None = None
        self._answering: dict[int, asyncio.Task[None]] = {}  # job id -> its answer going out
        self._answers: dict[int, Answer] = {}  # steps done, kept until the job is delivered
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="delivery")

    async def stop(self) -> None:
        """Stop taking new jobs; answers on their way finish the step in flight."""
        self._stopping = True
        if self._answering:
            await asyncio.wait(set(self._answering.values()), timeout=STOP_ANSWERING_SECONDS)
            for task in list(self._answering.values()):
                task.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.status.stop()

    async def _run(self) -> None:
        logger.info("delivery loop started")
        while not self._stopping:
            pause = self.settings.delivery_poll_seconds
            try:
                await self.tick()
                self.outage.ok()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                if is_outage(e):
                    pause = self.outage.failed(e)
                else:  # a bug: said once a second at most, and delivery carries on
                    logger.exception("delivery loop: unexpected error, carrying on")
                    pause = max(pause, BUG_PAUSE_SECONDS)
            self.passes += 1
            logger.debug("delivery pass %d done", self.passes)
            await asyncio.sleep(pause)

    async def tick(self) -> None:
        """One pass: start answering every finished job that is due, then refresh the status
        messages that are due."""
        # Jobs whose status message was on its way when the read began were read without
        # it: they wait for the next pass, as those still on their way do.
        posting = self.status.posting_now()
        if len(self._answering) < ANSWERS_AT_ONCE:
            due = await in_transaction(
                self.maker, finished_jobs, limit=2 * ANSWERS_AT_ONCE, skip=tuple(self._answering)
            )
            for job in due:
                if len(self._answering) >= ANSWERS_AT_ONCE or self._stopping:
                    break
                if (
                    job.job_id in self._answering
                    or job.job_id in posting
                    or self.status.is_posting(job.job_id)
                ):
                    continue
                task = asyncio.create_task(self._answer(job), name=f"answer {job.job_id}")
                self._answering[job.job_id] = task
                task.add_done_callback(functools.partial(self._answered, job.job_id))
        await self.status.refresh_due()

    def _answered(self, job_id: int, _task: asyncio.Task[None]) -> None:
        self._answering.pop(job_id, None)

    async def _answer(self, job: Finished) -> None:
        """One job's answer, whatever happens to it: its errors are its own."""
        try:
            await self.deliver(job)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            if is_outage(e):  # the loop says so once; the job is tried again after it
                logger.debug("job %s: database away while answering (%s)", job.job_id, e)
                return
            await self._failed(job, e)

    async def deliver(self, job: Finished) -> None:
        """Send one finished job's answer (the steps not yet done), close its status message,
        mark it delivered."""
        answer = self._answers.setdefault(job.job_id, Answer.of(job))
        t = Texts(pick_language(job.language, None))
        # The answer first: it is what the person waits for; the status message follows.
        if not await self.results.send(answer, t, stopping=lambda: self._stopping):
            return  # stopped between two steps: the rest goes out after the restart
        await self._close_status(answer, t)
        if await in_transaction(self.maker, queue.mark_delivered, job.job_id):
            logger.info("job %s delivered (%s)", job.job_id, job.state)
            DELIVERIES.labels("delivered").inc()
            if job.finished_at is not None:
                DELIVERY_SECONDS.observe(max(0.0, (utcnow() - job.finished_at).total_seconds()))
        self._answers.pop(job.job_id, None)
        self.status.forget(job.job_id)

    async def _close_status(self, answer: Answer, t: Texts) -> None:
        """Bring the status message to its last word; if that fails, it only says less."""
        job = answer.job
        if job.chat_id != answer.chat_id:  # the chat migrated on the way: the message is there
            job = dataclasses.replace(job, chat_id=answer.chat_id)
        try:
            await self.status.close(job, closing_text(job, t), result=answer.photo)
        except TelegramError as e:
            logger.info("job %s: status message left as it was (%s)", answer.job.job_id, e)

    async def _failed(self, job: Finished, error: Exception) -> None:
        """A try failed: back off and try again later, or give the job up as undeliverable."""
        settings = self.settings
        tries = job.delivery_attempts + 1
        reason = describe(error)
        final = is_final(error)
        retry_at = None
        if not final and tries < settings.delivery_max_attempts:
            wait = backoff_seconds(
                tries - 1,
                first=settings.delivery_retry_seconds,
                cap=settings.delivery_retry_max_seconds,
            )
            retry_at = utcnow() + timedelta(seconds=wait)
        if tries == 1 and not isinstance(error, TelegramError | LookupError):
            # A bug, not Telegram: its traceback, once per job.
            logger.error("job %s: unexpected error while answering", job.job_id, exc_info=error)
        try:
            await in_transaction(
                self.maker, queue.delivery_failed, job.job_id, error=reason, retry_at=retry_at
            )
        except Exception as e:
            if not is_outage(e):
                raise
            logger.warning(
                "job %s: answer failed (%s); not recorded (%s)", job.job_id, reason, brief(e)
            )
            return
        if retry_at is None:
            DELIVERIES.labels("undeliverable").inc()
            self._answers.pop(job.job_id, None)
            self.status.forget(job.job_id)
            logger.warning(
                "job %s undeliverable after %d %s: %s",
                job.job_id,
                tries,
                "try" if tries == 1 else "tries",
                reason,
            )
        else:
            DELIVERIES.labels("retry").inc()
            logger.warning(
                "job %s: answer failed (%s); try %d of %d, the next in %.1f s",
                job.job_id,
                reason,
                tries,
                settings.delivery_max_attempts,
                (retry_at - utcnow()).total_seconds(),
            )
