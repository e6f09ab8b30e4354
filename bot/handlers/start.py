"""/start, /help and /lang: greeting, instructions, and the person's language."""

from __future__ import annotations

from telegram import Update

from .. import keyboards
from ..callback_data import ChooseLanguage, parse
from ..context import Context
from ..texts import Texts
from .common import edit_text, pressed_message, refuse_button, reply, who
from .gallery import send_gallery


async def start(update: Update, context: Context) -> None:
    """Greet the person in their language, say what to do, and show the preset gallery."""
    _, t = await who(update, context)
    user = update.effective_user
    name = user.first_name if user else ""
    if len(context.presets):
        await reply(update, t("start", name=name))
        await send_gallery(update, context, t, page=0)
    else:
        await reply(update, t("start_no_presets", name=name))


async def help_command(update: Update, context: Context) -> None:
    """Explain how to use the bot and list its commands."""
    _, t = await who(update, context)
    await reply(update, t("help"))


async def choose_language_menu(update: Update, context: Context) -> None:
    """Offer the languages the bot speaks."""
    _, t = await who(update, context)
    await reply(update, t("lang_prompt"), keyboards.languages())


async def choose_language(update: Update, context: Context) -> None:
    """Store the language the person picked and answer in it."""
    query = update.callback_query
    assert query is not None
    action = parse(query.data)
    if not isinstance(action, ChooseLanguage):
        _, t = await who(update, context)
        await refuse_button(update, t)
        return
    await context.people.set_language(query.from_user.id, action.language)
    t = Texts(action.language)
    await query.answer()
    await edit_text(pressed_message(update), t("lang_set"), None)
