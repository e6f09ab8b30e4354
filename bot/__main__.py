"""``python -m bot``: the bot and a local engine worker; ``--no-engine`` for the bot alone.

``python -m bot presets download|add|list`` manages the preset paintings (no token needed).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from urllib.parse import urlsplit

from .settings import BotSettings, SettingsError

logger = logging.getLogger("bot")

UPDATE_KINDS = ["message", "callback_query"]  # all the bot handles


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Run the Telegram bot (and, unless --no-engine, a local engine worker). "
        "`python -m bot presets --help` manages the preset paintings.",
    )
    parser.add_argument(
        "--no-engine", action="store_true", help="run the bot alone; engine workers run elsewhere"
    )
    return parser.parse_args(argv)


async def check_telegram(settings: BotSettings) -> str | None:
    """Ask Telegram who we are before starting: a refused token or no connection is a
    one-line message, not a traceback from the library's start-up retry loop."""
    from telegram import Bot
    from telegram.error import InvalidToken, NetworkError

    from .http import AiohttpRequest

    try:
        async with Bot(
            settings.token,
            base_url=settings.api_url,
            base_file_url=settings.file_url,
            request=AiohttpRequest(connections=1),
            get_updates_request=AiohttpRequest(connections=1),
        ) as bot:
            logger.info("Telegram knows this bot as @%s", bot.username)
    except InvalidToken:
        return "Telegram refused BOT_TOKEN; copy it again from @BotFather"
    except NetworkError as e:
        return f"cannot reach the Bot API at TELEGRAM_API_URL ({e})"
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "presets":
        from .presets.commands import main as presets_main

        return presets_main(argv[1:])
    args = parse_args(argv)

    from .logging_setup import configure_logging, redact_token_everywhere

    configure_logging()
    try:
        settings = BotSettings.from_env()
    except SettingsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    redact_token_everywhere(settings.token, *settings.other_secrets)
    logger.setLevel(settings.log_level)  # the bot's own loggers; the libraries' stay at INFO

    from engine.jobs.db import upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        upgrade(settings.database_url)
    except Exception as e:  # a wrong URL or an unreachable server: say so, without a traceback
        print(f"error: cannot prepare the database at DATABASE_URL: {e}", file=sys.stderr)
        return 2

    from .app import build_application
    from .engine_process import EngineProcess

    problem = asyncio.run(check_telegram(settings))
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2

    application = build_application(
        settings, engine_process=None if args.no_engine else EngineProcess()
    )
    logger.info(
        "starting (%s, %s)",
        "webhook" if settings.webhook else "polling",
        "bot only" if args.no_engine else "with a local engine worker",
    )
    if settings.webhook:
        assert settings.webhook_url is not None
        application.run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            # Telegram posts to WEBHOOK_URL; the server answers on that URL's path.
            url_path=urlsplit(settings.webhook_url).path.lstrip("/"),
            webhook_url=settings.webhook_url,
            secret_token=settings.webhook_secret,
            allowed_updates=UPDATE_KINDS,
        )
    else:
        application.run_polling(allowed_updates=UPDATE_KINDS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
