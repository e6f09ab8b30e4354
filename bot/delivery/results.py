"""A finished job's answer: the result (as a photo, and as a file when that keeps more of it;
a video job's clip as an animation, or as a video when it has sound), or a failure's reason,
sent as a sequence of steps.

Each step is recorded the moment Telegram accepts it (the message id, in the job's row and in
the :class:`Answer` kept in memory), so a try that fails at a later step sends only what is
still missing: a failed file upload never sends the photo again. A chat that migrated to a
supergroup is followed there. Telegram's other errors reach the caller, which decides what
they mean for the job.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker
from telegram import InlineKeyboardMarkup, Message
from telegram.constants import ChatAction
from telegram.error import BadRequest, ChatMigrated, TelegramError
from telegram.ext import ExtBot

from engine.contract import VIDEO_MIME, JobKind
from engine.jobs import queue
from engine.jobs.models import JobState
from engine.jobs.outage import brief, is_outage

from .. import keyboards
from ..store import in_transaction
from ..store.posters import poster_offer
from ..store.results import Finished, move_chat, result_clip, result_image
from ..texts import Texts
from .limits import PHOTO_KEPT_SIDE, as_photo

logger = logging.getLogger(__name__)

# Above this size a result may take a moment to upload: the chat shows "sending a photo".
UPLOAD_ACTION_BYTES = 1024 * 1024


def failure_reason(t: Texts, kind: str | None) -> str:
    """What a person is told about a job that failed with ``kind`` (FailureKind), in their
    language: a sentence of ours, never the error's own text (which may quote code, paths or
    someone else's data); a kind this bot does not know gets the generic one."""
    key = f"failure_{kind}"
    return t(key) if kind and t.knows(key) else t("failure_unknown")


@dataclass
class Answer:
    """One job's answer as it goes out: the chat it goes to, and the steps done so far.

    Kept in memory across tries, so that a step Telegram accepted while the database was
    away (its record not yet written: ``unsaved``) is still never sent again."""

    job: Finished
    chat_id: int
    result_message_id: int | None
    file_message_id: int | None
    unsaved: bool = False
    # The result's photo message, when this process sent it: the status message's last
    # picture reuses it (no second upload).
    photo: Message | None = None

    @classmethod
    def of(cls, job: Finished) -> Answer:
        return cls(
            job=job,
            chat_id=job.chat_id,
            result_message_id=job.result_message_id,
            file_message_id=job.file_message_id,
        )


