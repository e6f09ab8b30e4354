"""Pictures people send: the first is the photo, the next one (or a preset) its style."""

from __future__ import annotations

import asyncio
import logging

from telegram import Document, PhotoSize, Update
from telegram.error import BadRequest, TelegramError

from ..context import Context
from ..store.jobs import photo_params
from ..store.waiting import take_picture
from ..texts import Texts
from ..uploads import Upload, UploadRejected, check_upload
from .common import reply, who
from .gallery import send_gallery
from .submission import submit

logger = logging.getLogger(__name__)

MB = 1024 * 1024


async def receive_picture(update: Update, context: Context) -> None:
    """Take a photo or image file: the photo to paint, or the style for the one waiting."""
    person, t = await who(update, context)
    message = update.effective_message
    chat = update.effective_chat
    assert message is not None and chat is not None
    attachment: PhotoSize | Document | None = (
        message.photo[-1] if message.photo else message.document
    )
    if attachment is None:
        return
    upload = await download(update, context, t, attachment)
    if upload is None:
        return
    taken = await context.db(
        take_picture,
        user_id=person.id,
        chat_id=chat.id,
        data=upload.data,
        mime=upload.mime,
        width=upload.width,
        height=upload.height,
    )
    if taken.waiting is None:  # the photo: now it waits for a style
        if len(context.presets):  # one message: the gallery, with "got your photo" on top
            await send_gallery(update, context, t, page=0, intro=t("content_received"))
        else:
            await reply(update, t("content_received_no_presets"))
        return
    await submit(  # the style of the photo waiting for one
        update,
        context,
        person,
        t,
        content_sha=taken.waiting,
        styles=[(taken.sha, 1.0)],
        params=photo_params(person),
        swap=True,
        uses_waiting=True,
    )


async def download(
    update: Update, context: Context, t: Texts, attachment: PhotoSize | Document
) -> Upload | None:
    """Fetch and check the picture; on any problem, tell the person and return None."""
    limit = context.settings.max_upload_bytes
    size = attachment.file_size or 0
    if size > limit:  # checked before getFile, which refuses files over 20 MB anyway
        await reply(update, t("too_big", size_mb=size / MB, limit_mb=limit / MB))
        return None
    try:
        file = await attachment.get_file()
        if (file.file_size or 0) > limit:
            await reply(
                update, t("too_big", size_mb=(file.file_size or 0) / MB, limit_mb=limit / MB)
            )
            return None
        data = bytes(await file.download_as_bytearray())
    except BadRequest as e:
        if "too big" in str(e).lower():
            await reply(
                update, t("too_big", size_mb=max(size, limit + 1) / MB, limit_mb=limit / MB)
            )
        else:
            logger.warning("could not get file %s: %s", attachment.file_id, e)
            await reply(update, t("download_failed"))
        return None
    except TelegramError as e:
        logger.warning("could not download file %s: %s", attachment.file_id, e)
        await reply(update, t("download_failed"))
        return None
    try:
        return await asyncio.to_thread(
            check_upload, data, max_pixels=context.settings.max_upload_pixels
        )
    except UploadRejected as rejected:
        logger.info("rejected an upload: %s", rejected.key)
        await reply(update, t(rejected.key, **rejected.values))
        return None
