"""``python -m engine.health``: is an engine worker on this host alive? (a container health check)

Exit status 0 when a worker started on this host (by default ``socket.gethostname()``, which in
a container is the container's own name) is registered in the database, has not stopped, and
was seen within the last ``WORKER_LIVE_SECONDS`` (the span ``/stats`` counts as alive). A
worker writes ``workers.last_seen_at`` every ``JOB_HEARTBEAT_SECONDS``, idle or busy, so a
worker stuck or cut off from the database turns unhealthy here. Exit status 1 otherwise, with
the reason on stderr; 2 for a settings error. Imports neither torch nor telegram.
"""

from __future__ import annotations

import argparse
import socket
import sys
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select

from engine.env import SettingsError
from engine.jobs.db import make_engine
from engine.jobs.models import Worker, utcnow
from engine.jobs.registry import WORKER_LIVE_SECONDS
from engine.jobs.settings import EngineSettings


@dataclass(frozen=True)
class Health:
    healthy: bool
    message: str


def check(
    engine: Engine,
    *,
    hostname: str,
    max_age_seconds: float = WORKER_LIVE_SECONDS,
    now: datetime | None = None,
) -> Health:
    """Whether a running worker from ``hostname`` was seen within ``max_age_seconds``."""
    with engine.connect() as connection:
        seen = connection.scalar(
            select(func.max(Worker.last_seen_at)).where(
                Worker.hostname == hostname, Worker.stopped_at.is_(None)
            )
        )
    if seen is None:
        return Health(False, f"no running worker registered from host {hostname}")
    age = ((now or utcnow()) - seen).total_seconds()
    if age > max_age_seconds:
        return Health(False, f"the worker on host {hostname} was last seen {age:.0f} s ago")
    return Health(True, f"the worker on host {hostname} was last seen {age:.0f} s ago")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m engine.health",
        description="Exit 0 when an engine worker of this host is running and was seen lately "
        "(a container health check for `python -m engine work`).",
    )
    parser.add_argument(
        "--database-url", help="default: DATABASE_URL, else a SQLite file in DATA_DIR"
    )
    parser.add_argument("--host", help="the worker's hostname (default: this host's)")
    parser.add_argument(
        "--max-age",
        type=float,
        default=WORKER_LIVE_SECONDS,
        metavar="SECONDS",
        help="how recently the worker must have been seen (default: %(default)g)",
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        settings = EngineSettings.from_env()
    except SettingsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    engine = make_engine(args.database_url or settings.database_url)
    try:
        health = check(
            engine, hostname=args.host or socket.gethostname(), max_age_seconds=args.max_age
        )
    except Exception as e:  # an unreachable database or no schema: unhealthy, in one line
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"unhealthy: cannot read the workers table: {reason}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    if not health.healthy:
        print(f"unhealthy: {health.message}", file=sys.stderr)
        return 1
    print(f"healthy: {health.message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
