"""Logging for the bot process, with the bot token (and the other secrets) kept out of every
line.

Bot API URLs contain the token, and an error's traceback may quote one; a filter on every
handler replaces the token wherever it would appear, and so do the webhook secret and the
database password (a driver's error may quote its URL). The error reports the admins get
pass the same filter (``RedactToken.redact``).
"""

from __future__ import annotations

import logging
import re

REDACTED = "<BOT_TOKEN>"
REDACTED_OTHER = "<SECRET>"


class RedactToken(logging.Filter):
    """Replace the token (and its secret half alone), and any ``others``, in a record's
    formatted message."""

    def __init__(self, token: str, *others: str | None) -> None:
        super().__init__()
        secret = token.partition(":")[2]
        # Longest first, so that a secret inside another is not left half replaced. Short
        # ones would replace ordinary words: no real secret is shorter than 8 characters.
        labels = {s: REDACTED_OTHER for s in others if s and len(s) >= 8}
        labels.update({s: REDACTED for s in (token, secret) if len(s) >= 8})
        # Whatever the case: python-telegram-bot capitalises an error's description
        # (str.capitalize lowers the rest), and with it any token the description quotes.
        self._secrets = [
            (re.compile(re.escape(s), re.IGNORECASE), label)
            for s, label in sorted(labels.items(), key=lambda item: len(item[0]), reverse=True)
        ]

    def redact(self, text: str) -> str:
        for secret, label in self._secrets:
            text = secret.sub(label, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def configure_logging(level: int = logging.INFO) -> None:
    """Plain timestamped lines on stderr; quiet migration logs."""
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", force=True
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)


def redact_token_everywhere(token: str, *others: str | None) -> RedactToken:
    """Install the filter on every root handler (filters on loggers miss propagated records)."""
    redactor = RedactToken(token, *others)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
    return redactor
