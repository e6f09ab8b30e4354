"""bench/bench_engine.py's GPU sections in their --quick form, on the CPU: the benchmark that
is to measure a GPU keeps working where there is none (its numbers are not checked here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.support.pictures import painting_like, photo_like

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_quick_throughput_and_poster_sections_run_and_write_their_tables(
    tmp_path: Path,
) -> None:
    photo_like(256, 192, seed=1, hue=0).save(tmp_path / "photo.png")
    painting_like(128, 128, seed=2).save(tmp_path / "painting.png")
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "bench/bench_engine.py", "--quick", "--sections", "throughput",
         "poster", "--content", str(tmp_path / "photo.png"), "--style",
         str(tmp_path / "painting.png"), "--out", str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = (out / "engine_gpu.md").read_text()
    rows = [line for line in report.splitlines() if line.startswith("| ")]
    assert [row.split("|")[1].strip() for row in rows if row[2].isdigit()][:3] == ["1", "2", "4"]
    poster = next(row for row in rows if row.startswith("| 192x144"))
    assert poster.split("|")[2].strip() == "64"  # tiled, in the 64 px tiles its budget allows
    assert Image.open(out / "poster_192.jpg").size == (192, 144)
