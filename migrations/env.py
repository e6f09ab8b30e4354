"""Alembic's entry point: run migrations on the connection we are given, or on DATABASE_URL.

``engine.jobs.db.upgrade`` passes its own connection (with the project's SQLite pragmas) in
``config.attributes["connection"]``; the ``alembic`` command line builds one from
DATABASE_URL, else the default SQLite file in DATA_DIR.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, text

from engine.jobs.db import MIGRATION_TIMEOUTS, make_engine
from engine.jobs.models import Base
from engine.jobs.settings import EngineSettings

config = context.config
target_metadata = Base.metadata

# Two services starting at once (the bot and an engine on another machine) may both upgrade;
# on PostgreSQL a transaction-scoped advisory lock makes the second wait and then find the
# work done. (SQLite's BEGIN IMMEDIATE already serialises them.) The number is arbitrary.
MIGRATION_LOCK = 0x5717EB07


def run_on(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=sqlite,
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        context.run_migrations()


def run_offline() -> None:
    url = config.get_main_option("sqlalchemy.url") or EngineSettings.from_env().database_url
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        run_on(given)
        return
    # The alembic command line: configure its logging from alembic.ini.
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    engine = make_engine(EngineSettings.from_env().database_url, timeouts=MIGRATION_TIMEOUTS)
    try:
        with engine.connect() as connection:
            run_on(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
