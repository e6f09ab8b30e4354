"""Status messages: the message under each queued job that shows its place, then its progress,
and finally what became of it.

For a person with live previews on (the default), the message is a picture with a caption:
their photo, small, while the job waits; the painting as it stands while it runs (the
worker's preview, engine.jobs.outputs, put in with editMessageMedia); the finished picture and
"Done." at the end. Without previews it is a text, as it always was.

A new job's message is posted in the background (:meth:`StatusMessages.follow`); from then on
it is edited at most once every ``progress_seconds``, places in the queue less often when many
people wait (``POSITION_EDITS_PER_SECOND``), and progress bars first. A new picture goes out
in the background too, at the lowest priority of the flood limiter (``Priority.PREVIEW``), so
that it never holds up the delivery loop, a result or anyone's answer; one edit at a time per
message, so that an older caption never lands after a newer one.

What the chat does to a status message loses nothing: a message the person deleted is left
alone from then on; a picture Telegram refuses twice is not offered again (the caption goes
on); a preview refused by flood control is dropped (a fresher one follows). The last word
(:meth:`StatusMessages.close`) never fails the answer it follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker
from telegram import InlineKeyboardMarkup, InputMediaPhoto, Message
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import ExtBot

from engine import images
from engine.contract import PREVIEW_SIDE, JobKind
from engine.jobs import outputs
from engine.jobs.models import JobState
from engine.jobs.outage import brief, is_outage

from .. import keyboards
from ..clips import first_frame, is_clip
from ..ratelimit import Priority
from ..settings import BotSettings
from ..store import in_transaction
from ..store.jobs import Active, active_jobs, set_status_message, status_picture
from ..store.results import Finished, result_image
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
PICTURE_REFUSALS = 2  # pictures Telegram refused for one message before we stop offering them


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


def gone(error: BadRequest) -> bool:
    """Telegram says the message is not there any more (the person deleted it)."""
    message = str(error).lower()
    return "message to edit not found" in message or "message_id_invalid" in message


def unchanged(error: BadRequest) -> bool:
    return "not modified" in str(error).lower()


@dataclass
class Shown:
    """What a job's status message shows, as far as the bot knows."""

    text: str
    when: float  # monotonic time of the last edit (or of the post)
    photo: bool = False  # a picture with a caption
    preview: int = 0  # the preview it shows (engine.jobs.outputs' seq); 0: the photo
    refusals: int = 0  # pictures Telegram refused for it
    gone: bool = False  # deleted by the person (or the bot blocked): no more edits at all
    held: bool = False  # cancelled, and the message says so: nothing more until the last word
    picture: asyncio.Task[None] | None = None  # a new picture on its way

    @property
    def busy(self) -> bool:
        return self.picture is not None and not self.picture.done()


