"""The preset gallery: one picture of numbered thumbnails, a button per painting, paging."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable, Callable

import aiofiles
from PIL import Image
from telegram import InputMediaPhoto, Message, Update
from telegram.error import BadRequest

from .. import keyboards
from ..callback_data import GalleryPage, PickPreset, parse
from ..context import Context
from ..presets import Preset
from ..presets.gallery import render_page
from ..store.jobs import photo_params
from ..store.presets import store_preset_image
from ..store.waiting import NothingWaiting
from ..texts import Texts
from .common import pressed_message, refuse_button, reply, who
from .submission import submit

logger = logging.getLogger(__name__)


async def gallery_picture(context: Context, page: int) -> bytes:
    """The rendered page, made once and kept."""
    pages = context.bot_data.gallery_pages
    if page not in pages:
        pages[page] = await asyncio.to_thread(render_page, context.presets, page)
    return pages[page]


async def show_page(
    context: Context, page: int, show: Callable[[str | bytes], Awaitable[Message | bool]]
) -> None:
    """Show a gallery page with ``show`` (a send or an edit, given the picture).

    A page is uploaded once; after that it goes by the file_id Telegram gave it, which is
    quicker for both sides (https://core.telegram.org/bots/api#sending-files). Should
    Telegram have forgotten the file, it is uploaded again.
    """
    file_ids = context.bot_data.gallery_file_ids
    if page in file_ids:
        try:
            await show(file_ids[page])
            return
        except BadRequest as e:
            logger.warning("gallery page %d by file_id failed: %s", page, e)
            del file_ids[page]
    shown = await show(await gallery_picture(context, page))
    if isinstance(shown, Message) and shown.photo:
        file_ids[page] = shown.photo[-1].file_id


async def send_gallery(
    update: Update, context: Context, t: Texts, *, page: int, intro: str | None = None
) -> None:
    """Post one page of the gallery with its buttons, ``intro`` above its caption."""
    chat = update.effective_chat
    assert chat is not None
    caption = t("gallery_caption", page=page + 1, pages=context.presets.pages)
    if intro:
        caption = f"{intro}\n{caption}"
    markup = keyboards.gallery(context.presets, page, t)

    async def send(picture: str | bytes) -> Message:
        return await context.bot.send_photo(chat.id, picture, caption=caption, reply_markup=markup)

    await show_page(context, page, send)


async def presets_command(update: Update, context: Context) -> None:
    """Show the gallery, or say that no presets are installed."""
    _, t = await who(update, context)
    if len(context.presets):
        await send_gallery(update, context, t, page=0)
    else:
        await reply(update, t("no_presets"))


async def turn_page(update: Update, context: Context) -> None:
    """Show another page of the gallery in the same message."""
    _, t = await who(update, context)
    query = update.callback_query
    assert query is not None
    action = parse(query.data)
    message = pressed_message(update)
    if not isinstance(action, GalleryPage) or action.page >= context.presets.pages or not message:
        await refuse_button(update, t)
        return
    await query.answer()
    caption = t("gallery_caption", page=action.page + 1, pages=context.presets.pages)
    markup = keyboards.gallery(context.presets, action.page, t)

    async def edit(picture: str | bytes) -> Message | bool:
        return await message.edit_media(
            InputMediaPhoto(picture, caption=caption), reply_markup=markup
        )

    await show_page(context, action.page, edit)


async def preset_image(context: Context, preset: Preset) -> str:
    """The preset's painting in the database (stored once, and pinned there, so that prune
    keeps it while the bot keeps its hash); its sha256."""
    known = context.bot_data.preset_images
    if preset.id not in known:
        async with aiofiles.open(context.presets.image_path(preset), "rb") as f:
            data = await f.read()
        width, height = await asyncio.to_thread(lambda: Image.open(io.BytesIO(data)).size)
        known[preset.id] = await context.db(
            store_preset_image, preset_id=preset.id, data=data, width=width, height=height
        )
    return known[preset.id]


async def pick_preset(update: Update, context: Context) -> None:
    """Use a preset painting as the style of the photo waiting for one, and queue the job."""
    person, t = await who(update, context)
    query = update.callback_query
    assert query is not None
    action = parse(query.data)
    preset = context.presets.get(action.preset_id) if isinstance(action, PickPreset) else None
    if preset is None:
        await refuse_button(update, t)
        return
    style = await preset_image(context, preset)
    params = photo_params(person, preset)
    try:
        await submit(
            update,
            context,
            person,
            t,
            content_sha=None,  # the photo waiting for its style
            styles=[(style, 1.0)],
            params=params,
            swap=False,
            toast=t("preset_picked", title=preset.title, artist=preset.artist),
        )
    except NothingWaiting:
        await query.answer(t("need_content"), show_alert=True)
