"""``python -m engine migrate``, ``python -m engine stats`` and ``python -m engine prune``.

The job system's commands for an operator: upgrade the schema, print the queue's numbers,
forget what is old. None of them loads torch.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from datetime import timedelta

from sqlalchemy import Engine

from engine.env import SettingsError
from engine.jobs.db import (
    LOG_FORMAT,
    SchemaOutOfDate,
    check_schema,
    current_revision,
    make_engine,
    make_sessionmaker,
    upgrade,
)
from engine.jobs.outage import brief, is_outage
from engine.jobs.prune import prune
from engine.jobs.settings import EngineSettings
from engine.jobs.stats import format_stats, stats


def main(argv: list[str], *, prog: str, command: str) -> int:
    """``python -m engine migrate``, ``stats`` and ``prune``."""
    descriptions = {
        "migrate": "Upgrade the database schema (DATABASE_URL) to the newest version.",
        "stats": "Print the queue's numbers: waiting, running, finished in the last hour.",
        "prune": "Delete answered jobs, old workers and unused pictures older than --days "
        "(the bot does this once a day by itself, after KEEP_DAYS).",
    }
    parser = argparse.ArgumentParser(prog=prog, description=descriptions[command])
    parser.add_argument(
        "--database-url", help="default: DATABASE_URL, else a SQLite file in DATA_DIR"
    )
    if command == "prune":
        parser.add_argument(
            "--days", type=float, required=True, help="keep what is younger than this"
        )
    args = parser.parse_args(argv)
    level = logging.INFO if command == "migrate" else logging.WARNING
    logging.basicConfig(level=level, format=LOG_FORMAT)
    try:
        settings = EngineSettings.from_env()
    except SettingsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    url = args.database_url or settings.database_url
    timeouts = settings.db_timeouts
    if command == "migrate":  # a schema change may take long: no statement limit
        timeouts = dataclasses.replace(timeouts, statement=None, lock=max(timeouts.lock, 60.0))
    engine = make_engine(url, timeouts=timeouts)
    where = engine.url.render_as_string(hide_password=True)
    try:
        return _run(command, args, engine, where)
    except Exception as e:
        if not is_outage(e):
            raise
        print(f"error: cannot reach the database at {where}: {brief(e)}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()


def _run(command: str, args: argparse.Namespace, engine: Engine, where: str) -> int:
    """One command on an open engine; the exit status."""
    if command == "migrate":
        before = current_revision(engine)
        upgrade(engine)
        after = current_revision(engine)
        if before == after:
            print(f"{where}: already at the newest schema ({after})")
        else:
            print(f"{where}: upgraded the schema from {before or 'nothing'} to {after}")
        return 0
    try:
        check_schema(engine)
    except SchemaOutOfDate as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if command == "prune":
        with make_sessionmaker(engine).begin() as s:
            pruned = prune(s, older_than=timedelta(days=args.days))
        print(
            f"{where}: deleted {pruned.jobs} answered jobs, {pruned.images} pictures "
            f"and {pruned.workers} workers older than {args.days:g} days"
        )
        return 0
    with make_sessionmaker(engine).begin() as s:
        numbers = stats(s)
    print(format_stats(numbers))
    return 0
