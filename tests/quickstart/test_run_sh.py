"""The README's first command, ./run.sh, as a newcomer without a Telegram token runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.support.pictures import painting

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,  # may (re)install the package into .venv first
    pytest.mark.skipif(
        Path(sys.prefix).resolve() != (REPO / ".venv").resolve(),
        reason="run.sh sets up and uses REPO/.venv; these tests run only from inside it",
    ),
]


def _drawn(path: Path, size: tuple[int, int], seed: int) -> Path:
    colors = ((40 * seed % 255, 90, 160), (230, 200 - 30 * seed, 40))
    path.write_bytes(painting(*size, colors, format="PNG" if path.suffix == ".png" else "JPEG"))
    return path


def _run_sh(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}
    return subprocess.run(
        [str(REPO / "run.sh"), *args],
        cwd="/",  # run.sh finds its own directory
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_without_a_token_it_stylizes_a_picture(tmp_path: Path) -> None:
    photo = _drawn(tmp_path / "photo.png", (120, 80), 1)
    painting = _drawn(tmp_path / "painting.jpg", (64, 64), 2)
    out = tmp_path / "out.jpg"
    done = _run_sh(str(photo), str(painting), "-o", str(out), "--size", "90", "--steps", "4")
    assert done.returncode == 0, done.stderr
    assert Image.open(out).size == (90, 60)
    assert f"wrote {out}" in done.stdout + done.stderr


def test_without_arguments_or_a_token_it_says_what_to_do() -> None:
    if (REPO / ".env").exists():
        pytest.skip("a local .env may hold a BOT_TOKEN, and run.sh would start the bot")
    done = _run_sh()
    assert done.returncode == 0, done.stderr
    assert "No BOT_TOKEN is set" in done.stdout


def test_a_missing_picture_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    done = _run_sh(str(tmp_path / "nowhere.jpg"), str(tmp_path / "nor.jpg"), "-o", "x.jpg")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "Traceback" not in done.stderr
