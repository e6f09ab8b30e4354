"""Logging for the bot process, with the bot token kept out of every line.

Bot API URLs contain the token, and an error's traceback may quote one; a filter on every
handler replaces the token wherever it would appear.
"""

from __future__ import annotations

import logging

REDACTED = "<BOT_TOKEN>"


class RedactToken(logging.Filter):
    """Replace the token (and its secret half alone) in a record's formatted message."""

    def __init__(self, token: str) -> None:
        super().__init__()
        secret = token.partition(":")[2]
        self._secrets = [s for s in (token, secret) if len(s) >= 8]

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
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


def redact_token_everywhere(token: str) -> RedactToken:
    """Install the filter on every root handler (filters on loggers miss propagated records)."""
    redactor = RedactToken(token)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
    return redactor
