"""Database connections and the schema's version: engines, sessions, Alembic upgrades.

Services call :func:`upgrade` (the bot, and ``python -m engine migrate``) or
:func:`check_schema` (the worker, which refuses to run on an old schema) at start-up; nothing
here calls ``create_all``: the schema changes only through ``migrations/``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from engine.env import read_number

logger = logging.getLogger(__name__)

# alembic.ini and migrations/ sit at the repository root, beside the package (an editable
# install, `pip install -e .`, runs from the checkout).
REPO_ROOT = Path(__file__).resolve().parents[2]
ALEMBIC_INI = REPO_ROOT / "alembic.ini"
MIGRATIONS_DIR = REPO_ROOT / "migrations"

MIGRATE_HINT = "python -m engine migrate"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@dataclass(frozen=True, kw_only=True)
class DatabaseTimeouts:
    """How long any one trip to the database may take, so that a database that went away
    (a restart, a host cut off, a lock held too long) is an error after seconds, never a
    thread hung until TCP gives up.

    ``connect``: to open a connection; ``statement``: one statement, on the server (None: no
    limit; migrations run without one); ``lock``: waiting for another transaction's lock
    (SQLite: its busy timeout, the wait for another process's write lock).
    """

    connect: float = 5.0
    statement: float | None = 30.0
    lock: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DatabaseTimeouts:
        statement = read_number(env, "DB_STATEMENT_TIMEOUT", 30.0, minimum=0)
        return cls(
            connect=read_number(env, "DB_CONNECT_TIMEOUT", 5.0, minimum=1),
            statement=statement or None,
            lock=read_number(env, "DB_LOCK_TIMEOUT", 10.0, minimum=0.05),
        )


# A schema change on a large table may take minutes: no statement limit, a patient lock wait.
MIGRATION_TIMEOUTS = DatabaseTimeouts(statement=None, lock=60.0)


class SchemaOutOfDate(RuntimeError):
    """The database's schema is not the one this code expects; the message says what to run."""


def normalise_url(url: str) -> str:
    """Route plain ``postgresql://`` URLs to psycopg 3, the driver this project installs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def dialect_of(s: Session) -> str:
    """The database a session talks to ("sqlite" or "postgresql"): where the queue's
    statements differ between the two, they ask this."""
    return s.get_bind().dialect.name


def database_now(s: Session) -> datetime:
    """The database server's clock, as naive UTC: leases are written and compared by it, so
    that workers whose own clocks disagree still agree on when a lease has passed."""
    if dialect_of(s) == "postgresql":
        # clock_timestamp(), not now(): the moment of asking, not the transaction's start.
        found = s.scalar(select(func.timezone("UTC", func.clock_timestamp())))
    else:
        found = s.scalar(select(func.strftime("%Y-%m-%d %H:%M:%f", "now")))
    return found if isinstance(found, datetime) else datetime.fromisoformat(str(found))


def _prepare_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module (it would BEGIN lazily, in
        # DEFERRED mode); the "begin" hook below emits our own BEGIN instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL: readers never block the writer and the writer never blocks readers.
        cursor.execute("PRAGMA journal_mode=WAL")
        # Wait for another process's write lock instead of failing at once.
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # In WAL mode NORMAL loses no committed data on a process crash, only on power loss.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        # IMMEDIATE takes the write lock up front. A DEFERRED transaction that reads and then
        # writes fails with "database is locked" at once (busy_timeout cannot help it) when
        # another process wrote in between; the queue's transactions all read, then write.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(
    url: str, *, echo: bool = False, timeouts: DatabaseTimeouts | None = None
) -> Engine:
    """An engine for ``url`` with this project's settings for SQLite or PostgreSQL, and
    ``timeouts`` (the defaults when None)."""
    timeouts = timeouts or DatabaseTimeouts()
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # Every transaction takes the write lock (BEGIN IMMEDIATE, below), so a process gains
        # nothing from a second connection: its threads would only wait for the lock in
        # SQLite's busy handler, which naps 1 to 100 ms between tries. One pooled connection
        # makes them queue in Python instead and hands it over the moment it is free. Other
        # processes (the bot, each worker) still meet the busy handler.
        # A thread waits for the connection while another waits out a lock (up to
        # timeouts.lock), so the pool's own wait is longer.
        engine = create_engine(
            url,
            echo=echo,
            poolclass=QueuePool,
            pool_size=1,
            max_overflow=0,
            pool_timeout=max(60.0, 3 * timeouts.lock),
        )
        _prepare_sqlite(engine, round(timeouts.lock * 1000))
        return engine
    # pre_ping: a server restart or an idle-connection timeout must not fail the next job.
    return create_engine(url, echo=echo, pool_pre_ping=True, connect_args=_pg_options(timeouts))


def _pg_options(timeouts: DatabaseTimeouts) -> dict[str, Any]:
    """libpq's connection options for ``timeouts``."""
    options = [f"-c lock_timeout={round(timeouts.lock * 1000)}"]
    if timeouts.statement:
        options.append(f"-c statement_timeout={round(timeouts.statement * 1000)}")
    args: dict[str, Any] = {
        "connect_timeout": max(2, math.ceil(timeouts.connect)),  # whole seconds, 2 at least
        "options": " ".join(options),
        # A server whose host vanished answers nothing, not even a reset: keepalives find a
        # dead idle connection, and tcp_user_timeout a connection whose data goes unanswered
        # (statement_timeout is the server's and cannot help then).
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
    }
    if timeouts.statement:
        args["tcp_user_timeout"] = round((timeouts.statement + 10) * 1000)
    return args


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (callers pass snapshots around)."""
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, found beside the package; ``connection`` is the one to use."""
    config = Config(str(ALEMBIC_INI)) if ALEMBIC_INI.exists() else Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@contextmanager
def _connected(url_or_engine: str | Engine) -> Iterator[Connection]:
    owned = isinstance(url_or_engine, str)
    engine = (
        make_engine(url_or_engine, timeouts=MIGRATION_TIMEOUTS)
        if isinstance(url_or_engine, str)
        else url_or_engine
    )
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        if owned:
            engine.dispose()


def upgrade(url: str | Engine, *, revision: str = "head") -> None:
    """Upgrade the schema at ``url`` to ``revision`` (the newest by default)."""
    with _connected(url) as connection:
        command.upgrade(alembic_config(connection), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def check_schema(engine: Engine) -> None:
    """Raise :class:`SchemaOutOfDate` unless the database is at this code's newest revision."""
    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    current = current_revision(engine)
    if current == head:
        return
    where = engine.url.render_as_string(hide_password=True)
    if current is None:
        raise SchemaOutOfDate(
            f"the database at {where} has no schema yet: run `{MIGRATE_HINT}` first"
        )
    known = {rev.revision for rev in script.walk_revisions()}
    if current not in known:
        raise SchemaOutOfDate(
            f"the database at {where} is at revision {current}, newer than this code knows "
            f"(its newest is {head}): update the code"
        )
    raise SchemaOutOfDate(
        f"the database at {where} is at revision {current}, this code needs {head}: "
        f"run `{MIGRATE_HINT}`"
    )
