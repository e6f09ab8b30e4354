"""/settings: an inline menu for size, strength, colours, quality, the full-quality file and
live previews."""

from __future__ import annotations

from telegram import Update

from .. import keyboards
from ..callback_data import SettingsMenu, parse
from ..context import Context
from ..store.people import Person
from ..texts import Texts
from .common import edit_text, pressed_message, refuse_button, reply, who


def summary(person: Person, t: Texts) -> str:
    """The person's settings, as the menu shows them."""

    def label(setting: str) -> str:
        return keyboards.value_label(setting, keyboards.current_value(person, setting), t)

    return t(
        "settings_title",
        size=label("size"),
        strength=label("strength"),
        keep_colors=label("colors"),
        quality=label("quality"),
        send_file=label("file"),
        previews=label("previews"),
    )


async def show_settings(update: Update, context: Context) -> None:
    """Show the person's settings with a button per setting."""
    person, t = await who(update, context)
    await reply(update, summary(person, t), keyboards.settings_main(t))


async def settings_button(update: Update, context: Context) -> None:
    """Move through the menu: open a setting, or store the value chosen."""
    person, t = await who(update, context)
    query = update.callback_query
    assert query is not None
    action = parse(query.data)
    message = pressed_message(update)
    if not isinstance(action, SettingsMenu) or message is None:
        await refuse_button(update, t)
        return
    if action.setting is None:
        await query.answer()
        await edit_text(message, summary(person, t), keyboards.settings_main(t))
    elif action.value is None:
        await query.answer()
        name = t(keyboards.SETTING_NAMES[action.setting])
        await edit_text(
            message,
            t("settings_pick", name=name),
            keyboards.settings_values(action.setting, person, t),
        )
    else:
        person = await context.people.set_setting(person.id, action.setting, action.value)
        await query.answer(t("settings_saved"))
        await edit_text(message, summary(person, t), keyboards.settings_main(t))
