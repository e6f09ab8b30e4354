"""A PostgreSQL server for tests: TEST_POSTGRES_URL, or a scratch one from scripts/pg-scratch.

Each caller gets databases of its own (``create_database``), so test packages and engineers
sharing one server never see each other's rows.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRATCH = REPO_ROOT / "scripts" / "pg-scratch"


class NoPostgres(RuntimeError):
    """No server was given and none could be started; the message says why."""


def required() -> bool:
    """In CI (REQUIRE_POSTGRES=1) a missing server fails the tests instead of skipping them."""
    return os.environ.get("REQUIRE_POSTGRES", "") not in ("", "0")


def server_url() -> str:
    """The URL of a reachable server, starting a scratch one when none is configured."""
    url = os.environ.get("TEST_POSTGRES_URL")
    if url:
        return url
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")) and not shutil.which("initdb"):
        raise NoPostgres("no TEST_POSTGRES_URL and no PostgreSQL binaries to start one")
    done = subprocess.run([str(SCRATCH), "start"], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise NoPostgres(f"scripts/pg-scratch failed: {done.stderr.strip()}")
    return done.stdout.strip().splitlines()[-1]


def _admin(url: str) -> Engine:
    # CREATE/DROP DATABASE cannot run inside a transaction.
    return create_engine(
        make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT", pool_pre_ping=True
    )


def create_database(url: str, *, prefix: str = "test", template: str | None = None) -> str:
    """A new, empty (or copied from ``template``) database on the server; its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    engine = _admin(url)
    try:
        with engine.connect() as c:
            copy = f" TEMPLATE {template}" if template else ""
            c.execute(text(f"CREATE DATABASE {name}{copy}"))
    finally:
        engine.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    name = make_url(url).database
    engine = _admin(url)
    try:
        with engine.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        engine.dispose()