class ResultSender:
    """Sends finished jobs' answers into their chats, step by step."""

    def __init__(self, bot: ExtBot[int], maker: sessionmaker[Session]) -> None:
        self.bot = bot
        self.maker = maker

    async def send(self, answer: Answer, t: Texts, *, stopping: Callable[[], bool]) -> bool:
        """The answer a person waits for: the result, or why it failed (a cancelled job has
        none: its status message says so). False when ``stopping()`` said to stop between two
        steps (the rest goes out after the restart)."""
        job = answer.job
        if answer.unsaved:
            await self._save(answer)
        if job.state == JobState.DONE and job.result_sha and job.kind is JobKind.VIDEO:
            await self._send_clip(answer, job.result_sha, t)
            return True
        if job.state == JobState.DONE and job.result_sha:
            return await self._send_result(answer, job.result_sha, t, stopping)
        if job.state == JobState.FAILED and answer.result_message_id is None:
            logger.info("job %s failed (%s): %s", job.job_id, job.error_kind, job.error)
            text = t("failed", reason=failure_reason(t, job.error_kind))
            sent = await self._in_chat(answer, lambda chat: self.bot.send_message(chat, text))
            await self._record(answer, result_message_id=sent.message_id)
        return True

    async def _send_result(
        self, answer: Answer, sha: str, t: Texts, stopping: Callable[[], bool]
    ) -> bool:
        job = answer.job
        data, width, height = await in_transaction(self.maker, result_image, sha=sha)
        photo = as_photo(len(data), width, height)
        file = not photo or job.send_file or max(width, height) > PHOTO_KEPT_SIDE
        caption = t("result_caption", seconds=job.run_seconds or 0)
        offer = await in_transaction(self.maker, poster_offer)
        if offer is not None and max(width, height) >= offer.side:
            offer = None  # it is a poster already (or as large as one)
        markup: InlineKeyboardMarkup | None = keyboards.result(
            job.job_id, t, file_button=not file, timelapse=job.frames > 0, poster=offer
        )
        if photo and answer.result_message_id is None:
            if len(data) > UPLOAD_ACTION_BYTES:
                with contextlib.suppress(TelegramError):
                    await self.bot.send_chat_action(answer.chat_id, ChatAction.UPLOAD_PHOTO)
            try:
                sent = await self._in_chat(
                    answer,
                    lambda chat: self.bot.send_photo(
                        chat, data, caption=caption, reply_markup=markup
                    ),
                )
            except BadRequest as e:
                logger.warning("job %s: not taken as a photo (%s); sending a file", job.job_id, e)
                file = True
            else:
                answer.photo = sent
                await self._record(answer, result_message_id=sent.message_id)
        if not file or answer.file_message_id is not None:
            return True
        if stopping():
            return False
        alone = answer.result_message_id is None  # the file is the answer: caption, buttons
        sent = await self._in_chat(
            answer,
            lambda chat: self.bot.send_document(
                chat,
                data,
                filename=f"stylized-{job.job_id}.jpg",
                caption=caption if alone else t("result_file"),
                reply_markup=markup if alone else None,
            ),
        )
        await self._record(answer, file_message_id=sent.message_id)
        return True

    async def _send_clip(self, answer: Answer, sha: str, t: Texts) -> None:
        """A painted clip, in one step: Telegram plays an MP4 without sound as an animation
        (looping, like the GIF it may have been) and one with sound as a video."""
        if answer.result_message_id is not None:
            return
        job = answer.job
        data, mime = await in_transaction(self.maker, result_clip, sha=sha)
        caption = t("result_caption", seconds=job.run_seconds or 0)
        markup = keyboards.result(job.job_id, t, file_button=False)
        filename = f"stylized-{job.job_id}.mp4"
        with contextlib.suppress(TelegramError):
            await self.bot.send_chat_action(answer.chat_id, ChatAction.UPLOAD_VIDEO)
        if mime == VIDEO_MIME:
            sent = await self._in_chat(
                answer,
                lambda chat: self.bot.send_video(
                    chat,
                    data,
                    caption=caption,
                    reply_markup=markup,
                    filename=filename,
                    supports_streaming=True,
                ),
            )
        else:
            sent = await self._in_chat(
                answer,
                lambda chat: self.bot.send_animation(
                    chat, data, caption=caption, reply_markup=markup, filename=filename
                ),
            )
        await self._record(answer, result_message_id=sent.message_id)

    async def _in_chat(self, answer: Answer, send: Callable[[int], Awaitable[Message]]) -> Message:
        """``send(chat_id)`` into the answer's chat, following it once if it migrated."""
        try:
            return await send(answer.chat_id)
        except ChatMigrated as e:
            new = int(e.new_chat_id)
            logger.info(
                "job %s: chat %s became supergroup %s; following it",
                answer.job.job_id,
                answer.chat_id,
                new,
            )
            await in_transaction(self.maker, move_chat, old_chat_id=answer.chat_id, new_chat_id=new)
            answer.chat_id = new
            return await send(new)

    async def _record(
        self,
        answer: Answer,
        *,
        result_message_id: int | None = None,
        file_message_id: int | None = None,
    ) -> None:
        """Telegram accepted a step: remember it at once, here and in the database."""
        if result_message_id is not None:
            answer.result_message_id = result_message_id
        if file_message_id is not None:
            answer.file_message_id = file_message_id
        answer.unsaved = True
        await self._save(answer)

    async def _save(self, answer: Answer) -> None:
        try:
            await in_transaction(
                self.maker,
                queue.record_step,
                answer.job.job_id,
                result_message_id=answer.result_message_id,
                file_message_id=answer.file_message_id,
            )
        except Exception as e:
            if not is_outage(e):
                raise
            # Kept in memory: the next try writes it first, and sends nothing twice.
            logger.warning(
                "job %s: step sent but not yet recorded, the database is away (%s)",
                answer.job.job_id,
                brief(e),
            )
            return
        answer.unsaved = False
