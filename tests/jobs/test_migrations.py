"""The migrations build exactly the schema the models describe, and tear it down again."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, insert, inspect, select

from engine.contract import JobKind, PhotoParams, load_params
from engine.jobs.db import (
    SchemaOutOfDate,
    alembic_config,
    check_schema,
    current_revision,
    make_engine,
    make_sessionmaker,
    upgrade,
)
from engine.jobs.models import Base, Job, JobState, utcnow

TABLES = {
    "users",
    "chat_sessions",
    "images",
    "jobs",
    "workers",
    "uploads",
    "job_previews",
    "job_frames",
    "job_films",
    "clip_frames",
}


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def downgrade(url: str, *, revision: str) -> None:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            command.downgrade(alembic_config(connection), revision)
    finally:
        engine.dispose()


def test_upgrade_head_matches_the_models_and_downgrade_base_empties(
    backend: str, fresh_url: Callable[[str], str]
) -> None:
    url = fresh_url(backend)
    engine = make_engine(url)
    try:
        with pytest.raises(SchemaOutOfDate, match="python -m engine migrate"):
            check_schema(engine)

        upgrade(url)
        assert current_revision(engine) == head_revision()
        check_schema(engine)
        assert set(inspect(engine).get_table_names()) >= TABLES
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={"compare_type": True, "compare_server_default": True},
            )
            assert compare_metadata(context, Base.metadata) == []

        upgrade(url)  # a second upgrade is a no-op
        downgrade(url, revision="base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        assert current_revision(engine) is None
    finally:
        engine.dispose()


def test_the_migrate_command_upgrades_and_says_so(
    backend: str, fresh_url: Callable[[str], str]
) -> None:
    url = fresh_url(backend)
    env = {**os.environ, "DATABASE_URL": url}
    command = [sys.executable, "-m", "engine", "migrate"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "upgraded the schema from nothing to" in first.stdout
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert "already at the newest schema" in second.stdout

    stats = subprocess.run(
        [sys.executable, "-m", "engine", "stats"], env=env, capture_output=True, text=True
    )
    assert stats.returncode == 0 and "queued: 0" in stats.stdout

    prune = subprocess.run(
        [sys.executable, "-m", "engine", "prune", "--days", "30"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert prune.returncode == 0, prune.stderr
    assert "deleted 0 answered jobs, 0 pictures and 0 workers older than 30 days" in prune.stdout


def test_stats_on_an_empty_database_says_what_to_run(tmp_path: os.PathLike[str]) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/none.db"}
    done = subprocess.run(
        [sys.executable, "-m", "engine", "stats"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "run `python -m engine migrate`" in done.stderr


def test_jobs_queued_before_the_kind_column_are_photos_whose_parameters_still_load(
    backend: str, fresh_url: Callable[[str], str]
) -> None:
    """A database with jobs in it, upgraded under them: they keep their plain parameters."""
    url = fresh_url(backend)
    upgrade(url, revision="0002")
    engine = make_engine(url)
    try:
        old = MetaData()
        old.reflect(engine)
        now = utcnow()
        with engine.begin() as c:
            c.execute(
                insert(old.tables["users"]).values(
                    id=1,
                    quality="balanced",
                    strength=1.0,
                    keep_colors=False,
                    send_file=False,
                    created_at=now,
                    updated_at=now,
                )
            )
            c.execute(
                insert(old.tables["images"]).values(
                    sha256="a" * 64, data=b"x", mime="image/jpeg", width=1, height=1, created_at=now
                )
            )
            c.execute(
                insert(old.tables["jobs"]).values(
                    user_id=1,
                    chat_id=1,
                    state="queued",
                    priority=0,
                    content_sha="a" * 64,
                    styles=[{"sha256": "a" * 64, "weight": 1.0}],
                    params={"preset": "fast", "size": None, "strength": 1.6, "seed": None},
                    attempts=0,
                    max_attempts=3,
                    progress=0.0,
                    cancel_requested=False,
                    created_at=now,
                )
            )
        upgrade(url)
        with make_sessionmaker(engine)() as s:
            (job,) = s.scalars(select(Job)).all()
            assert (job.kind, job.state) == (JobKind.PHOTO, JobState.QUEUED)
            assert load_params(job.kind, job.params) == PhotoParams(preset="fast", strength=1.6)
    finally:
        engine.dispose()
