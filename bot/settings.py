"""The bot's settings: read once from the environment at start-up and passed down.

A missing, placeholder or malformed ``BOT_TOKEN`` stops start-up here with a message that
says what to do, before anything talks to Telegram.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from engine.env import SettingsError, read_int, read_number
from engine.jobs.db import DatabaseTimeouts
from engine.jobs.settings import default_database_url
from engine.video.limits import CPU_LIMITS, ClipLimits, limits_for

__all__ = ["BotSettings", "SettingsError"]

# "<bot id>:<secret>", as @BotFather hands them out; the secret is 35 characters in practice.
TOKEN_PATTERN = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{30,64}$")
TELEGRAM_API_URL = "https://api.telegram.org/bot"
TELEGRAM_FILE_URL = "https://api.telegram.org/file/bot"
MB = 1024 * 1024
TELEGRAM_MAX_DOWNLOAD = 20 * MB  # getFile refuses anything larger
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _ids(env: Mapping[str, str], name: str) -> frozenset[int] | None:
    """A comma- or space-separated list of Telegram user ids; None when unset."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    try:
        return frozenset(int(part) for part in re.split(r"[,\s]+", raw) if part)
    except ValueError:
        raise SettingsError(
            f"{name} must list numeric Telegram user ids separated by commas, got {raw!r}"
        ) from None


def check_token(token: str) -> str:
    """The token, or SettingsError saying what is wrong with it (never echoing it)."""
    token = token.strip()
    if not token:
        raise SettingsError(
            "BOT_TOKEN is not set. Ask @BotFather on Telegram for a token and run "
            "BOT_TOKEN=123456:ABC... python -m bot (or put BOT_TOKEN=... in .env)."
        )
    if not TOKEN_PATTERN.match(token):
        raise SettingsError(
            "BOT_TOKEN does not look like a Telegram bot token (digits, a colon, then about "
            "35 letters, digits, '-' or '_'). Copy it again from @BotFather."
        )
    return token


