"""People and their settings: the rows, and :class:`People`, which the handlers ask.

The bot is the only writer of people's settings, and every write goes through
:class:`People`, which keeps its copy in memory up to date in the same call; so most updates
need no transaction just to learn who sent them.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from engine.jobs.models import User

from ..callback_data import SETTING_VALUES
from ..texts import LANGUAGES
from . import in_transaction


@dataclass(frozen=True)
class Person:
    """A person's stored settings."""

    id: int
    language: str | None  # None: follow Telegram's language_code
    quality: str
    size: int | None  # None: the quality preset's size
    strength: float
    keep_colors: bool
    send_file: bool
    previews: bool = True  # the status message shows the picture as it is painted

    @classmethod
    def of(cls, user: User) -> Person:
        return cls(
            id=user.id,
            language=user.language,
            quality=user.quality,
            size=user.size,
            strength=user.strength,
            keep_colors=user.keep_colors,
            send_file=user.send_file,
            previews=user.previews is not False,  # a row a moment old may not have it yet
        )


def person_row(s: Session, user_id: int, language: str | None = None) -> User:
    """The person's row, created with the default settings on first contact."""
    user = s.get(User, user_id)
    if user is None:
        user = User(id=user_id, language=language)
        s.add(user)
        s.flush()  # the columns' defaults are the new person's settings
    return user


def ensure_person(s: Session, *, user_id: int, telegram_language: str | None = None) -> Person:
    """The person's settings, creating the row with defaults on first contact.

    The language Telegram reports at first contact is stored, so that results delivered
    later (with no update to read it from) speak it too; /lang changes it.
    """
    short = (telegram_language or "").split("-")[0].lower()
    return Person.of(person_row(s, user_id, short if short in LANGUAGES else None))


def store_language(s: Session, *, user_id: int, language: str) -> Person:
    user = person_row(s, user_id)
    user.language = language
    s.flush()
    return Person.of(user)


def store_setting(s: Session, *, user_id: int, setting: str, value: str) -> Person:
    """Store one value chosen in the settings menu (already checked by callback_data)."""
    if value not in SETTING_VALUES.get(setting, ()):
        raise ValueError(f"not a value for {setting}: {value!r}")
    user = person_row(s, user_id)
    if setting == "size":
        user.size = None if value == "auto" else int(value)
    elif setting == "strength":
        user.strength = float(value)
    elif setting == "colors":
        user.keep_colors = value == "1"
    elif setting == "quality":
        user.quality = value
    elif setting == "file":
        user.send_file = value == "1"
    elif setting == "previews":
        user.previews = value == "1"
    s.flush()
    return Person.of(user)


class PersonCache:
    """People's settings as the bot last read or wrote them.

    Entries expire after ``ttl`` seconds, so a change made elsewhere (an operator in the
    database) is seen within that time. At most ``size`` people are kept, the least recently
    seen forgotten first.
    """

    def __init__(self, *, size: int = 10_000, ttl: float = 600.0) -> None:
        self._size = size
        self._ttl = ttl
        self._people: OrderedDict[int, tuple[float, Person]] = OrderedDict()

    def get(self, user_id: int) -> Person | None:
        entry = self._people.get(user_id)
        if entry is None or time.monotonic() - entry[0] > self._ttl:
            return None
        self._people.move_to_end(user_id)
        return entry[1]

    def put(self, person: Person) -> None:
        self._people[person.id] = (time.monotonic(), person)
        self._people.move_to_end(person.id)
        while len(self._people) > self._size:
            self._people.popitem(last=False)


class People:
    """People's settings for the handlers: read through the cache, written through it."""

    def __init__(self, maker: sessionmaker[Session], cache: PersonCache | None = None) -> None:
        self._maker = maker
        self._cache = cache or PersonCache()

    async def get(self, user_id: int, *, telegram_language: str | None = None) -> Person:
        """The person behind an update (created on first contact)."""
        person = self._cache.get(user_id)
        if person is None:
            person = await in_transaction(
                self._maker, ensure_person, user_id=user_id, telegram_language=telegram_language
            )
            self._cache.put(person)
        return person

    async def set_language(self, user_id: int, language: str) -> Person:
        return self._keep(
            await in_transaction(self._maker, store_language, user_id=user_id, language=language)
        )

    async def set_setting(self, user_id: int, setting: str, value: str) -> Person:
        return self._keep(
            await in_transaction(
                self._maker, store_setting, user_id=user_id, setting=setting, value=value
            )
        )

    def _keep(self, person: Person) -> Person:
        self._cache.put(person)
        return person
