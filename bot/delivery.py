"""The delivery loop: results from the database to the chats, and the status messages kept fresh.

Everything comes from the database, never from memory, so a bot restart delivers what the
engine finished meanwhile; ``mark_delivered`` after the answer is sent makes it happen once.
Each status message is edited at most once every ``progress_seconds``; places in the queue
less often when many people wait (``POSITION_EDITS_PER_SECOND``), and progress bars first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker
from telegram import InlineKeyboardMarkup
from telegram.constants import ChatAction
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import ExtBot

from engine.jobs import prune, queue
from engine.jobs.models import Image, JobState, User

from . import keyboards
from .ratelimit import Priority
from .settings import BotSettings
from .store import in_transaction, set_status_message
from .texts import Texts, pick_language

logger = logging.getLogger(__name__)

# What Telegram takes as a photo (https://core.telegram.org/bots/api#sendphoto), and the
# largest size it keeps of one: anything bigger also goes as a file, at full quality.
PHOTO_MAX_BYTES = 10 * 1024 * 1024
PHOTO_MAX_SIDES = 10_000
PHOTO_MAX_ASPECT = 20
PHOTO_KEPT_SIDE = 1280
BAR_CELLS = 10
# Places in the queue change for every waiting job each time a job starts; editing them all
# every few seconds would use up Telegram's ~30 messages a second with a long queue, and hold
# back results and conversations. Together they are kept under this rate.
POSITION_EDITS_PER_SECOND = 5.0
# Finished jobs are looked for every DELIVERY_POLL_SECONDS (a cheap query), what the status
# messages should say (places in the queue for everyone: a heavier one) this often.
STATUS_READ_SECONDS = 0.5
STOP_POSTING_SECONDS = 5.0  # at shutdown, status messages on their way get this long
PRUNE_EVERY_SECONDS = 24 * 3600  # how often old jobs and pictures are forgotten (KEEP_DAYS)
# Above this size a result may take a moment to upload: the chat shows "sending a photo".
UPLOAD_ACTION_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Finished:
    """A finished job that has not been answered yet."""

    job_id: int
    chat_id: int
    state: str
    status_message_id: int | None
    result_sha: str | None
    error: str | None
    run_seconds: float | None
    language: str | None
    send_file: bool


@dataclass(frozen=True)
class Active:
    """A waiting or running job whose status message may need an edit."""

    job_id: int
    chat_id: int
    status_message_id: int
    state: str
    position: int | None
    progress: float
    eta_seconds: float | None
    language: str | None


def finished_jobs(s: Session, *, limit: int = 20) -> list[Finished]:
    found = []
    for job in queue.undelivered(s, limit=limit):
        user = s.get(User, job.user_id)
        found.append(
            Finished(
                job_id=job.id,
                chat_id=job.chat_id,
                state=job.state,
                status_message_id=job.status_message_id,
                result_sha=job.result_sha,
                error=job.error,
                run_seconds=job.run_seconds,
                language=user.language if user else None,
                send_file=bool(user and user.send_file),
            )
        )
    return found


def active_jobs(s: Session, *, skip: frozenset[int] = frozenset()) -> list[Active]:
    """Open jobs with a status message, except ``skip`` (edited too recently to edit again),
    running ones first: their progress bars matter more than places in the queue."""
    found = []
    places: dict[int, int] | None = None
    for job in queue.active_jobs(s):
        if job.status_message_id is None or job.id in skip:
            continue
        queued = job.state == JobState.QUEUED.value
        if queued and places is None:
            places = queue.positions(s)  # one query for the whole queue
        found.append(
            Active(
                job_id=job.id,
                chat_id=job.chat_id,
                status_message_id=job.status_message_id,
                state=job.state,
                position=places.get(job.id) if queued and places is not None else None,
                progress=job.progress or 0.0,
                eta_seconds=job.eta_seconds,
                language=job.language,
            )
        )
    found.sort(key=lambda active: active.state != JobState.RUNNING.value)
    return found


def result_image(s: Session, *, sha: str) -> tuple[bytes, int, int]:
    image = s.get(Image, sha)
    if image is None:
        raise LookupError(f"result image {sha} is missing")
    return image.data, image.width, image.height


def progress_bar(fraction: float) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * BAR_CELLS)
    return "▓" * filled + "░" * (BAR_CELLS - filled)


def status_text(job: Active, t: Texts) -> str:
    """What the status message says about a waiting or running job."""
    if job.state == JobState.QUEUED.value:
        if job.position is None or job.position <= 1:
            return t("queued_next")
        return t("queued", position=job.position)
    if job.progress <= 0:
        return t("starting")
    eta = t("eta", time=t.duration(job.eta_seconds)) if job.eta_seconds else ""
    return t("running", bar=progress_bar(job.progress), percent=round(job.progress * 100), eta=eta)


def as_photo(size: int, width: int, height: int) -> bool:
    """Whether Telegram will take the picture as a photo."""
    return (
        size <= PHOTO_MAX_BYTES
        and width + height <= PHOTO_MAX_SIDES
        and max(width, height) / max(1, min(width, height)) <= PHOTO_MAX_ASPECT
    )


class Delivery:
    """Runs the loop; remembers what each status message shows and when it was last edited."""

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
        self._task: asyncio.Task[None] | None = None
        self._pruned_at: float | None = None  # monotonic time of the last prune
        self._statuses_read_at = float("-inf")  # monotonic time active jobs were last read

    def track(self, job_id: int, text: str, *, swap: bool) -> None:
        """A status message was just posted for a job."""
        self._shown[job_id] = (text, time.monotonic())
        if swap:
            self._swap.add(job_id)

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
            self._post_status(job_id, chat_id, text, markup, swap=swap), name=f"status {job_id}"
        )
        self._posts.add(task)
        task.add_done_callback(self._posts.discard)

    async def _post_status(
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
        self.track(job_id, text, swap=swap)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="delivery")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._posts:  # status messages on their way: a moment to finish
            await asyncio.wait(set(self._posts), timeout=STOP_POSTING_SECONDS)
            for task in self._posts:
                task.cancel()

    async def _run(self) -> None:
        logger.info("delivery loop started")
        while True:
            try:
                await self.tick()
                await self.prune_if_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                # One bad job or a database hiccup must not end delivery for everyone.
                logger.exception("delivery loop: unexpected error, carrying on")
            await asyncio.sleep(self.settings.delivery_poll_seconds)

    async def prune_if_due(self) -> None:
        """At start-up and then once a day: forget what is older than KEEP_DAYS (0: never)."""
        now = time.monotonic()
        due = self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY_SECONDS
        if not self.settings.keep_days or not due:
            return
        self._pruned_at = now
        older_than = timedelta(days=self.settings.keep_days)
        await in_transaction(self.maker, prune.prune, older_than=older_than)

    async def tick(self) -> None:
        """Answer every finished job, then refresh status messages that are due."""
        for job in await in_transaction(self.maker, finished_jobs):
            if job.job_id not in self._posting:
                await self.deliver(job)
        now = time.monotonic()
        if now - self._statuses_read_at < STATUS_READ_SECONDS:
            return
        self._statuses_read_at = now
        recent = frozenset(
            job_id
            for job_id, (_, when) in self._shown.items()
            if now - when < self.settings.progress_seconds
        )
        for active in await in_transaction(self.maker, active_jobs, skip=recent):
            await self.refresh(active)

    async def deliver(self, job: Finished) -> None:
        """Send one finished job's answer, then mark it delivered (also when it cannot be sent)."""
        t = Texts(pick_language(job.language, None))
        try:
            await self._answer(job, t)
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
        self._shown.pop(job.job_id, None)
        self._swap.discard(job.job_id)

    async def _answer(self, job: Finished, t: Texts) -> None:
        # The answer first: it is what the person waits for; the status message follows.
        if job.state == JobState.DONE.value and job.result_sha:
            await self._send_result(job, t)
            await self._edit_status(job.chat_id, job.status_message_id, t("done_status"))
        elif job.state == JobState.FAILED.value:
            await self.bot.send_message(job.chat_id, t("failed", reason=job.error or "?"))
            await self._edit_status(job.chat_id, job.status_message_id, t("failed_status"))
        else:
            await self._edit_status(job.chat_id, job.status_message_id, t("cancelled_status"))

    async def _send_result(self, job: Finished, t: Texts) -> None:
        assert job.result_sha is not None
        data, width, height = await in_transaction(self.maker, result_image, sha=job.result_sha)
        photo = as_photo(len(data), width, height)
        file = not photo or job.send_file or max(width, height) > PHOTO_KEPT_SIDE
        caption = t("result_caption", seconds=job.run_seconds or 0)
        markup: InlineKeyboardMarkup | None = keyboards.result(job.job_id, t, file_button=not file)
        if len(data) > UPLOAD_ACTION_BYTES:
            with contextlib.suppress(TelegramError):
                await self.bot.send_chat_action(job.chat_id, ChatAction.UPLOAD_PHOTO)
        if photo:
            try:
                await self.bot.send_photo(job.chat_id, data, caption=caption, reply_markup=markup)
                markup = None
            except BadRequest as e:
                logger.warning("job %s: not taken as a photo (%s); sending a file", job.job_id, e)
                file = True
        if file:
            await self.bot.send_document(
                job.chat_id,
                data,
                filename=f"stylized-{job.job_id}.jpg",
                caption=t("result_file") if markup is None else caption,
                reply_markup=markup,
            )

    async def _edit_status(
        self,
        chat_id: int,
        message_id: int | None,
        text: str,
        markup: InlineKeyboardMarkup | None = None,
        *,
        priority: Priority = Priority.ANSWER,
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

    async def refresh(self, job: Active) -> None:
        """Edit a status message if what it should say changed and it was not edited lately."""
        t = Texts(pick_language(job.language, None))
        text = status_text(job, t)
        shown, when = self._shown.get(job.job_id, ("", 0.0))
        spacing = self.settings.progress_seconds
        if job.state == JobState.QUEUED.value:
            spacing = max(spacing, len(self._shown) / POSITION_EDITS_PER_SECOND)
        if text == shown or time.monotonic() - when < spacing:
            return
        swap = job.job_id in self._swap and job.state == JobState.QUEUED.value
        markup = keyboards.queued(job.job_id, t, swap=swap)
        self._shown[job.job_id] = (text, time.monotonic())
        try:
            await self._edit_status(
                job.chat_id, job.status_message_id, text, markup, priority=Priority.EDIT
            )
        except Forbidden:
            logger.info("job %s: the person blocked the bot; no more progress edits", job.job_id)
        except TelegramError as e:
            logger.warning("job %s: progress edit failed (%s)", job.job_id, e)
