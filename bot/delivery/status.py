"""Status messages: the message under each queued job that shows its place, then its progress,
and finally what became of it.

A new job's message is posted in the background (:meth:`StatusMessages.follow`); from then on
it is edited at most once every ``progress_seconds``, places in the queue less often when many
people wait (``POSITION_EDITS_PER_SECOND``), and progress bars first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator

from sqlalchemy.orm import Session, sessionmaker
from telegram import InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import ExtBot

from engine.jobs.models import JobState
from engine.jobs.outage import brief, is_outage

from .. import keyboards
from ..ratelimit import Priority
from ..settings import BotSettings
from ..store import in_transaction
from ..store.jobs import Active, active_jobs, set_status_message
from ..texts import Texts, pick_language

logger = logging.getLogger(__name__)

BAR_CELLS = 10
# Places in the queue change for every waiting job each time a job starts; editing them all
# every few seconds would use up Telegram's ~30 messages a second with a long queue, and hold
# back results and conversations. Together they are kept under this rate.
POSITION_EDITS_PER_SECOND = 5.0
# What the status messages should say (places in the queue for everyone: a heavier query than
# the one for finished jobs) is read at most this often.
STATUS_READ_SECONDS = 0.5
STOP_POSTING_SECONDS = 5.0  # at shutdown, status messages on their way get this long


def progress_bar(fraction: float) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * BAR_CELLS)
    return "▓" * filled + "░" * (BAR_CELLS - filled)


def status_text(
    t: Texts,
    state: JobState,
    *,
    position: int | None = None,
    progress: float = 0.0,
    eta_seconds: float | None = None,
) -> str:
    """What the status message says about a waiting or running job."""
    if state == JobState.QUEUED:
        if position is None or position <= 1:
            return t("queued_next")
        return t("queued", position=position)
    if progress <= 0:
        return t("starting")
    eta = t("eta", time=t.duration(eta_seconds)) if eta_seconds else ""
    return t("running", bar=progress_bar(progress), percent=round(progress * 100), eta=eta)


class StatusMessages:
    """Posts the status messages, remembers what each shows and when it was last edited."""

    def __init__(
        self, bot: ExtBot[int], maker: sessionmaker[Session], settings: BotSettings
    ) -> None:
        self.bot = bot
        self.maker = maker
        self.settings = settings
        self._shown: dict[int, tuple[str, float]] = {}  # job id -> (text, when edited)
        self._swap: set[int] = set()  # jobs whose status message offers a swap
        self._posting: set[int] = set()  # jobs whose status message is on its way
        self._posts: set[asyncio.Task[None]] = set()  # status messages being posted
        self._read_at = float("-inf")  # monotonic time active jobs were last read

    def track(self, job_id: int, text: str, *, swap: bool) -> None:
        """A status message was just posted for a job."""
        self._shown[job_id] = (text, time.monotonic())
        if swap:
            self._swap.add(job_id)

    def forget(self, job_id: int) -> None:
        """The job is answered: its status message needs nothing more."""
        self._shown.pop(job_id, None)
        self._swap.discard(job_id)

    def is_posting(self, job_id: int) -> bool:
        return job_id in self._posting

    @contextlib.contextmanager
    def posting(self, job_id: int) -> Iterator[None]:
        """While a job's status message is being posted, its answer waits: answered before
        the message exists, the job would leave it saying "queued" for ever."""
        self._posting.add(job_id)
        try:
            yield
        finally:
            self._posting.discard(job_id)

    def follow(
        self, job_id: int, chat_id: int, text: str, markup: InlineKeyboardMarkup, *, swap: bool
    ) -> None:
        """Post a new job's status message in the background; from then on it shows the
        job's place and progress.

        In a burst the message waits its turn in the flood limiter, behind answers to other
        people; the person's next message is not held up with it.
        """
        self._posting.add(job_id)  # now, not when the task starts
        task = asyncio.create_task(
            self._post(job_id, chat_id, text, markup, swap=swap), name=f"status {job_id}"
        )
        self._posts.add(task)
        task.add_done_callback(self._posts.discard)

    async def _post(
        self, job_id: int, chat_id: int, text: str, markup: InlineKeyboardMarkup, *, swap: bool
    ) -> None:
        with self.posting(job_id):
            try:
                status = await self.bot.send_message(
                    chat_id, text, reply_markup=markup, rate_limit_args=Priority.STATUS
                )
                await in_transaction(
                    self.maker, set_status_message, job_id=job_id, message_id=status.message_id
                )
            except Forbidden:
                logger.info("job %s: the person blocked the bot; no status message", job_id)
                return
            except TelegramError as e:  # the job runs all the same; its result still comes
                logger.warning("job %s: status message not posted (%s)", job_id, e)
                return
            except Exception as e:
                if not is_outage(e):
                    raise
                # Posted, but not remembered: the job's result still comes, only the
                # message keeps its first words.
                logger.warning("job %s: status message not recorded (%s)", job_id, brief(e))
                return
        self.track(job_id, text, swap=swap)

    async def stop(self) -> None:
        """At shutdown: status messages on their way get a moment to finish."""
        if self._posts:
            await asyncio.wait(set(self._posts), timeout=STOP_POSTING_SECONDS)
            for task in self._posts:
                task.cancel()

    async def refresh_due(self) -> None:
        """Edit the status messages whose text changed, if it is time to look."""
        now = time.monotonic()
        if now - self._read_at < STATUS_READ_SECONDS:
            return
        self._read_at = now
        recent = frozenset(
            job_id
            for job_id, (_, when) in self._shown.items()
            if now - when < self.settings.progress_seconds
        )
        for active in await in_transaction(self.maker, active_jobs, skip=recent):
            await self.refresh(active)

    async def refresh(self, job: Active) -> None:
        """Edit a status message if what it should say changed and it was not edited lately."""
        t = Texts(pick_language(job.language, None))
        text = status_text(
            t,
            job.state,
            position=job.position,
            progress=job.progress,
            eta_seconds=job.eta_seconds,
        )
        shown, when = self._shown.get(job.job_id, ("", 0.0))
        spacing = self.settings.progress_seconds
        if job.state == JobState.QUEUED:
            spacing = max(spacing, len(self._shown) / POSITION_EDITS_PER_SECOND)
        if text == shown or time.monotonic() - when < spacing:
            return
        swap = job.job_id in self._swap and job.state == JobState.QUEUED
        markup = keyboards.queued(job.job_id, t, swap=swap)
        self._shown[job.job_id] = (text, time.monotonic())
        try:
            await self._edit(
                job.chat_id, job.status_message_id, text, markup, priority=Priority.EDIT
            )
        except Forbidden:
            logger.info("job %s: the person blocked the bot; no more progress edits", job.job_id)
        except TelegramError as e:
            logger.warning("job %s: progress edit failed (%s)", job.job_id, e)

    async def close(self, chat_id: int, message_id: int | None, text: str) -> None:
        """A job's last word in its status message ("Done.", ...), sent as an answer."""
        await self._edit(chat_id, message_id, text, priority=Priority.ANSWER)

    async def _edit(
        self,
        chat_id: int,
        message_id: int | None,
        text: str,
        markup: InlineKeyboardMarkup | None = None,
        *,
        priority: Priority,
    ) -> None:
        if message_id is None:
            return
        try:
            await self.bot.edit_message_text(
                text, chat_id, message_id, reply_markup=markup, rate_limit_args=priority
            )
        except BadRequest as e:
            # Not modified (a cancel button already said so), or the message is gone.
            logger.debug("status message %s not edited: %s", message_id, e)
