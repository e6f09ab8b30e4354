"""``python -m engine stylize`` end to end, in a subprocess, on tiny pictures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("VGG_WEIGHTS", None)
    return subprocess.run(
        [sys.executable, "-m", "engine", "stylize", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
        check=False,
    )


@pytest.fixture
def pictures(tmp_path: Path, photo: Image.Image, painting: Image.Image) -> tuple[Path, Path]:
    photo.save(tmp_path / "photo.png")
    painting.save(tmp_path / "painting.jpg")
    return tmp_path / "photo.png", tmp_path / "painting.jpg"


@pytest.mark.slow
def test_stylize_writes_the_picture_plot_and_snapshots(
    tmp_path: Path, pictures: tuple[Path, Path]
) -> None:
    photo, painting = pictures
    out = tmp_path / "out.jpg"
    done = _run(
        photo,
        painting,
        painting,
        "-o",
        out,
        "--steps",
        "6",
        "--seed",
        "1",
        "--style-weights",
        "2",
        "1",
        "--keep-colors",
        "--plot",
        tmp_path / "loss.png",
        "--save-every",
        "3",
        "--preset",
        "fast",
        "--device",
        "cpu",
    )
    assert done.returncode == 0, done.stderr
    assert Image.open(out).size == (48, 32)
    assert Image.open(tmp_path / "loss.png").format == "PNG"
    assert sorted(p.name for p in tmp_path.glob("out.step*")) == [
        "out.step00003.jpg",
        "out.step00006.jpg",
    ]
    assert "6/6" in done.stderr  # the progress bar ran to the end


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--strength", "0"], "strength must be between"),
        (["--preset", "ultra"], "invalid choice"),
        (["--size", "huge"], "invalid int value"),
        (["--style-weights", "1", "2"], "2 numbers for 1 style"),
    ],
)
def test_bad_options_give_one_error_line(
    tmp_path: Path, pictures: tuple[Path, Path], extra: list[str], message: str
) -> None:
    photo, painting = pictures
    done = _run(photo, painting, "-o", tmp_path / "out.jpg", *extra)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and message in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "out.jpg").exists()


def test_bad_inputs_give_one_error_line(tmp_path: Path, pictures: tuple[Path, Path]) -> None:
    photo, painting = pictures
    (tmp_path / "notes.txt").write_text("not a picture")
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    cases = [
        ([tmp_path / "missing.jpg", painting, "-o", tmp_path / "o.jpg"], "no such file"),
        ([photo, tmp_path / "notes.txt", "-o", tmp_path / "o.jpg"], "not a picture"),
        ([tmp_path / "dot.png", painting, "-o", tmp_path / "o.jpg"], "too small"),
        ([photo, painting, "-o", tmp_path / "o.gif"], "must end in .jpg"),
        ([photo, painting, "-o", tmp_path / "nowhere" / "o.jpg"], "does not exist"),
        ([photo, painting], "required: -o"),
    ]
    for args, message in cases:
        done = _run(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.startswith("error: ") and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
