"""The application: what the bot does, as one table of handlers, and its life cycle.

Clients (the database, the delivery loop, housekeeping, the local engine worker) are opened
in ``post_init`` and closed in ``post_stop``/``post_shutdown``; one error handler logs first
and then tells the admins.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import BotCommand, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ExtBot,
    MessageHandler,
    TypeHandler,
    filters,
)

from engine.jobs import metrics
from engine.jobs.db import make_engine, make_sessionmaker
from engine.jobs.outage import brief, is_outage

from .admin_reports import AdminReports
from .context import BotData, Context
from .delivery.loop import Delivery
from .engine_process import EngineProcess
from .handlers import (
    admin,
    clips,
    fallback,
    gallery,
    jobs,
    photos,
    settings_menu,
    start,
    timelapse,
)
from .handlers.common import who
from .housekeeping import Housekeeping
from .http import AiohttpRequest
from .logging_setup import RedactToken
from .presets import PresetLibrary
from .ratelimit import PriorityRateLimiter
from .settings import BotSettings
from .store import in_transaction
from .store.people import People
from .store.presets import keep_preset_pins
from .texts import LANGUAGES, Texts, pick_language
from .updates import OnePersonAtATime

logger = logging.getLogger(__name__)

BotApp = Application[ExtBot[int], Context, dict[Any, Any], dict[Any, Any], BotData, Any]

HTTP_CONNECTIONS = 8  # to the Bot API at once (sending results, answering, editing)
UPDATE_SLOTS = 64  # updates handled at once, one person's at a time (bot/updates.py)

COMMANDS = ("start", "help", "settings", "presets", "cancel", "lang")


def handlers() -> list[BaseHandler[Update, Context, Any]]:
    """Everything the bot answers, in the order it is tried."""
    return [
        # Commands
        CommandHandler("start", start.start),
        CommandHandler("help", start.help_command),
        CommandHandler("lang", start.choose_language_menu),
        CommandHandler("settings", settings_menu.show_settings),
        CommandHandler("presets", gallery.presets_command),
        CommandHandler("cancel", jobs.cancel_command),
        CommandHandler("stats", admin.stats),
        # Pictures: a photo, or an image sent as a file (a GIF arrives as both an
        # animation and a document, so animations are caught first).
        MessageHandler(filters.PHOTO, photos.receive_picture),
        # Clips: animations, videos, round video notes, and GIF or MP4 files.
        MessageHandler(
            filters.ANIMATION
            | filters.VIDEO
            | filters.VIDEO_NOTE
            | filters.Document.MimeType("video/mp4")
            | filters.Document.GIF,
            clips.receive_clip,
        ),
        MessageHandler(filters.Document.ALL, photos.receive_picture),
        # Buttons
        CallbackQueryHandler(gallery.pick_preset, pattern=r"^p:"),
        CallbackQueryHandler(gallery.turn_page, pattern=r"^g:"),
        CallbackQueryHandler(jobs.cancel_button, pattern=r"^x:"),
        CallbackQueryHandler(jobs.swap_button, pattern=r"^w:"),
        CallbackQueryHandler(jobs.rerun_button, pattern=r"^r:"),
        CallbackQueryHandler(timelapse.timelapse_button, pattern=r"^t:"),
        CallbackQueryHandler(settings_menu.settings_button, pattern=r"^s(:|$)"),
        CallbackQueryHandler(start.choose_language, pattern=r"^l:"),
        CallbackQueryHandler(fallback.stale_button),
        # Everything else gets a hint
        MessageHandler(filters.Sticker.ALL, fallback.sticker),
        MessageHandler(filters.VOICE | filters.AUDIO, fallback.voice),
        MessageHandler(filters.COMMAND, fallback.unknown_command),
        MessageHandler(filters.TEXT, fallback.text),
        MessageHandler(filters.ALL, fallback.other),
    ]


def is_allowed(settings: BotSettings, user_id: int) -> bool:
    """Whether ALLOWED_USERS (unset: everyone) lets this person use the bot."""
    allowed = settings.allowed_users
    return allowed is None or user_id in allowed or user_id in settings.admin_ids


async def only_allowed(update: Update, context: Context) -> None:
    """With ALLOWED_USERS set, politely turn everyone else away before any handler runs."""
    user = update.effective_user
    if user is None or is_allowed(context.settings, user.id):
        return
    logger.info("user %s is not on ALLOWED_USERS", user.id)
    t = Texts(pick_language(None, user.language_code))
    if update.callback_query:
        await update.callback_query.answer(t("not_allowed"))
    elif update.effective_message:
        await update.effective_message.reply_text(t("not_allowed"))
    raise ApplicationHandlerStop


async def on_error(update: object, context: Context) -> None:
    """Log the error with the update, tell the person something went wrong, and tell the admins
    (redacted, once in a while for each kind of error: bot/admin_reports.py)."""
    logger.error("error while handling update %s", update, exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat:
        try:
            _, t = await who(update, context)
            if update.callback_query:
                await update.callback_query.answer(t("error"))
            else:
                await context.bot.send_message(update.effective_chat.id, t("error"))
        except Exception:  # the error may well be Telegram itself being unreachable
            logger.warning("could not tell the person about the error", exc_info=True)
    text = context.bot_data.reports.report(context.error)
    if text is None:  # this kind was reported a moment ago; the log has it
        return
    for admin_id in context.settings.admin_ids:
        try:
            await context.bot.send_message(admin_id, Texts("en")("admin_error", error=text))
        except Exception:
            logger.warning("could not tell admin %s about the error", admin_id, exc_info=True)


async def post_init(application: BotApp) -> None:
    """Open the database, load the presets, start delivery and housekeeping (and the local
    engine worker)."""
    data = application.bot_data
    settings = data.settings
    data.engine = make_engine(settings.database_url, timeouts=settings.db_timeouts)
    data.sessionmaker = make_sessionmaker(data.engine)
    data.people = People(data.sessionmaker)
    data.presets = PresetLibrary.load(settings.presets_dir)
    try:  # the paintings of presets no longer installed may be pruned again
        await in_transaction(
            data.sessionmaker, keep_preset_pins, preset_ids=[p.id for p in data.presets.presets]
        )
    except Exception as e:
        if not is_outage(e):
            raise
        logger.warning("could not tidy the preset pins, the database is away (%s)", brief(e))
    data.stop_metrics = metrics.serve(settings.metrics_port)
    data.forget_queue_metrics = (
        metrics.register_queue(data.sessionmaker) if settings.metrics_port else (lambda: None)
    )
    data.delivery = Delivery(application.bot, data.sessionmaker, settings)
    data.delivery.start()
    data.housekeeping = Housekeeping(data.sessionmaker, keep_days=settings.keep_days)
    data.housekeeping.start()
    if data.engine_process is not None:
        data.engine_process.start()
    for language in LANGUAGES:
        t = Texts(language)
        commands = [BotCommand(name, t(f"cmd_{name}")) for name in COMMANDS]
        await application.bot.set_my_commands(
            commands, language_code=None if language == "en" else language
        )
    logger.info("bot @%s ready (%d presets)", application.bot.username, len(data.presets))


# post_stop and post_shutdown also run when start-up failed before post_init finished (say,
# Telegram refused the token), so they close only what was opened.


async def post_stop(application: BotApp) -> None:
    """Stop delivering (and housekeeping) while the bot can still talk to Telegram."""
    if hasattr(application.bot_data, "housekeeping"):
        await application.bot_data.housekeeping.stop()
    if hasattr(application.bot_data, "delivery"):
        await application.bot_data.delivery.stop()


async def post_shutdown(application: BotApp) -> None:
    """Stop the local engine worker and close the database."""
    data = application.bot_data
    if data.engine_process is not None:
        await data.engine_process.stop()
    if hasattr(data, "stop_metrics"):
        data.forget_queue_metrics()
        data.stop_metrics()
    if hasattr(data, "engine"):
        data.engine.dispose()


def build_application(settings: BotSettings, *, engine_process: EngineProcess | None) -> BotApp:
    """The bot, wired to its settings; run it with run_polling() or run_webhook()."""
    context_types = ContextTypes(context=Context, bot_data=BotData)
    updates = OnePersonAtATime(UPDATE_SLOTS, max_waiting=settings.max_waiting_updates)
    application: BotApp = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(settings.api_url)
        .base_file_url(settings.file_url)
        .context_types(context_types)
        .rate_limiter(PriorityRateLimiter(max_retries=3))
        # aiohttp rather than python-telegram-bot's httpx: a fraction of the CPU per call
        # (bot/http.py). A call waits up to 30 s for a free connection.
        .request(AiohttpRequest(connections=HTTP_CONNECTIONS, pool=30))
        .get_updates_request(AiohttpRequest(connections=1))
        .concurrent_updates(updates)
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
        .build()
    )
    application.bot_data.settings = settings
    application.bot_data.reports = AdminReports(
        RedactToken(settings.token, *settings.other_secrets), every=settings.admin_report_seconds
    )
    application.bot_data.engine_process = engine_process
    application.add_handler(TypeHandler(Update, only_allowed), group=-1)
    application.add_handlers(handlers())
    application.add_error_handler(on_error)

    async def too_many_updates(update: Update) -> None:
        user = update.effective_user
        if user is not None and is_allowed(settings, user.id):  # strangers hear nothing more
            await fallback.too_many_updates(update, Context.from_update(update, application))

    updates.on_overflow = too_many_updates
    return application
