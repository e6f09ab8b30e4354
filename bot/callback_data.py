"""What the bot's buttons carry: compact strings of at most 64 bytes, parsed and checked.

Anyone can send any callback_data, so :func:`parse` accepts only the shapes the bot itself
makes, with numbers in range and names from fixed lists, and returns None for anything else.
Whether a job or preset named in it belongs to the presser is checked by the handler.

    "p:<preset>"        pick a preset painting as the style
    "g:<page>"          show a page of the preset gallery
    "x:<job>"           cancel a job
    "w:<job>"           swap the photo and the style of a job, and run it again
    "r:<job>:<how>"     run a finished job again: n (new style), s (stronger), w (weaker),
                        c (keep colours), f (send the full-quality file)
    "t:<job>"           send the film of how a job's result was painted
    "s"                 the settings menu; "s:<setting>" a setting's values;
    "s:<setting>:<v>"   set a value
    "l:<lang>"          choose a language
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from engine.contract import PRESET_NAMES

MAX_BYTES = 64
MAX_ID = 2**53  # job ids are database integers; anything bigger is forged
PRESET_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")

# Another style, stronger, weaker, keep colours, the full file, a poster.
RerunHow = Literal["n", "s", "w", "c", "f", "p"]
RERUN_HOWS: tuple[RerunHow, ...] = ("n", "s", "w", "c", "f", "p")

# Each setting and the values its menu offers; the values are the callback_data spelling.
SETTING_VALUES: dict[str, tuple[str, ...]] = {
    "size": ("auto", "256", "384", "512", "768", "1024"),
    "strength": ("0.5", "1.0", "1.5", "2.5"),
    "colors": ("0", "1"),
    "quality": PRESET_NAMES,
    "file": ("0", "1"),
    "previews": ("0", "1"),
}
LANGUAGE_CODES = ("en", "ru")


@dataclass(frozen=True)
class PickPreset:
    preset_id: str


@dataclass(frozen=True)
class GalleryPage:
    page: int


@dataclass(frozen=True)
class CancelJob:
    job_id: int


@dataclass(frozen=True)
class SwapJob:
    job_id: int


@dataclass(frozen=True)
class Rerun:
    job_id: int
    how: RerunHow


@dataclass(frozen=True)
class Timelapse:
    job_id: int


@dataclass(frozen=True)
class SettingsMenu:
    setting: str | None = None  # None: the main menu
    value: str | None = None  # None: show the values


@dataclass(frozen=True)
class ChooseLanguage:
    language: str


Action = (
    PickPreset
    | GalleryPage
    | CancelJob
    | SwapJob
    | Rerun
    | Timelapse
    | SettingsMenu
    | ChooseLanguage
)


def encode(action: Action) -> str:
    """The callback_data for an action; asserts it fits Telegram's 64 bytes."""
    match action:
        case PickPreset(preset_id):
            data = f"p:{preset_id}"
        case GalleryPage(page):
            data = f"g:{page}"
        case CancelJob(job_id):
            data = f"x:{job_id}"
        case SwapJob(job_id):
            data = f"w:{job_id}"
        case Rerun(job_id, how):
            data = f"r:{job_id}:{how}"
        case Timelapse(job_id):
            data = f"t:{job_id}"
        case SettingsMenu(setting, value):
            data = ":".join(["s", *(p for p in (setting, value) if p is not None)])
        case ChooseLanguage(language):
            data = f"l:{language}"
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"callback_data over {MAX_BYTES} bytes: {data!r}")
    return data


def _job_id(text: str) -> int | None:
    if not text.isdigit() or len(text) > 16:
        return None
    value = int(text)
    return value if 0 < value < MAX_ID else None


def parse(data: str | None) -> Action | None:
    """The action a button asks for, or None when the data is not one the bot makes."""
    if not data or len(data.encode()) > MAX_BYTES or not data.isascii():
        return None
    kind, _, rest = data.partition(":")
    parts = rest.split(":") if rest else []
    match kind, parts:
        case "p", [preset_id] if PRESET_ID.match(preset_id):
            return PickPreset(preset_id)
        case "g", [page] if page.isdigit() and len(page) <= 4:
            return GalleryPage(int(page))
        case "x", [job]:
            job_id = _job_id(job)
            return CancelJob(job_id) if job_id else None
        case "w", [job]:
            job_id = _job_id(job)
            return SwapJob(job_id) if job_id else None
        case "r", [job, how] if how in RERUN_HOWS:
            job_id = _job_id(job)
            return Rerun(job_id, how) if job_id else None
        case "t", [job]:
            job_id = _job_id(job)
            return Timelapse(job_id) if job_id else None
        case "s", []:
            return SettingsMenu()
        case "s", [setting] if setting in SETTING_VALUES:
            return SettingsMenu(setting)
        case "s", [setting, value] if value in SETTING_VALUES.get(setting, ()):
            return SettingsMenu(setting, value)
        case "l", [language] if language in LANGUAGE_CODES:
            return ChooseLanguage(language)
    return None
