"""``python -m engine stylize --poster`` and ``--max-memory``, in process, on tiny pictures."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from engine.style import cli


@pytest.fixture
def pictures(tmp_path: Path, photo: Image.Image, painting: Image.Image) -> tuple[Path, Path]:
    photo.save(tmp_path / "photo.png")  # 48x32
    painting.save(tmp_path / "painting.jpg")
    return tmp_path / "photo.png", tmp_path / "painting.jpg"


def stylize(*args: str | Path) -> int:
    return cli.main([*map(str, args)], prog="engine stylize", command="stylize")


@pytest.mark.slow
def test_a_poster_is_the_photo_enlarged_and_painted_in_tiles_within_the_budget(
    tmp_path: Path,
    pictures: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    photo, painting = pictures
    out = tmp_path / "poster.png"
    caplog.set_level("INFO", logger="engine.style.tiled")
    # 0.09 GiB holds the 96x64 poster in 64 px tiles (tiled.tiled_memory), not untiled.
    status = stylize(photo, painting, "-o", out, "--poster", "--size", "96", "--steps", "4",
                     "--seed", "0", "--device", "cpu", "--max-memory", "0.09")
    assert status == 0, capsys.readouterr().err
    assert Image.open(out).size == (96, 64)
    assert any("64 px tiles" in r.getMessage() for r in caplog.records), caplog.text


def test_a_budget_too_small_for_any_tile_is_one_error_line(
    tmp_path: Path, pictures: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    photo, painting = pictures
    for budget, message in (("0.01", "needs at least"), ("-1", "positive number of GiB")):
        status = stylize(photo, painting, "-o", tmp_path / "o.jpg", "--steps", "2",
                         "--device", "cpu", "--max-memory", budget)
        err = capsys.readouterr().err
        assert status == 2 and err.startswith("error: ") and message in err, err
        assert err.count("\n") == 1
    assert not (tmp_path / "o.jpg").exists()


def test_a_poster_larger_than_the_limit_is_refused(
    tmp_path: Path, pictures: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    photo, painting = pictures
    status = stylize(photo, painting, "-o", tmp_path / "o.jpg", "--poster", "--size", "9000")
    err = capsys.readouterr().err
    assert status == 2 and "between 64 and 8192" in err, err
