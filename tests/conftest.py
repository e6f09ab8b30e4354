"""Fixtures shared by every test package: databases, so that the same tests run on SQLite and
on PostgreSQL.

``db_url`` is parametrised over both backends. Every test gets a database of its own, already
migrated to the newest schema: a copy of a file (SQLite) or of a template database
(PostgreSQL), made once per session by running the real migrations.

PostgreSQL comes from TEST_POSTGRES_URL, or a scratch server started with scripts/pg-scratch.
Without one the PostgreSQL half is skipped, unless REQUIRE_POSTGRES=1 (CI), where it fails.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from engine.jobs import blobs
from engine.jobs.db import make_engine, make_sessionmaker, upgrade
from engine.jobs.models import User
from tests.support import pgserver
from tests.support.backends import BACKENDS


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The URL of a PostgreSQL server (skip, or fail under REQUIRE_POSTGRES=1, if none)."""
    try:
        return pgserver.server_url()
    except pgserver.NoPostgres as e:
        if pgserver.required():
            pytest.fail(f"REQUIRE_POSTGRES=1 but {e}")
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "queue.db"
    upgrade(f"sqlite:///{path}")
    return path  # upgrade() disposed its engine: the WAL is checkpointed into the file


@pytest.fixture(scope="session")
def postgres_template(postgres_server: str) -> Iterator[str]:
    url = pgserver.create_database(postgres_server, prefix="queue_template")
    upgrade(url)
    yield url
    pgserver.drop_database(url)


@pytest.fixture
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Make empty (unmigrated) databases on a backend; dropped after the test."""
    made: list[str] = []

    def make(backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / f'empty{len(made)}.db'}"
        server = request.getfixturevalue("postgres_server")
        url = pgserver.create_database(server, prefix="queue_empty")
        made.append(url)
        return url

    yield make
    for url in made:
        pgserver.drop_database(url)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database of this test's own on ``backend``."""
    if backend == "sqlite":
        path = tmp_path / "queue.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    template: str = request.getfixturevalue("postgres_template")
    server: str = request.getfixturevalue("postgres_server")
    name = template.rsplit("/", 1)[-1]
    url = pgserver.create_database(server, prefix="queue_test", template=name)
    yield url
    pgserver.drop_database(url)


@pytest.fixture
def maker(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def people(maker: sessionmaker[Session]) -> list[int]:
    """Three people who talk to the bot."""
    ids = [101, 202, 303]
    with maker.begin() as s:
        s.add_all(User(id=i) for i in ids)
    return ids


@pytest.fixture
def picture(maker: sessionmaker[Session]) -> str:
    """A stored image's sha256 (the queue tests never decode it)."""
    with maker.begin() as s:
        return blobs.put_image(s, b"not really a jpeg", mime="image/jpeg", width=8, height=8)
