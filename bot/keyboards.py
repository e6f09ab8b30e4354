"""The bot's inline keyboards, built from callback_data actions and the person's texts."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from .callback_data import (
    SETTING_VALUES,
    Action,
    CancelJob,
    ChooseLanguage,
    GalleryPage,
    PickPreset,
    Rerun,
    SettingsMenu,
    SwapJob,
    Timelapse,
    encode,
)
from .presets import PAGE_SIZE, PresetLibrary
from .store.people import Person
from .store.posters import PosterOffer
from .texts import LANGUAGE_NAMES, Texts


def _button(text: str, action: Action) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=encode(action))


def gallery(library: PresetLibrary, page: int, t: Texts) -> InlineKeyboardMarkup:
    """A button per preset on the page, numbered as on the picture, and paging."""
    presets = library.page(page)
    first = page * PAGE_SIZE + 1  # numbers count on across pages, as on the picture
    buttons = [_button(f"{n}. {p.title}", PickPreset(p.id)) for n, p in enumerate(presets, first)]
    rows = [buttons[k : k + 2] for k in range(0, len(buttons), 2)]
    paging = []
    if page > 0:
        paging.append(_button(t("btn_prev"), GalleryPage(page - 1)))
    if page + 1 < library.pages:
        paging.append(_button(t("btn_next"), GalleryPage(page + 1)))
    if paging:
        rows.append(paging)
    return InlineKeyboardMarkup(rows)


def queued(job_id: int, t: Texts, *, swap: bool) -> InlineKeyboardMarkup:
    """Under the status message: Cancel, and Swap when the style is a photo."""
    rows = [[_button(t("btn_cancel"), CancelJob(job_id))]]
    if swap:
        rows.append([_button(t("btn_swap"), SwapJob(job_id))])
    return InlineKeyboardMarkup(rows)


def result(
    job_id: int,
    t: Texts,
    *,
    file_button: bool,
    timelapse: bool = False,
    poster: PosterOffer | None = None,
) -> InlineKeyboardMarkup:
    """Under a result: another style, stronger, weaker, keep colours (and the file, how it
    was painted when its frames were kept, and a poster while a GPU worker paints them)."""
    rows = [
        [_button(t("btn_another"), Rerun(job_id, "n"))],
        [
            _button(t("btn_stronger"), Rerun(job_id, "s")),
            _button(t("btn_weaker"), Rerun(job_id, "w")),
        ],
        [_button(t("btn_colors"), Rerun(job_id, "c"))],
    ]
    if file_button:
        rows.append([_button(t("btn_file"), Rerun(job_id, "f"))])
    if timelapse:
        rows.append([_button(t("btn_timelapse"), Timelapse(job_id))])
    if poster is not None:
        label = t("btn_poster", side=poster.side, minutes=poster.minutes)
        rows.append([_button(label, Rerun(job_id, "p"))])
    return InlineKeyboardMarkup(rows)


def languages() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[_button(name, ChooseLanguage(code)) for code, name in LANGUAGE_NAMES.items()]]
    )


SETTING_NAMES = {
    "size": "setting_size",
    "strength": "setting_strength",
    "colors": "setting_colors",
    "quality": "setting_quality",
    "file": "setting_file",
    "previews": "setting_previews",
}


def value_label(setting: str, value: str, t: Texts) -> str:
    """How a setting's value reads in the menu."""
    if setting == "size":
        return t("size_auto") if value == "auto" else t("size_px", size=value)
    if setting == "strength":
        return t(f"strength_{value}")
    if setting == "quality":
        return t(f"quality_{value}")
    return t("yes") if value == "1" else t("no")


def current_value(person: Person, setting: str) -> str:
    """A person's setting in callback_data spelling (strength snapped to the nearest choice)."""
    if setting == "size":
        return "auto" if person.size is None else str(person.size)
    if setting == "strength":
        return min(SETTING_VALUES["strength"], key=lambda v: abs(float(v) - person.strength))
    if setting == "colors":
        return "1" if person.keep_colors else "0"
    if setting == "quality":
        return person.quality
    if setting == "previews":
        return "1" if person.previews else "0"
    return "1" if person.send_file else "0"


def settings_main(t: Texts) -> InlineKeyboardMarkup:
    rows = [[_button(t(key), SettingsMenu(setting))] for setting, key in SETTING_NAMES.items()]
    return InlineKeyboardMarkup(rows)


def settings_values(setting: str, person: Person, t: Texts) -> InlineKeyboardMarkup:
    """The values of one setting, the current one ticked, and a way back."""
    current = current_value(person, setting)
    buttons = [
        _button(
            ("✓ " if value == current else "") + value_label(setting, value, t),
            SettingsMenu(setting, value),
        )
        for value in SETTING_VALUES[setting]
    ]
    rows = [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
    rows.append([_button(t("btn_prev"), SettingsMenu())])
    return InlineKeyboardMarkup(rows)
