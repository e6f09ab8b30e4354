"""Telegram's flood limits, with answers to people ahead of status updates.

Telegram takes about 30 messages a second from one bot, and 20 a minute into one group
(https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this).
python-telegram-bot's ``AIORateLimiter`` keeps to them first come, first served: when many
people write at once, the gallery someone is waiting for queues behind the progress edits of
everyone else's jobs. This limiter keeps the same limits, and when calls have to wait it lets
them go by :class:`Priority`: answers first (a gallery, a reply, a result), then new status
messages, then edits of status messages, and last the pictures of live previews. One chat's
calls still go in the order they were made, so nobody sees their messages reordered: a chat
waits with the most urgent priority among its waiting calls.

A caller names the priority with python-telegram-bot's ``rate_limit_args``, e.g.
``bot.edit_message_text(..., rate_limit_args=Priority.EDIT)``; without it a call is an answer.
Calls that name no chat (answering a button, ``getFile``, ``getUpdates``) are not limited, as
in python-telegram-bot. A 429 from Telegram holds every call for the time it asks, and the
call is tried again, up to ``max_retries`` times; a preview is not: a fresher one follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import warnings
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from enum import IntEnum
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.error import RetryAfter, TelegramError
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

from .metrics import FLOOD_WAITS, TELEGRAM_ERRORS, error_kind

logger = logging.getLogger(__name__)

MESSAGES_PER_SECOND = 30.0  # to all chats together
MESSAGES_PER_MINUTE_PER_GROUP = 20.0
MAX_GROUP_LIMITERS = 512  # forget the idle ones beyond this many


class Priority(IntEnum):
    """How soon a call to Telegram should go when calls have to wait (lower goes first)."""

    ANSWER = 0  # what a person is waiting for: a reply, a gallery, a result
    STATUS = 1  # a new status message under a queued job
    EDIT = 2  # a status message brought up to date (place in the queue, progress)
    PREVIEW = 3  # a status message's picture replaced by the painting as it is now


@dataclass(eq=False)
class _Turn:
    priority: int
    order: int
    go: asyncio.Future[None]


def retry_seconds(error: RetryAfter) -> float:
    """How long Telegram asked to wait, whether python-telegram-bot gives int or timedelta."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        after = error.retry_after
    return after.total_seconds() if isinstance(after, timedelta) else float(after)


class PriorityRateLimiter(BaseRateLimiter[int]):
    """A token bucket of ``per_second`` calls (as many may go at once), handed out by
    priority, then by the order the chats started waiting."""

    def __init__(
        self,
        *,
        per_second: float = MESSAGES_PER_SECOND,
        group_per_minute: float = MESSAGES_PER_MINUTE_PER_GROUP,
        max_retries: int = 3,
    ) -> None:
        self._rate = per_second
        self._tokens = per_second
        self._filled_at = time.monotonic()
        self._waiting: dict[int | str, deque[_Turn]] = {}
        self._order = itertools.count()
        self._dealer: asyncio.Task[None] | None = None
        self._group_per_minute = group_per_minute
        self._groups: dict[int | str, AsyncLimiter] = {}
        self._max_retries = max_retries
        self._held_until = 0.0  # monotonic time a 429 holds every call until

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        if self._dealer is not None:
            self._dealer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dealer
            self._dealer = None

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        chat = chat_key(data.get("chat_id"))
        priority = Priority.ANSWER if rate_limit_args is None else rate_limit_args
        for attempt in itertools.count():
            try:
                if chat is None:
                    await self._held()
                    return await callback(*args, **kwargs)
                async with self._group(chat):
                    await self._turn(chat, priority)
                    await self._held()
                    return await callback(*args, **kwargs)
            except RetryAfter as e:
                FLOOD_WAITS.inc()
                TELEGRAM_ERRORS.labels("flood").inc()
                seconds = retry_seconds(e) + 0.1
                logger.info("%s: flood control, every call waits %.1f s", endpoint, seconds)
                self._held_until = max(self._held_until, time.monotonic() + seconds)
                if attempt >= self._max_retries or priority >= Priority.PREVIEW:
                    raise
            except TelegramError as e:  # every call the bot makes passes here: count them
                TELEGRAM_ERRORS.labels(error_kind(e)).inc()
                raise
        raise AssertionError("unreachable")

    async def _held(self) -> None:
        """Wait out a 429 (other calls may extend it meanwhile)."""
        while (left := self._held_until - time.monotonic()) > 0:
            await asyncio.sleep(left)

    def _group(self, chat: int | str) -> contextlib.AbstractAsyncContextManager[Any]:
        """Groups and channels (negative ids, @names) also have a limit of their own."""
        if not self._group_per_minute or (isinstance(chat, int) and chat > 0):
            return contextlib.nullcontext()
        if len(self._groups) > MAX_GROUP_LIMITERS:
            for key, limiter in list(self._groups.items()):
                if limiter.has_capacity(limiter.max_rate):
                    del self._groups[key]
        if chat not in self._groups:
            self._groups[chat] = AsyncLimiter(self._group_per_minute, 60)
        return self._groups[chat]

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self._rate, self._tokens + (now - self._filled_at) * self._rate)
        self._filled_at = now

    async def _turn(self, chat: int | str, priority: int) -> None:
        """Until this call may go: a token is free and nothing ahead of it waits."""
        self._refill()
        if not self._waiting and self._tokens >= 1:
            self._tokens -= 1
            return
        turn = _Turn(priority, next(self._order), asyncio.get_running_loop().create_future())
        self._waiting.setdefault(chat, deque()).append(turn)
        if self._dealer is None or self._dealer.done():
            self._dealer = asyncio.create_task(self._deal(), name="rate limiter")
        await turn.go  # a cancelled call cancels its turn, and the dealer passes it over

    def _urgency(self, chat: int | str) -> tuple[int, int]:
        turns = self._waiting[chat]
        return min(turn.priority for turn in turns), turns[0].order

    async def _deal(self) -> None:
        """Hand out tokens as they come, to the most urgent chat's first waiting call."""
        while self._waiting:
            self._refill()
            if self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) / self._rate)
                continue
            chat = min(self._waiting, key=self._urgency)
            turns = self._waiting[chat]
            turn = turns.popleft()
            if not turns:
                del self._waiting[chat]
            if not turn.go.done():
                self._tokens -= 1
                turn.go.set_result(None)


def chat_key(chat_id: object) -> int | str | None:
    """A call's chat as the limiter tells chats apart (Telegram takes ids as text too)."""
    if chat_id is None:
        return None
    with contextlib.suppress(TypeError, ValueError):
        return int(chat_id)  # type: ignore[call-overload]
    return str(chat_id)
