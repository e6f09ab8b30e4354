"""A finished job's answer: the result (as a photo, and as a file when that keeps more of it),
or a failure's reason. Telegram's errors reach the caller, which decides what they mean."""

from __future__ import annotations

import contextlib
import logging

from sqlalchemy.orm import Session, sessionmaker
from telegram import InlineKeyboardMarkup, Message
from telegram.constants import ChatAction
from telegram.error import BadRequest, TelegramError
from telegram.ext import ExtBot

from engine.jobs.models import JobState

from .. import keyboards
from ..store import in_transaction
from ..store.results import Finished, result_image
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


class ResultSender:
    """Sends finished jobs' answers into their chats."""

    def __init__(self, bot: ExtBot[int], maker: sessionmaker[Session]) -> None:
        self.bot = bot
        self.maker = maker

    async def send(self, job: Finished, t: Texts) -> Message | None:
        """The answer a person waits for: the result, or why it failed (a cancelled job has
        none: its status message says so). The result's photo message, when it went as one
        (its picture can close the status message without another upload)."""
        if job.state == JobState.DONE and job.result_sha:
            return await self._send_result(job, job.result_sha, t)
        if job.state == JobState.FAILED:
            logger.info("job %s failed (%s): %s", job.job_id, job.error_kind, job.error)
            reason = failure_reason(t, job.error_kind)
            await self.bot.send_message(job.chat_id, t("failed", reason=reason))
        return None

    async def _send_result(self, job: Finished, sha: str, t: Texts) -> Message | None:
        data, width, height = await in_transaction(self.maker, result_image, sha=sha)
        photo = as_photo(len(data), width, height)
        file = not photo or job.send_file or max(width, height) > PHOTO_KEPT_SIDE
        caption = t("result_caption", seconds=job.run_seconds or 0)
        markup: InlineKeyboardMarkup | None = keyboards.result(
            job.job_id, t, file_button=not file, timelapse=job.frames > 0
        )
        sent: Message | None = None
        if len(data) > UPLOAD_ACTION_BYTES:
            with contextlib.suppress(TelegramError):
                await self.bot.send_chat_action(job.chat_id, ChatAction.UPLOAD_PHOTO)
        if photo:
            try:
                sent = await self.bot.send_photo(
                    job.chat_id, data, caption=caption, reply_markup=markup
                )
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
        return sent
