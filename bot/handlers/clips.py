"""Clips people send: an animation (Telegram's name for a GIF), a video, a round video note, or
a GIF or MP4 sent as a file. A clip waits for its style as a photo does, and the style is
chosen the same way (the gallery, or a picture sent next); the job is then a video
(``bot.store.jobs`` tells by what waits)."""

from __future__ import annotations

import asyncio
import logging

from telegram import Update

from ..clips import ClipAttachment, ClipRefused, check_clip, check_clip_attachment
from ..context import Context
from ..store.uploads import check_allowance, record_upload
from ..store.waiting import take_clip
from ..texts import Texts
from ..uploads import UploadRejected, check_upload
from .common import reply, who
from .gallery import send_gallery
from .photos import fetch, take_upload, upload_limits

logger = logging.getLogger(__name__)


async def receive_clip(update: Update, context: Context) -> None:
    """Take a clip within the limits: it waits for its style, and the gallery follows."""
    person, t = await who(update, context)
    message = update.effective_message
    chat = update.effective_chat
    assert message is not None and chat is not None
    attachment: ClipAttachment | None = (
        message.animation or message.video or message.video_note or message.document
    )
    if attachment is None:
        return
    data = await download_clip(update, context, t, attachment)
    if data is None:
        return
    settings = context.settings
    try:
        clip = await asyncio.to_thread(check_clip, data, limits=settings.video_limits)
    except ClipRefused as refused:
        logger.info("user %s: clip refused (%s)", person.id, refused.key)
        # Downloaded all the same: it counts toward the hour, as a refused picture does.
        await context.db(record_upload, user_id=person.id, sha=None, size=len(data))
        await reply(update, t(refused.key, **refused.values))
        return
    if clip.info.frames == 1:  # a GIF of one frame is a picture, and goes as one
        try:
            upload = await asyncio.to_thread(
                check_upload, data, max_pixels=settings.max_upload_pixels
            )
        except UploadRejected as rejected:
            await context.db(record_upload, user_id=person.id, sha=None, size=len(data))
            await reply(update, t(rejected.key, **rejected.values))
            return
        await take_upload(update, context, person, t, upload)
        return
    try:
        await context.db(
            take_clip,
            user_id=person.id,
            chat_id=chat.id,
            data=clip.data,
            mime=clip.mime,
            width=clip.info.width,
            height=clip.info.height,
            limits=upload_limits(context),
        )
    except UploadRejected as rejected:  # this clip would pass the bytes kept
        await context.db(record_upload, user_id=person.id, sha=None, size=len(data))
        await reply(update, t(rejected.key, **rejected.values))
        return
    logger.info(
        "user %s: clip of %d frames, %.1f s, %dx%d",
        person.id,
        clip.info.frames,
        clip.info.seconds,
        clip.info.width,
        clip.info.height,
    )
    if len(context.presets):
        await send_gallery(update, context, t, page=0, intro=t("clip_received"))
    else:
        await reply(update, t("clip_received_no_presets"))


async def download_clip(
    update: Update, context: Context, t: Texts, attachment: ClipAttachment
) -> bytes | None:
    """The clip's bytes; on any problem (over a limit by what Telegram says of it, the
    person's allowance, a failed download), tell the person and return None."""
    settings = context.settings
    user = update.effective_user
    assert user is not None
    try:
        check_clip_attachment(
            attachment, max_bytes=settings.max_upload_bytes, limits=settings.video_limits
        )
        await context.db(check_allowance, user_id=user.id, limits=upload_limits(context))
        data = await fetch(context, attachment, limit=settings.max_upload_bytes)
    except UploadRejected as rejected:
        logger.info("user %s: clip refused (%s)", user.id, rejected.key)
        await reply(update, t(rejected.key, **rejected.values))
        return None
    except ClipRefused as refused:
        logger.info("user %s: clip refused before download (%s)", user.id, refused.key)
        await reply(update, t(refused.key, **refused.values))
        return None
    if data is None:
        await reply(update, t("download_failed"))
    return data
