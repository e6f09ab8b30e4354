"""``python -m engine stylize`` end to end, in a subprocess, on tiny pictures."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from engine.style import cli
from tests.support.pictures import png_header_only

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


def _truncated_jpeg() -> bytes:
    image = Image.effect_noise((64, 64), 50).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    return buffer.getvalue()[:300]  # cut off in the middle of the pixels


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
    # The progress bar ran to the end, with elapsed<remaining time (the ETA) on the way.
    assert re.search(r"6/6 \[\d\d:\d\d<\d\d:\d\d", done.stderr), done.stderr


@pytest.mark.slow
def test_stylize_writes_a_time_lapse_from_the_photo_to_the_result(
    tmp_path: Path, pictures: tuple[Path, Path]
) -> None:
    import av
    import numpy as np

    photo, painting = pictures
    out, film = tmp_path / "out.png", tmp_path / "film.mp4"
    done = _run(
        photo, painting, "-o", out, "--steps", "8", "--seed", "1", "--preset", "fast",
        "--device", "cpu", "--timelapse", film,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "wrote " + str(film) in done.stderr
    with av.open(str(film), mode="r") as container:
        (video,) = container.streams.video
        assert video.codec_context.name == "h264" and not container.streams.audio
        frames = [f.to_ndarray(format="rgb24").astype(float) for f in container.decode(video=0)]
    from engine import timelapse

    assert len(frames) == timelapse.frame_count(8)  # a frame of every step, and the holds

    def near(frame: np.ndarray, path: Path) -> float:
        picture = Image.open(path).convert("RGB").resize((frame.shape[1], frame.shape[0]))
        return float(np.abs(frame - np.asarray(picture, dtype=float)).mean())

    assert near(frames[0], photo) < near(frames[0], out)  # the photo first...
    assert near(frames[-1], out) < near(frames[-1], photo)  # ...the result last
    assert near(frames[-1], out) < 10


def test_a_time_lapse_that_is_not_an_mp4_is_refused_before_any_work(
    tmp_path: Path, pictures: tuple[Path, Path]
) -> None:
    photo, painting = pictures
    done = _run(photo, painting, "-o", tmp_path / "o.jpg", "--timelapse", tmp_path / "film.gif")
    assert done.returncode == 2 and "must end in .mp4" in done.stderr


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
    cases: list[tuple[list[str | Path], str]] = [
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


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_bytes(_truncated_jpeg()), "damaged"),
        (lambda p: Image.new("RGB", (420, 20)).save(p, "PNG"), "aspect ratio"),
        (lambda p: p.write_bytes(png_header_only(100_000, 100_000)), "too many pixels"),
    ],
    ids=["empty", "corrupt", "aspect-ratio", "decompression-bomb"],
)
def test_bad_pictures_give_one_error_line_in_process(
    tmp_path: Path,
    pictures: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    make: object,
    message: str,
) -> None:
    # In process (no interpreter start-up): an escaping exception would fail the test itself.
    photo, _ = pictures
    bad = tmp_path / "bad.jpg"
    make(bad)  # type: ignore[operator]
    for args in ([bad, photo], [photo, bad]):  # as the photo and as the painting
        status = cli.main(
            [*map(str, args), "-o", str(tmp_path / "o.jpg")], prog="p", command="stylize"
        )
        err = capsys.readouterr().err
        assert status == 2 and err.startswith("error: ") and message in err, err
        assert err.count("\n") == 1
    assert not (tmp_path / "o.jpg").exists()


def test_unwritable_outputs_are_refused_before_any_work(
    tmp_path: Path, pictures: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    photo, painting = pictures
    folder = tmp_path / "taken.jpg"
    folder.mkdir()
    cases = [(folder, "is a folder"), (Path("/proc/o.jpg"), "cannot write into /proc")]
    if not Path("/proc").is_dir():
        cases.pop()
    for output, message in cases:
        status = cli.main([str(photo), str(painting), "-o", str(output)], prog="p", command="x")
        err = capsys.readouterr().err
        assert status == 2 and err.startswith("error: ") and message in err, err
        assert err.count("\n") == 1


def test_missing_weights_file_is_one_error_line(
    tmp_path: Path,
    pictures: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("VGG_WEIGHTS", raising=False)
    photo, painting = pictures
    argv = [str(photo), str(painting), "-o", str(tmp_path / "o.jpg"), "--device", "cpu"]
    status = cli.main([*argv, "--weights", str(tmp_path / "none.pt")], prog="p", command="x")
    err = capsys.readouterr().err
    assert status == 1 and err.startswith("error: VGG-19 weights file not found"), err
    assert err.count("\n") == 1