class StatusMessages:
    """Posts the status messages, remembers what each shows and when it was last edited."""

    def __init__(
        self, bot: ExtBot[int], maker: sessionmaker[Session], settings: BotSettings
    ) -> None:
        self.bot = bot
        self.maker = maker
        self.settings = settings
        self._shown: dict[int, Shown] = {}  # job id -> what its message shows
        self._swap: set[int] = set()  # jobs whose status message offers a swap
        self._posting: set[int] = set()  # jobs whose status message is on its way
        self._posts: set[asyncio.Task[None]] = set()  # status messages being posted
        self._read_at = float("-inf")  # monotonic time active jobs were last read
        self.pictures_sent = 0  # previews put in (for the logs and the benchmarks)

    def track(self, job_id: int, text: str, *, swap: bool, photo: bool = False) -> None:
        """A status message was just posted for a job."""
        self._shown[job_id] = Shown(text, time.monotonic(), photo=photo)
        if swap:
            self._swap.add(job_id)

    def forget(self, job_id: int) -> None:
        """The job is answered: its status message needs nothing more."""
        shown = self._shown.pop(job_id, None)
        if shown is not None and shown.busy:
            assert shown.picture is not None
            shown.picture.cancel()
        self._swap.discard(job_id)

    def hold(self, job_id: int) -> None:
        """Edit the job's status message no more until its last word (the person cancelled it
        and was told so in the message itself); a picture on its way is called back."""
        shown = self._shown.setdefault(job_id, Shown("", time.monotonic()))
        shown.held = True
        if shown.busy:
            assert shown.picture is not None
            shown.picture.cancel()

    def is_posting(self, job_id: int) -> bool:
        return job_id in self._posting

    def posting_now(self) -> frozenset[int]:
        """The jobs whose status message is on its way at this moment."""
        return frozenset(self._posting)

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
        self,
        job_id: int,
        chat_id: int,
        text: str,
        markup: InlineKeyboardMarkup,
        *,
        swap: bool,
        photo: bool = False,
    ) -> None:
        """Post a new job's status message in the background; from then on it shows the
        job's place and progress (``photo``: as a picture, the job's photo to begin with).

        In a burst the message waits its turn in the flood limiter, behind answers to other
        people; the person's next message is not held up with it.
        """
        self._posting.add(job_id)  # now, not when the task starts
        task = asyncio.create_task(
            self._post(job_id, chat_id, text, markup, swap=swap, photo=photo),
            name=f"status {job_id}",
        )
        self._posts.add(task)
        task.add_done_callback(self._posts.discard)

    async def _small_photo(self, job_id: int) -> bytes | None:
        """The job's photo (a clip's first frame), small, for its status message (None: send
        a text instead)."""
        found = await in_transaction(self.maker, status_picture, job_id=job_id)
        if found is None:
            return None
        data, mime = found
        try:
            if is_clip(mime):
                return await asyncio.to_thread(first_frame, data, PREVIEW_SIDE)
            small = await asyncio.to_thread(images.small_jpeg_of, data, PREVIEW_SIDE)
        except (images.ImageError, ValueError) as e:
            logger.warning("job %s: no picture for the status message (%s)", job_id, e)
            return None
        return small.data

    async def _post(
        self,
        job_id: int,
        chat_id: int,
        text: str,
        markup: InlineKeyboardMarkup,
        *,
        swap: bool,
        photo: bool,
    ) -> None:
        with self.posting(job_id):
            try:
                picture = await self._small_photo(job_id) if photo else None
                if picture is not None:
                    status = await self.bot.send_photo(
                        chat_id,
                        picture,
                        caption=text,
                        reply_markup=markup,
                        rate_limit_args=Priority.STATUS,
                    )
                else:
                    status = await self.bot.send_message(
                        chat_id, text, reply_markup=markup, rate_limit_args=Priority.STATUS
                    )
                await in_transaction(
                    self.maker,
                    set_status_message,
                    job_id=job_id,
                    message_id=status.message_id,
                    photo=picture is not None,
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
        self.track(job_id, text, swap=swap, photo=picture is not None)

    async def stop(self) -> None:
        """At shutdown: status messages on their way get a moment to finish; pictures on
        their way are called back (the next start shows a fresher one)."""
        if self._posts:
            await asyncio.wait(set(self._posts), timeout=STOP_POSTING_SECONDS)
            for task in self._posts:
                task.cancel()
        pictures = [s.picture for s in self._shown.values() if s.busy and s.picture]
        for task in pictures:
            task.cancel()
        if pictures:
            await asyncio.wait(pictures, timeout=STOP_POSTING_SECONDS)

    async def refresh_due(self) -> None:
        """Edit the status messages whose text or picture changed, if it is time to look."""
        now = time.monotonic()
        if now - self._read_at < STATUS_READ_SECONDS:
            return
        self._read_at = now
        recent = frozenset(
            job_id
            for job_id, shown in self._shown.items()
            if now - shown.when < self.settings.progress_seconds
            or shown.gone
            or shown.held
            or shown.busy
        )
        for active in await in_transaction(self.maker, active_jobs, skip=recent):
            await self.refresh(active)

    async def refresh(self, job: Active) -> None:
        """Edit a status message if what it should say (or show) changed and it was not edited
        lately: a new picture in the background, a caption or a text at once."""
        shown = self._shown.get(job.job_id)
        if shown is None:  # posted before a restart: known from the database only
            shown = self._shown[job.job_id] = Shown("", 0.0, photo=job.status_photo)
        if shown.gone or shown.held or shown.busy:
            return
        t = Texts(pick_language(job.language, None))
        text = status_text(
            t,
            job.state,
            position=job.position,
            progress=job.progress,
            eta_seconds=job.eta_seconds,
        )
        spacing = self.settings.progress_seconds
        if job.state == JobState.QUEUED:
            spacing = max(spacing, len(self._shown) / POSITION_EDITS_PER_SECOND)
        picture = shown.photo and job.preview > shown.preview and shown.refusals < PICTURE_REFUSALS
        if (text == shown.text and not picture) or time.monotonic() - shown.when < spacing:
            return
        swap = job.job_id in self._swap and job.state == JobState.QUEUED
        markup = keyboards.queued(job.job_id, t, swap=swap)
        shown.when = time.monotonic()
        if picture:
            shown.picture = asyncio.create_task(
                self._show_preview(job, shown, text, markup), name=f"preview {job.job_id}"
            )
            return
        shown.text = text
        try:
            await self._edit(
                job.chat_id,
                job.status_message_id,
                text,
                markup,
                photo=shown.photo,
                priority=Priority.EDIT,
            )
        except Forbidden:
            logger.info("job %s: the person blocked the bot; no more progress edits", job.job_id)
            shown.gone = True
        except BadRequest as e:
            if gone(e):
                logger.info("job %s: the status message is gone; no more edits", job.job_id)
                shown.gone = True
            elif not unchanged(e):
                logger.warning("job %s: progress edit refused (%s)", job.job_id, e)
        except TelegramError as e:
            logger.warning("job %s: progress edit failed (%s)", job.job_id, e)

    async def _show_preview(
        self, job: Active, shown: Shown, text: str, markup: InlineKeyboardMarkup
    ) -> None:
        """Put the job's newest preview in its status message, with the caption of now."""
        preview = await in_transaction(self.maker, outputs.preview_of, job.job_id)
        if preview is None:  # finished meanwhile: its last word shows the result
            return
        try:
            await self.bot.edit_message_media(
                InputMediaPhoto(preview.picture.data, caption=text),
                job.chat_id,
                job.status_message_id,
                reply_markup=markup,
                rate_limit_args=Priority.PREVIEW,
            )
        except Forbidden:
            shown.gone = True
        except RetryAfter:
            # Dropped, not tried again: the next preview is fresher anyway.
            logger.info("job %s: preview dropped under flood control", job.job_id)
            shown.preview = preview.seq
        except BadRequest as e:
            if gone(e):
                logger.info("job %s: the status message is gone; no more edits", job.job_id)
                shown.gone = True
            elif not unchanged(e):
                shown.refusals += 1
                logger.warning(
                    "job %s: preview refused (%s)%s",
                    job.job_id,
                    e,
                    "; captions only from now on" if shown.refusals >= PICTURE_REFUSALS else "",
                )
        except TelegramError as e:  # a network error: the next preview tries again
            logger.warning("job %s: preview not shown (%s)", job.job_id, e)
        else:
            shown.preview, shown.text = preview.seq, text
            self.pictures_sent += 1

    async def close(self, job: Finished, text: str, result: Message | None = None) -> None:
        """A job's last word in its status message, sent as part of its answer: "Done." under
        the finished picture (``result``: the result's photo message, whose picture it reuses),
        or what became of it under the last picture it showed.

        It never fails the answer: the result is out already, and a status message that
        cannot take its last word is only left as it was."""
        shown = self._shown.get(job.job_id)
        if shown is not None and shown.busy:  # a picture on its way would land after this
            assert shown.picture is not None
            shown.picture.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await shown.picture
        message_id = job.status_message_id
        if message_id is None or (shown is not None and shown.gone):
            return
        try:
            # A clip's status message keeps the last frame it showed: its result is no picture.
            finished = (
                job.status_photo
                and job.state == JobState.DONE
                and job.result_sha
                and job.kind is not JobKind.VIDEO
            )
            if finished and await self._show_result(job, message_id, text, result):
                return
            await self._edit(
                job.chat_id, message_id, text, photo=job.status_photo, priority=Priority.ANSWER
            )
        except BadRequest as e:
            # Not modified (a cancel button already said so), or the message is gone.
            logger.debug("job %s: status message not closed: %s", job.job_id, e)
        except TelegramError as e:
            logger.warning("job %s: status message not closed (%s)", job.job_id, e)

    async def _show_result(
        self, job: Finished, message_id: int, text: str, result: Message | None
    ) -> bool:
        """The finished picture in the status message; False if Telegram would not take it
        (the caption alone then says it is done)."""
        media: str | bytes
        if result is not None and result.photo:
            # The result's own photo, by its file id: no upload, no resizing.
            size = min(result.photo, key=lambda p: abs(max(p.width, p.height) - PREVIEW_SIDE))
            media = size.file_id
        else:
            assert job.result_sha is not None
            data, _, _ = await in_transaction(self.maker, result_image, sha=job.result_sha)
            media = (await asyncio.to_thread(images.small_jpeg_of, data, PREVIEW_SIDE)).data
        try:
            await self.bot.edit_message_media(
                InputMediaPhoto(media, caption=text),
                job.chat_id,
                message_id,
                rate_limit_args=Priority.ANSWER,
            )
        except BadRequest as e:
            if gone(e):
                return True
            logger.warning("job %s: finished picture refused (%s)", job.job_id, e)
            return False
        return True

    async def _edit(
        self,
        chat_id: int,
        message_id: int | None,
        text: str,
        markup: InlineKeyboardMarkup | None = None,
        *,
        photo: bool,
        priority: Priority,
    ) -> None:
        """A status message's words: its caption (a picture) or its text."""
        if message_id is None:
            return
        if photo:
            await self.bot.edit_message_caption(
                chat_id, message_id, caption=text, reply_markup=markup, rate_limit_args=priority
            )
        else:
            await self.bot.edit_message_text(
                text, chat_id, message_id, reply_markup=markup, rate_limit_args=priority
            )
