"""Everything the bot says, one module per language with the same keys.

``Texts(language)`` holds one language's (``"en"`` or ``"ru"``; anything else falls back to
English), ``pick_language`` chooses it for a person, and ``Texts.__call__`` formats one text:
``t("queued", position=3)``.
"""

from __future__ import annotations

from typing import Any

from . import en, ru

LANGUAGES: dict[str, dict[str, str]] = {"en": en.TEXTS, "ru": ru.TEXTS}
LANGUAGE_NAMES = {"en": "English", "ru": "Русский"}
DEFAULT_LANGUAGE = "en"


def pick_language(stored: str | None, telegram_code: str | None) -> str:
    """The person's chosen language, else Telegram's (``ru-RU`` → ``ru``), else English."""
    for code in (stored, telegram_code):
        if code:
            short = code.split("-")[0].lower()
            if short in LANGUAGES:
                return short
    return DEFAULT_LANGUAGE


class Texts:
    """The texts of one language."""

    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        self._texts = LANGUAGES[self.language]

    def __call__(self, key: str, **values: Any) -> str:
        return self._texts[key].format(**values)

    def knows(self, key: str) -> bool:
        return key in self._texts

    def duration(self, seconds: float) -> str:
        """A short, rounded duration: "40 s", "3 min"."""
        if self.language == "ru":
            return f"{seconds:.0f} с" if seconds < 90 else f"{seconds / 60:.0f} мин"
        return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"
