"""The typed context every handler receives: settings, database, people, presets, as attributes.

PTB builds ``BotData`` with no arguments, so its fields are filled in by ``bot.app``: the
settings when the application is built, the rest in ``post_init``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from telegram.ext import CallbackContext, ExtBot

from .presets import PresetLibrary
from .settings import BotSettings
from .store import in_transaction
from .store.people import People

if TYPE_CHECKING:
    from .admin_reports import AdminReports
    from .delivery.loop import Delivery
    from .engine_process import EngineProcess
    from .housekeeping import Housekeeping

T = TypeVar("T")


class BotData:
    """What the whole bot shares."""

    settings: BotSettings
    engine: Engine
    sessionmaker: sessionmaker[Session]
    presets: PresetLibrary
    delivery: Delivery
    housekeeping: Housekeeping
    engine_process: EngineProcess | None  # the local worker, unless --no-engine
    gallery_pages: dict[int, bytes]  # rendered gallery pages, by page number
    gallery_file_ids: dict[int, str]  # Telegram's file_id of each page once uploaded
    preset_images: dict[str, str]  # preset id -> sha256 of its image in the database
    people: People  # people's settings, kept in memory too
    stop_metrics: Callable[[], None]  # the /metrics server, if METRICS_PORT is set
    forget_queue_metrics: Callable[[], None]
    reports: AdminReports  # what the admins are told about errors, and how often
    films_making: set[int]  # jobs whose time-lapse film is being made and sent

    def __init__(self) -> None:
        self.films_making = set()
        self.gallery_pages = {}
        self.gallery_file_ids = {}
        self.preset_images = {}


class Context(CallbackContext[ExtBot[int], dict[Any, Any], dict[Any, Any], BotData]):
    """The context handlers see: ``context.settings``, ``context.db(fn, **kw)``."""

    @property
    def settings(self) -> BotSettings:
        return self.bot_data.settings

    @property
    def presets(self) -> PresetLibrary:
        return self.bot_data.presets

    @property
    def people(self) -> People:
        return self.bot_data.people

    async def db(self, function: Callable[..., T], /, **kwargs: Any) -> T:
        """Run a sync store or queue function in one transaction, off the event loop."""
        return await in_transaction(self.bot_data.sessionmaker, function, **kwargs)
