"""The chaos run (bench/chaos.py) in its short form, as CI runs it: five people, two jobs each,
two workers on a PostgreSQL server of the run's own, while the fake Bot API answers 5xx, loses
replies, storms with 429s and fails one person's every send; PostgreSQL is restarted with
``pg_ctl restart`` and a busy worker is killed with SIGKILL.

Its report is read as numbers (``--json``), never as wording: every job settled, the blocked
person's alone undeliverable (with a reason), duplicates no more than lost result replies, the
restart really happened and every loop that met it came back, the processes alive, no traceback
flood.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import pgserver

REPO = Path(__file__).resolve().parents[2]


def has_postgres_binaries() -> bool:
    return any(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))


@pytest.mark.slow
def test_the_short_chaos_run_loses_nothing_and_sends_nothing_twice(tmp_path: Path) -> None:
    if not has_postgres_binaries():
        # The run restarts a server of its own, so TEST_POSTGRES_URL cannot stand in for it.
        if pgserver.required():
            pytest.fail("REQUIRE_POSTGRES=1 but no PostgreSQL binaries (pg_ctl) to run chaos on")
        pytest.skip("no PostgreSQL binaries (pg_ctl): the chaos run restarts a server of its own")
    numbers = tmp_path / "chaos.json"
    command = [sys.executable, "-m", "bench.chaos", "--quick", "--timeout", "240"]
    done = subprocess.run(
        [*command, "--json", str(numbers)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    figures = json.loads(numbers.read_text())
    assert figures["problems"] == []
    assert (figures["people"], figures["jobs"]) == (5, 10)
    assert figures["delivered"] + figures["undeliverable"] == figures["jobs"]
    # The blocked person's two jobs, and no one else's.
    assert figures["undeliverable"] == 2
    assert all("blocked" in reason for reason in figures["undeliverable_reasons"])
    # The faults were really there...
    assert figures["injected_5xx"] > 0 and figures["storm_429s"] > 0
    assert figures["lost_result_replies"] > 0
    assert figures["restart_seconds"] > 0 and figures["outage_lines"] >= 1
    # Every loop that met the restart found the database again (but the killed worker's).
    assert figures["unrecovered"] == []
    # ...and ridden out: duplicates only within the window of one per lost result reply.
    assert figures["duplicates"] <= figures["lost_result_replies"]
    assert not math.isnan(figures["restart_to_next_delivered"])  # delivery came back
    assert figures["processes_alive"]
    assert figures["tracebacks"] <= 5
