"""What the admins hear about errors: redacted as the logs are, and one report per kind of error
every few minutes, however often it happens.

Without a limit, anyone who finds an input that makes the bot fail could make it message every
admin for every try, and spend the bot's 30 messages a second on that. The log has every error
in full; a report says what kind it was, where it was raised, its message (redacted, cut
short) and how many more of that kind were held back since the last report.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from .logging_setup import RedactToken

MESSAGE_CHARS = 3000  # of the error's text in a report (Telegram takes 4096 a message)


@dataclass
class _Seen:
    reported_at: float
    held_back: int = 0


def error_kind(error: BaseException) -> str:
    """The type of an error and where it was raised (file and line): errors of one kind are
    reported once in a while, so two different bugs raising the same type must differ."""
    kind = f"{type(error).__module__}.{type(error).__qualname__}"
    frames = traceback.extract_tb(error.__traceback__) if error.__traceback__ else []
    if frames:
        kind += f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}"
    return kind


class AdminReports:
    """Decides which errors are reported, and with what text."""

    def __init__(
        self,
        redactor: RedactToken,
        *,
        every: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redactor = redactor
        self.every = every  # seconds between two reports of one kind
        self.clock = clock
        self._seen: dict[str, _Seen] = {}

    def report(self, error: BaseException | None) -> str | None:
        """The report to send about ``error`` now, or None when its kind was reported less
        than ``every`` seconds ago (it is counted, and the next report says how many)."""
        if error is None:
            return None
        kind = error_kind(error)
        now = self.clock()
        seen = self._seen.get(kind)
        if seen is not None and now - seen.reported_at < self.every:
            seen.held_back += 1
            return None
        held_back = seen.held_back if seen is not None else 0
        self._seen[kind] = _Seen(reported_at=now)
        self._forget_old(now)
        message = self.redactor.redact(str(error))[:MESSAGE_CHARS]
        text = f"{self.redactor.redact(kind)}: {message}" if message else self.redactor.redact(kind)
        if held_back:
            text += f"\n(and {held_back} more like it since the last report)"
        return text

    def _forget_old(self, now: float) -> None:
        """Kinds not seen for a while need no memory (a stream of distinct errors must not
        grow this for ever)."""
        if len(self._seen) > 256:
            for kind, seen in list(self._seen.items()):
                if now - seen.reported_at >= self.every:
                    del self._seen[kind]