@dataclass(frozen=True, kw_only=True)
class BotSettings:
    """Everything the bot needs to know about its environment."""

    token: str
    data_dir: Path
    database_url: str
    presets_dir: Path
    api_url: str = TELEGRAM_API_URL  # a self-hosted Bot API server or a test server
    file_url: str = TELEGRAM_FILE_URL
    admin_ids: frozenset[int] = frozenset()
    allowed_users: frozenset[int] | None = None  # None: everyone may use the bot
    max_queued_per_user: int = 3  # jobs waiting or running at once, per person
    max_jobs_per_hour: int = 30  # per person
    max_queue_size: int = 200  # jobs waiting, everyone together
    keep_days: int = 30  # answered jobs and unused pictures older than this are deleted; 0: never
    max_attempts: int = 3  # a job is tried this often (a failure or a dead worker) before it fails
    max_upload_bytes: int = TELEGRAM_MAX_DOWNLOAD
    max_upload_pixels: int = 40_000_000
    max_uploads_per_hour: int = 60  # pictures one person may send in an hour
    max_stored_bytes_per_user: int = 200 * MB  # of one person's pictures kept at once
    max_waiting_updates: int = 20  # one person's messages and taps in line; more are dropped
    admin_report_seconds: float = 300.0  # at most one report to the admins per kind of error
    progress_seconds: float = 3.0  # a progress message is edited at most this often
    delivery_poll_seconds: float = 0.1  # how often the database is read for finished jobs
    # An answer Telegram refuses is tried again after delivery_retry_seconds, doubling (with
    # jitter) up to delivery_retry_max_seconds, delivery_max_attempts times in all; then the
    # job is undeliverable, with the last error as its reason.
    delivery_retry_seconds: float = 2.0
    delivery_retry_max_seconds: float = 600.0
    delivery_max_attempts: int = 10
    db_timeouts: DatabaseTimeouts = field(default_factory=DatabaseTimeouts)
    metrics_port: int | None = None  # Prometheus metrics on this port (None: off)
    job_steps: int | None = None  # optimiser steps for every job (tests, benchmarks)
    # The clips the bot takes: the workers' limits (engine.video.limits), so that a person
    # hears at once which one a clip exceeds. CPU_LIMITS, the strictest, unless every worker
    # has a GPU (VIDEO_LIMITS=gpu).
    video_limits: ClipLimits = CPU_LIMITS
    webhook_url: str | None = None  # set: webhook mode; unset: long polling
    webhook_secret: str | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    log_level: str = "INFO"  # of the bot's own log lines (DEBUG: each delivery pass, too)

    @property
    def webhook(self) -> bool:
        return self.webhook_url is not None

    @property
    def other_secrets(self) -> tuple[str, ...]:
        """What besides the token must never reach a log line or an admin: the webhook
        secret, the database password."""
        try:
            password = make_url(self.database_url).password
        except ArgumentError:  # not a URL SQLAlchemy reads: start-up says so elsewhere
            password = None
        # The password as it is, and as the URL spells it (percent-encoded).
        spelled = quote(str(password), safe="") if password else None
        return tuple(str(s) for s in (self.webhook_secret, password, spelled) if s)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BotSettings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("DATA_DIR") or "data")
        webhook_url = (env.get("WEBHOOK_URL") or "").strip() or None
        webhook_secret = (env.get("WEBHOOK_SECRET") or "").strip() or None
        if webhook_url and not webhook_secret:
            raise SettingsError(
                "WEBHOOK_URL is set but WEBHOOK_SECRET is not: set a random secret "
                "(1-256 characters A-Z, a-z, 0-9, _ and -) so that only Telegram can post updates"
            )
        if webhook_secret and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", webhook_secret):
            raise SettingsError("WEBHOOK_SECRET may hold only A-Z, a-z, 0-9, _ and - (1-256)")
        max_upload = read_int(env, "MAX_UPLOAD_BYTES", TELEGRAM_MAX_DOWNLOAD, minimum=1024)
        video_limits = (env.get("VIDEO_LIMITS") or "cpu").strip().lower()
        if video_limits not in ("cpu", "gpu"):
            raise SettingsError(f"VIDEO_LIMITS must be cpu or gpu, got {video_limits!r}")
        log_level = (env.get("LOG_LEVEL") or "INFO").strip().upper()
        if log_level not in LOG_LEVELS:
            raise SettingsError(
                f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}"
            )
        return cls(
            token=check_token(env.get("BOT_TOKEN") or ""),
            data_dir=data_dir,
            database_url=env.get("DATABASE_URL") or default_database_url(data_dir),
            presets_dir=Path(env.get("PRESETS_DIR") or data_dir / "presets"),
            api_url=env.get("TELEGRAM_API_URL") or TELEGRAM_API_URL,
            file_url=env.get("TELEGRAM_FILE_URL") or TELEGRAM_FILE_URL,
            admin_ids=_ids(env, "ADMIN_IDS") or frozenset(),
            allowed_users=_ids(env, "ALLOWED_USERS"),
            max_queued_per_user=read_int(env, "MAX_QUEUED_PER_USER", 3, minimum=1),
            max_jobs_per_hour=read_int(env, "MAX_JOBS_PER_HOUR", 30, minimum=1),
            max_queue_size=read_int(env, "MAX_QUEUE_SIZE", 200, minimum=1),
            max_attempts=read_int(env, "JOB_MAX_ATTEMPTS", 3, minimum=1),
            keep_days=read_int(env, "KEEP_DAYS", 30, minimum=0),
            # Telegram will not hand a bot anything larger, whatever is configured.
            max_upload_bytes=min(max_upload, TELEGRAM_MAX_DOWNLOAD),
            max_upload_pixels=read_int(env, "MAX_UPLOAD_PIXELS", 40_000_000, minimum=10_000),
            max_uploads_per_hour=read_int(env, "MAX_UPLOADS_PER_HOUR", 60, minimum=1),
            max_stored_bytes_per_user=MB * read_int(env, "MAX_STORED_MB_PER_USER", 200, minimum=1),
            max_waiting_updates=read_int(env, "MAX_WAITING_UPDATES", 20, minimum=1),
            admin_report_seconds=read_number(env, "ADMIN_REPORT_SECONDS", 300.0, minimum=0),
            progress_seconds=read_number(env, "PROGRESS_EDIT_SECONDS", 3.0, minimum=0.5),
            delivery_poll_seconds=read_number(env, "DELIVERY_POLL_SECONDS", 0.1, minimum=0.05),
            delivery_retry_seconds=read_number(env, "DELIVERY_RETRY_SECONDS", 2.0, minimum=0.01),
            delivery_retry_max_seconds=read_number(
                env, "DELIVERY_RETRY_MAX_SECONDS", 600.0, minimum=0.01
            ),
            delivery_max_attempts=read_int(env, "DELIVERY_MAX_ATTEMPTS", 10, minimum=1),
            db_timeouts=DatabaseTimeouts.from_env(env),
            metrics_port=read_int(env, "METRICS_PORT", 0, minimum=0) or None,
            job_steps=read_int(env, "JOB_STEPS", 0, minimum=0) or None,
            video_limits=limits_for("cuda" if video_limits == "gpu" else "cpu"),
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            webhook_listen=env.get("WEBHOOK_LISTEN") or "0.0.0.0",
            webhook_port=read_int(env, "WEBHOOK_PORT", 8443, minimum=1),
            log_level=log_level,
        )
