"""Everything the bot cannot use gets a short hint: stickers, voice, text..."""

from __future__ import annotations

from telegram import Update

from ..context import Context
from .common import refuse_button, reply, who


async def _hint(update: Update, context: Context, key: str) -> None:
    _, t = await who(update, context)
    await reply(update, t(key))


async def sticker(update: Update, context: Context) -> None:
    """A sticker: ask for a photo instead."""
    await _hint(update, context, "hint_sticker")


async def voice(update: Update, context: Context) -> None:
    """A voice message or audio: ask for a photo instead."""
    await _hint(update, context, "hint_voice")


async def text(update: Update, context: Context) -> None:
    """Plain text: say what to send."""
    await _hint(update, context, "hint_text")


async def unknown_command(update: Update, context: Context) -> None:
    """A command the bot does not have: point at /help."""
    await _hint(update, context, "unknown_command")


async def other(update: Update, context: Context) -> None:
    """Anything else (contacts, locations, polls...): say what the bot understands."""
    await _hint(update, context, "hint_other")


async def too_many_updates(update: Update, context: Context) -> None:
    """More of one person's updates than wait in line (bot/updates.py): say so, once."""
    _, t = await who(update, context)
    chat = update.effective_chat
    if chat is not None:
        await context.bot.send_message(chat.id, t("too_many_updates"))


async def stale_button(update: Update, context: Context) -> None:
    """A button press whose data the bot does not recognise (forged or from an old version)."""
    _, t = await who(update, context)
    await refuse_button(update, t)
