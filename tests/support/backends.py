"""The databases every database test runs on: SQLite, and PostgreSQL (marked, so that a machine
without a server can deselect it; tests/conftest.py skips it there, or fails under
REQUIRE_POSTGRES=1)."""

from __future__ import annotations

import pytest

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
