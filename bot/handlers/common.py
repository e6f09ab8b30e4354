"""Small helpers every handler uses: who is talking, in which language, and safe edits."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest

from ..context import Context
from ..store.people import Person
from ..texts import Texts, pick_language

logger = logging.getLogger(__name__)


async def who(update: Update, context: Context) -> tuple[Person, Texts]:
    """The person behind an update (created on first contact) and the texts in their language."""
    user = update.effective_user
    assert user is not None, "handlers are registered for updates from people"
    person = await context.people.get(user.id, telegram_language=user.language_code)
    return person, Texts(pick_language(person.language, user.language_code))


async def reply(update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> Message:
    """Answer in the chat the update came from."""
    message = update.effective_message
    assert message is not None
    return await message.reply_text(text, reply_markup=markup)


async def edit_text(
    message: Message | None, text: str, markup: InlineKeyboardMarkup | None
) -> None:
    """Edit a text message; an edit that changes nothing is not an error."""
    if message is None:
        return
    try:
        await message.edit_text(text, reply_markup=markup)
    except BadRequest as e:
        if "not modified" not in str(e).lower():
            raise


async def edit_words(
    message: Message | None, text: str, markup: InlineKeyboardMarkup | None
) -> None:
    """Edit what a message says: the caption of a picture (a status message with live
    previews), else the text; an edit that changes nothing is not an error."""
    if message is None or not message.photo:
        await edit_text(message, text, markup)
        return
    try:
        await message.edit_caption(text, reply_markup=markup)
    except BadRequest as e:
        if "not modified" not in str(e).lower():
            raise


def pressed_message(update: Update) -> Message | None:
    """The message whose button was pressed, when it is still accessible."""
    query = update.callback_query
    if query is not None and isinstance(query.message, Message):
        return query.message
    return None


async def refuse_button(update: Update, t: Texts, key: str = "stale_button") -> None:
    """Answer a forged or stale button press politely, changing nothing."""
    query = update.callback_query
    assert query is not None
    logger.info("refused button %r from user %s", query.data, query.from_user.id)
    await query.answer(t(key), show_alert=False)
