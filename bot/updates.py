"""Updates from different people are handled at once; one person's, one after another.

A slow download for one person must not hold up everyone else, but one person's photo and
the style photo right after it must be handled in the order they were sent (the second
becomes the style of the first).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


class OnePersonAtATime(BaseUpdateProcessor):
    """Concurrent across people, in order for each person."""

    def __init__(self, max_concurrent_updates: int = 64) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._pending: Counter[int] = Counter()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        user = update.effective_user if isinstance(update, Update) else None
        if user is None:
            await coroutine
            return
        self._pending[user.id] += 1
        lock = self._locks.setdefault(user.id, asyncio.Lock())
        try:
            async with lock:
                await coroutine
        finally:
            self._pending[user.id] -= 1
            if not self._pending[user.id]:  # nobody else of theirs waiting: forget the lock
                del self._pending[user.id], self._locks[user.id]

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass
