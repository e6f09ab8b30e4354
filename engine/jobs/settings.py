"""The job system's settings, read once from the environment at start-up and passed down.

The style engine reads its own (the device, the weights: ``engine.style.settings``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from engine.contract import MAX_FRAMES
from engine.env import SettingsError, read_int, read_number
from engine.jobs.db import DatabaseTimeouts


def default_database_url(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / 'stylebot.db').resolve()}"


@dataclass(frozen=True, kw_only=True)
class EngineSettings:
    """Everything the queue and the worker loop need to know about their environment."""

    data_dir: Path
    database_url: str
    lease_seconds: float = 60.0  # a running job whose lease passes is handed to another worker
    heartbeat_seconds: float = 10.0  # how often a busy worker extends its lease
    progress_seconds: float = 2.0  # progress is written at most this often
    poll_seconds: float = 0.5  # an idle worker looks for work this often
    # A running job's preview is written at most this often (0: none); the bot shows it.
    preview_seconds: float = 5.0
    timelapse_frames: int = MAX_FRAMES  # frames kept per run for its time-lapse (0: none)
    # The most of a run's time its previews and frames may take; past it, frames are thinned.
    output_budget: float = 0.03
    # A worker on the CPU lowers its own priority by this much (0-19, see nice(1)), so that
    # the bot beside it on the same machine stays quick to answer while the cores are busy.
    cpu_nice: int = 10
    db_timeouts: DatabaseTimeouts = field(default_factory=DatabaseTimeouts)
    # A finished result whose write meets a database outage is tried again for this long
    # before the run is given up (the job then runs again elsewhere once its lease passes).
    result_retry_seconds: float = 300.0
    metrics_port: int | None = None  # serve Prometheus metrics on this port (None: off)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EngineSettings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("DATA_DIR") or "data")
        settings = cls(
            data_dir=data_dir,
            database_url=env.get("DATABASE_URL") or default_database_url(data_dir),
            lease_seconds=read_number(env, "JOB_LEASE_SECONDS", 60.0, minimum=5),
            heartbeat_seconds=read_number(env, "JOB_HEARTBEAT_SECONDS", 10.0, minimum=0.1),
            progress_seconds=read_number(env, "JOB_PROGRESS_SECONDS", 2.0, minimum=0.1),
            poll_seconds=read_number(env, "WORKER_POLL_SECONDS", 0.5, minimum=0.01),
            preview_seconds=read_number(env, "PREVIEW_SECONDS", 5.0, minimum=0),
            timelapse_frames=read_int(env, "TIMELAPSE_FRAMES", MAX_FRAMES, minimum=0),
            output_budget=read_number(env, "OUTPUT_BUDGET", 0.03, minimum=0),
            cpu_nice=read_int(env, "WORKER_CPU_NICE", 10, minimum=0),
            db_timeouts=DatabaseTimeouts.from_env(env),
            result_retry_seconds=read_number(env, "RESULT_RETRY_SECONDS", 300.0, minimum=0),
            metrics_port=read_int(env, "WORKER_METRICS_PORT", 0, minimum=0) or None,
        )
        if settings.cpu_nice > 19:
            raise SettingsError(f"WORKER_CPU_NICE must be 0 to 19, got {settings.cpu_nice}")
        if settings.timelapse_frames > MAX_FRAMES:
            raise SettingsError(
                f"TIMELAPSE_FRAMES must be 0 to {MAX_FRAMES}, got {settings.timelapse_frames}"
            )
        if settings.heartbeat_seconds >= settings.lease_seconds:
            raise SettingsError(
                "JOB_HEARTBEAT_SECONDS must be shorter than JOB_LEASE_SECONDS, or every "
                "running job would look abandoned"
            )
        return settings
