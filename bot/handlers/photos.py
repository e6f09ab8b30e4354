"""Pictures people send: the first is the photo, the next one (or a preset) its style."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import quote, urlsplit, urlunsplit

from telegram import Animation, Document, PhotoSize, Update, Video, VideoNote
from telegram.error import BadRequest, TelegramError

from ..context import Context
from ..http import AiohttpRequest, TooLarge
from ..store.jobs import photo_params
from ..store.people import Person
from ..store.uploads import UploadLimits, check_allowance, record_upload
from ..store.waiting import take_picture
from ..texts import Texts
from ..uploads import Upload, UploadRejected, check_attachment, check_upload, too_big
from .common import reply, who
from .gallery import send_gallery
from .submission import submit

logger = logging.getLogger(__name__)


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
    await take_upload(update, context, person, t, upload)


async def take_upload(
    update: Update, context: Context, person: Person, t: Texts, upload: Upload
) -> None:
    """Store a checked picture: the photo to paint (the gallery follows), or the style of the
    photo waiting for one (the job is queued)."""
    chat = update.effective_chat
    assert chat is not None
    try:
        taken = await context.db(
            take_picture,
            user_id=person.id,
            chat_id=chat.id,
            data=upload.data,
            mime=upload.mime,
            width=upload.width,
            height=upload.height,
            limits=upload_limits(context),
        )
    except UploadRejected as rejected:  # this picture would pass the bytes kept
        logger.info("user %s: upload refused (%s)", person.id, rejected.key)
        # Downloaded all the same: it counts toward the hour, or a person at their limit of
        # bytes could have the bot download 20 MB again and again.
        await context.db(record_upload, user_id=person.id, sha=None, size=len(upload.data))
        await reply(update, t(rejected.key, **rejected.values))
        return
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
        swap=not taken.clip,  # a clip is never a style
        uses_waiting=True,
    )


def upload_limits(context: Context) -> UploadLimits:
    settings = context.settings
    return UploadLimits(
        per_hour=settings.max_uploads_per_hour, stored_bytes=settings.max_stored_bytes_per_user
    )


async def download(
    update: Update, context: Context, t: Texts, attachment: PhotoSize | Document
) -> Upload | None:
    """Fetch and check the picture; on any problem, tell the person and return None.

    What Telegram says of the file (its type, its size, a photo's pixels) and the person's
    allowance are checked first, so a file that would be refused costs no download; the
    download itself stops at MAX_UPLOAD_BYTES, whatever size Telegram gave or did not give.
    """
    settings = context.settings
    user = update.effective_user
    assert user is not None
    try:
        check_attachment(
            attachment,
            max_bytes=settings.max_upload_bytes,
            max_pixels=settings.max_upload_pixels,
        )
        await context.db(check_allowance, user_id=user.id, limits=upload_limits(context))
        data = await fetch(context, attachment, limit=settings.max_upload_bytes)
        if data is None:
            await reply(update, t("download_failed"))
            return None
        try:
            return await asyncio.to_thread(
                check_upload, data, max_pixels=settings.max_upload_pixels
            )
        except UploadRejected:
            # Refused after all, but downloaded: it counts toward the hourly allowance.
            await context.db(record_upload, user_id=user.id, sha=None, size=len(data))
            raise
    except UploadRejected as rejected:
        logger.info("user %s: upload refused (%s)", user.id, rejected.key)
        await reply(update, t(rejected.key, **rejected.values))
        return None


async def fetch(
    context: Context,
    attachment: PhotoSize | Document | Animation | Video | VideoNote,
    *,
    limit: int,
) -> bytes | None:
    """The file's bytes, at most ``limit`` of them (UploadRejected past that); None when
    Telegram would not hand it over."""
    try:
        file = await attachment.get_file()
        if (file.file_size or 0) > limit:
            raise too_big(file.file_size, limit)
        if not file.file_path:
            raise BadRequest("Telegram gave no file_path")
        request = context.bot.request
        assert isinstance(request, AiohttpRequest), "the application is built with it"
        return await request.download(file_url(file.file_path), limit=limit)
    except TooLarge as e:
        raise too_big(e.size, limit) from None
    except BadRequest as e:
        if "too big" in str(e).lower():
            raise too_big(None, limit) from None
        logger.warning("could not get file %s: %s", attachment.file_id, e)
        return None
    except TelegramError as e:
        logger.warning("could not download file %s: %s", attachment.file_id, e)
        return None


def file_url(path: str) -> str:
    """A file's URL as python-telegram-bot's own downloads spell it (non-ASCII quoted)."""
    parts = urlsplit(path)
    return urlunsplit(parts._replace(path=quote(parts.path)))
