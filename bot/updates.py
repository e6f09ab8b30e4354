"""Updates from different people are handled at once; one person's, one after another.

A slow download for one person must not hold up everyone else, but one person's photo and
the style photo right after it must be handled in the order they were sent (the second
becomes the style of the first).

One person's flood must not hold up everyone else either. python-telegram-bot takes one of
the application's update slots for every update *before* handing it to an update processor,
so a flood of one person's updates would fill every slot with updates that only wait for
their own person's turn, and everyone else's would wait behind them. Here the library's own
bound is lifted and the slots are taken inside: an update takes a slot only once its
person's turn has come, so a person holds at most one slot at a time. And a person has at most
``max_waiting`` updates in line: beyond that their updates are dropped, and they are told
once (``on_overflow``) until their line has emptied.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

logger = logging.getLogger(__name__)

Overflow = Callable[[Update], Awaitable[None]]

# python-telegram-bot's semaphore, taken before do_process_update, must never make an update
# wait: the slots that count are ours. (The library starts a task per update whatever this
# is; a person's line is bounded by max_waiting instead.)
_UNBOUNDED = 2**31 - 1


@dataclass
class _Line:
    """One person's updates: the lock that keeps them in order, and how many are in line."""

    turn: asyncio.Lock = field(default_factory=asyncio.Lock)
    count: int = 0  # waiting or being handled
    told: bool = False  # the person was told that updates were dropped


class OnePersonAtATime(BaseUpdateProcessor):
    """Concurrent across people (at most ``slots`` updates handled at once), in order for
    each person (at most ``max_waiting`` in line; ``on_overflow`` hears of the first one
    dropped)."""

    def __init__(
        self, slots: int = 64, *, max_waiting: int = 20, on_overflow: Overflow | None = None
    ) -> None:
        super().__init__(_UNBOUNDED)
        self.slots = slots
        self.max_waiting = max_waiting
        self.on_overflow = on_overflow
        self._slots = asyncio.Semaphore(slots)
        self._lines: dict[int, _Line] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        user = update.effective_user if isinstance(update, Update) else None
        if user is None or not isinstance(update, Update):
            async with self._slots:
                await coroutine
            return
        line = self._lines.setdefault(user.id, _Line())
        if line.count >= self.max_waiting:
            if isinstance(coroutine, Coroutine):
                coroutine.close()  # never to run: no "never awaited" warning either
            logger.info("user %s has %d updates in line; dropped one", user.id, line.count)
            if not line.told:
                line.told = True
                await self._tell(update)
            return
        line.count += 1
        try:
            async with line.turn, self._slots:
                await coroutine
        finally:
            line.count -= 1
            if not line.count:  # nothing else of theirs in line: forget it
                del self._lines[user.id]

    async def _tell(self, update: Update) -> None:
        if self.on_overflow is None:
            return
        try:
            await self.on_overflow(update)
        except Exception:  # Telegram may refuse it too; the flood is dropped all the same
            logger.warning("could not tell user about dropped updates", exc_info=True)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass
