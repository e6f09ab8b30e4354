"""The preset gallery: one picture of numbered thumbnails, a button per painting, paging."""

from __future__ import annotations

import asyncio
import io
import logging

import aiofiles
from PIL import Image
from telegram import InputMediaPhoto, Update

from .. import keyboards
from ..callback_data import GalleryPage, PickPreset, parse
from ..context import Context
from ..presets import Preset
from ..presets.gallery import render_page
from ..store import job_params, put_image, set_waiting_content, waiting_content
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


async def send_gallery(update: Update, context: Context, t: Texts, *, page: int) -> None:
    """Post one page of the gallery with its buttons."""
    chat = update.effective_chat
    assert chat is not None
    await context.bot.send_photo(
        chat.id,
        await gallery_picture(context, page),
        caption=t("gallery_caption", page=page + 1, pages=context.presets.pages),
        reply_markup=keyboards.gallery(context.presets, page, t),
    )


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
    await message.edit_media(
        InputMediaPhoto(await gallery_picture(context, action.page), caption=caption),
        reply_markup=keyboards.gallery(context.presets, action.page, t),
    )


async def preset_image(context: Context, preset: Preset) -> str:
    """The preset's painting in the database (stored once); its sha256."""
    known = context.bot_data.preset_images
    if preset.id not in known:
        async with aiofiles.open(context.presets.image_path(preset), "rb") as f:
            data = await f.read()
        width, height = await asyncio.to_thread(lambda: Image.open(io.BytesIO(data)).size)
        known[preset.id] = await context.db(
            put_image, data=data, mime="image/jpeg", width=width, height=height
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
    content = await context.db(waiting_content, user_id=person.id)
    if content is None:
        await query.answer(t("need_content"), show_alert=True)
        return
    await query.answer(t("preset_picked", title=preset.title, artist=preset.artist))
    style = await preset_image(context, preset)
    params = job_params(person, strength=preset.strength, style_scale=preset.style_scale)
    chat = update.effective_chat
    assert chat is not None
    job_id = await submit(
        update,
        context,
        person,
        t,
        content_sha=content,
        styles=[(style, 1.0)],
        params=params,
        swap=False,
    )
    if job_id is not None:
        await context.db(set_waiting_content, user_id=person.id, chat_id=chat.id, sha=None)
