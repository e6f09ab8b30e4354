"""``python -m engine stylize`` with a clip: an MP4 comes out, a clip over the limits is refused
with the limit named, and a GIF of one frame is a photo."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from engine.style.cli import EXIT_OK, EXIT_USAGE, main
from engine.video.clip import probe
from tests.video.clips import moving_square, write_test_clip


def stylize(*args: str | Path) -> int:
    return main([str(a) for a in args], prog="python -m engine stylize", command="stylize")


@pytest.fixture
def painting_file(tmp_path: Path, painting: Image.Image) -> Path:
    path = tmp_path / "painting.png"
    painting.save(path)
    return path


def test_a_clip_becomes_an_mp4_with_its_frames_and_sound(
    tmp_path: Path, painting_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = write_test_clip(tmp_path / "in.mp4", moving_square(6), fps=6, audio_codec="aac")
    out = tmp_path / "out.mp4"
    status = stylize(clip, painting_file, "-o", out, "--steps", "2", "--later-steps", "1")
    assert status == EXIT_OK
    info = probe(out)
    assert (info.frames, info.width, info.height, info.has_audio) == (6, 48, 32, True)
    assert "6 frames" in capsys.readouterr().err


def test_fps_drops_frames_evenly(tmp_path: Path, painting_file: Path) -> None:
    clip = write_test_clip(tmp_path / "in.gif", moving_square(8), fps=8)
    out = tmp_path / "out.mp4"
    status = stylize(
        clip, painting_file, "-o", out, "--fps", "4", "--steps", "1", "--later-steps", "1"
    )
    assert status == EXIT_OK
    info = probe(out)
    assert info.frames == 4 and info.fps == pytest.approx(4.0)


def test_a_clip_over_the_limit_is_refused_naming_the_limit(
    tmp_path: Path, painting_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = write_test_clip(tmp_path / "in.mp4", moving_square(12), fps=6)  # 2 s
    status = stylize(clip, painting_file, "-o", tmp_path / "out.mp4", "--max-seconds", "1.5")
    assert status == EXIT_USAGE
    assert capsys.readouterr().err.strip() == "error: the clip is 2 s long; the limit is 1.5 s"
    assert not (tmp_path / "out.mp4").exists()


def test_a_damaged_clip_is_refused(
    tmp_path: Path, painting_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = tmp_path / "broken.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42 and then nothing useful")
    assert stylize(clip, painting_file, "-o", tmp_path / "out.mp4") == EXIT_USAGE
    assert "damaged or is not a video" in capsys.readouterr().err


def test_a_clip_needs_an_mp4_output(
    tmp_path: Path, painting_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = write_test_clip(tmp_path / "in.mp4", moving_square(3), fps=6)
    assert stylize(clip, painting_file, "-o", tmp_path / "out.jpg") == EXIT_USAGE
    assert "must end in .mp4" in capsys.readouterr().err


def test_a_one_frame_gif_is_painted_as_a_photo(tmp_path: Path, painting_file: Path) -> None:
    gif = tmp_path / "still.gif"
    moving_square(1)[0].save(gif)
    out = tmp_path / "out.jpg"
    assert stylize(gif, painting_file, "-o", out, "--steps", "2") == EXIT_OK
    with Image.open(out) as result:
        assert result.size == (48, 32)


def test_clip_options_are_refused_for_a_photo(
    tmp_path: Path, painting_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = tmp_path / "photo.png"
    moving_square(1)[0].save(photo)
    assert stylize(photo, painting_file, "-o", tmp_path / "o.jpg", "--fps", "5") == EXIT_USAGE
    assert "for clips" in capsys.readouterr().err
