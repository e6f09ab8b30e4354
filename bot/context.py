"""The typed context every handler receives: settings, database, presets, as attributes.

PTB builds ``BotData`` with no arguments, so its fields are filled in by ``bot.app``: the
settings when the application is built, the rest in ``post_init``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from telegram.ext import CallbackContext, ExtBot

from .presets import PresetLibrary
from .settings import BotSettings
from .store import Person, in_transaction

if TYPE_CHECKING:
    from .delivery import Delivery
    from .engine_process import EngineProcess

T = TypeVar("T")


class People:
    """People's settings as the bot last read or wrote them, so that most updates need no
    transaction just to learn who sent them.

    The bot is the only writer of people's settings, and every write goes through here
    (``put`` or ``forget``); entries still expire after ``ttl`` seconds, so a change made
    elsewhere (an operator in the database) is seen within that time. At most ``size``
    people are kept, the least recently seen forgotten first.
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

    def forget(self, user_id: int) -> None:
        self._people.pop(user_id, None)


class BotData:
    """What the whole bot shares."""

    settings: BotSettings
    engine: Engine
    sessionmaker: sessionmaker[Session]
    presets: PresetLibrary
    delivery: Delivery
    engine_process: EngineProcess | None  # the local worker, unless --no-engine
    gallery_pages: dict[int, bytes]  # rendered gallery pages, by page number
    gallery_file_ids: dict[int, str]  # Telegram's file_id of each page once uploaded
    preset_images: dict[str, str]  # preset id -> sha256 of its image in the database
    people: People

    def __init__(self) -> None:
        self.gallery_pages = {}
        self.gallery_file_ids = {}
        self.preset_images = {}
        self.people = People()


class Context(CallbackContext[ExtBot[int], dict[Any, Any], dict[Any, Any], BotData]):
    """The context handlers see: ``context.settings``, ``context.db(fn, **kw)``."""

    @property
    def settings(self) -> BotSettings:
        return self.bot_data.settings

    @property
    def presets(self) -> PresetLibrary:
        return self.bot_data.presets

    async def db(self, function: Callable[..., T], /, **kwargs: Any) -> T:
        """Run a sync store or queue function in one transaction, off the event loop."""
        return await in_transaction(self.bot_data.sessionmaker, function, **kwargs)
