"""The bot's data access, one module per feature: people and their settings (``people``), the
photo waiting for its style (``waiting``), a person's jobs and their status messages
(``jobs``), and finished jobs to answer (``results``).

Sync SQLAlchemy with keyword-only arguments; the caller owns the transaction
(``with sessionmaker.begin() as s:``), and the bot runs each in a worker thread
(:func:`in_transaction`, or ``Context.db``). Functions return frozen snapshots, never live
rows, so nothing is read outside its session. The queue's own operations (cancelling a job,
storing a picture) are called directly from ``engine.jobs``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")


async def in_transaction(
    maker: sessionmaker[Session], function: Callable[..., T], /, *args: Any, **kwargs: Any
) -> T:
    """``function(session, *args, **kwargs)`` inside ``maker.begin()``, in a worker thread."""

    def run() -> T:
        with maker.begin() as s:
            return function(s, *args, **kwargs)

    return await asyncio.to_thread(run)
