"""bot/clips.py: which clips the bot takes, what it tells a person of the others, and the
first frame its status message starts with. Tiny clips made here (tests/video/clips.py)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from telegram import Animation, Document, VideoNote

from bot.clips import ClipRefused, check_clip, check_clip_attachment, first_frame, is_clip
from bot.texts import Texts
from bot.uploads import UploadRejected
from engine.video.limits import CPU_LIMITS
from tests.video.clips import moving_square, write_test_clip


def _clip(tmp_path: Path, name: str, frames: int, *, fps: float = 6) -> bytes:
    return write_test_clip(tmp_path / name, moving_square(frames, 48, 32), fps=fps).read_bytes()


def test_a_clip_within_the_limits_is_taken_as_it_came(tmp_path: Path) -> None:
    data = _clip(tmp_path, "ok.mp4", 6)
    clip = check_clip(data, limits=CPU_LIMITS)
    assert clip.data == data and clip.mime == "video/mp4" and is_clip(clip.mime)
    assert (clip.info.frames, clip.info.width, clip.info.height) == (6, 48, 32)
    assert not clip.info.has_audio
    gif = check_clip(_clip(tmp_path, "ok.gif", 3), limits=CPU_LIMITS)
    assert gif.mime == "image/gif" and gif.info.frames == 3
    assert not is_clip("image/jpeg")  # a photo's stored form


@pytest.mark.parametrize(
    ("data", "told"),
    [
        (b"", "That file is not a video I can read"),
        (b"GIF89a" + b"\0" * 100, "That file is not a video I can read"),
        (b"\0" * 1000, "That file is not a video I can read"),
    ],
)
def test_what_is_no_clip_is_refused_with_a_reason(data: bytes, told: str) -> None:
    with pytest.raises(ClipRefused) as refused:
        check_clip(data, limits=CPU_LIMITS)
    assert Texts("en")(refused.value.key, **refused.value.values).startswith(told)


def test_a_clip_over_a_limit_is_told_which_in_either_language(tmp_path: Path) -> None:
    long = _clip(tmp_path, "long.mp4", 11, fps=1)  # 11 s; a CPU worker takes 10
    with pytest.raises(ClipRefused) as refused:
        check_clip(long, limits=CPU_LIMITS)
    assert refused.value.key == "clip_too_long"
    en = Texts("en")(refused.value.key, **refused.value.values)
    ru = Texts("ru")(refused.value.key, **refused.value.values)
    assert "11.0 s long" in en and "up to 10 s" in en
    assert "11.0 с" in ru and "10 с" in ru


def test_telegrams_word_refuses_a_clip_before_the_download() -> None:
    minute = Animation("f", "u", width=64, height=64, duration=60, file_size=1000)
    with pytest.raises(ClipRefused) as refused:
        check_clip_attachment(minute, max_bytes=20 * 2**20, limits=CPU_LIMITS)
    assert refused.value.key == "clip_too_long"
    huge = VideoNote("f", "u", length=8000, duration=2, file_size=1000)
    with pytest.raises(ClipRefused) as refused:
        check_clip_attachment(huge, max_bytes=20 * 2**20, limits=CPU_LIMITS)
    assert refused.value.key == "clip_too_large"
    with pytest.raises(UploadRejected) as too_big:  # over Telegram's 20 MB download limit
        check_clip_attachment(
            Document("f", "u", mime_type="video/mp4", file_size=21 * 2**20),
            max_bytes=20 * 2**20,
            limits=CPU_LIMITS,
        )
    assert too_big.value.key == "too_big"
    short = Animation("f", "u", width=64, height=64, duration=3, file_size=1000)
    check_clip_attachment(short, max_bytes=20 * 2**20, limits=CPU_LIMITS)  # goes on


def test_the_first_frame_is_the_clips_own(tmp_path: Path) -> None:
    frames = moving_square(4, 48, 32)
    data = write_test_clip(tmp_path / "a.mp4", frames, fps=6).read_bytes()
    small = Image.open(io.BytesIO(first_frame(data, 24))).convert("RGB")
    assert small.size == (24, 16)
    expected = frames[0].resize((24, 16))
    # The first frame, not a later one: the square has moved 2 px a frame.
    error = sum(abs(a - b) for a, b in zip(small.tobytes(), expected.tobytes(), strict=True))
    assert error / len(expected.tobytes()) < 12
    with pytest.raises(ValueError):
        first_frame(b"no video", 24)
