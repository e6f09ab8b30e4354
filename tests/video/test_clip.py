"""Clips in and out: what a person sends comes back as an MP4 of the same length and shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from engine.video.clip import probe, read_clip, write_clip
from engine.video.limits import CPU_LIMITS, ClipLimits, ClipRejected
from tests.video.clips import moving_square, write_test_clip

LIMITS = ClipLimits(max_seconds=10.0, max_fps=12.0, max_frames=120, max_side=256)


def numbered(count: int, width: int = 32, height: int = 24) -> list[Image.Image]:
    """Flat grey frames whose level tells their index (10 grey levels apart)."""
    return [Image.new("RGB", (width, height), (10 * i + 5,) * 3) for i in range(count)]


def index_of(frame: Image.Image) -> int:
    return round((float(np.asarray(frame).mean()) - 5) / 10)


def _silence(out: Any) -> None:
    """A moment of silence, as an AAC stream of the container being written."""
    audio = out.add_stream("aac", rate=16000)
    frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.int16), format="s16", layout="mono")
    frame.sample_rate = 16000
    for packet in [*audio.encode(frame), *audio.encode(None)]:
        out.mux(packet)


def test_an_mp4_reads_with_its_frames_rate_and_size(tmp_path: Path) -> None:
    path = write_test_clip(tmp_path / "in.mp4", moving_square(12), fps=12)
    info = probe(path)
    assert (info.frames, info.width, info.height) == (12, 48, 32)
    assert info.fps == pytest.approx(12.0)
    assert info.seconds == pytest.approx(1.0)
    assert not info.has_audio and not info.variable_rate
    clip = read_clip(path, limits=LIMITS)
    assert len(clip.frames) == 12 and clip.fps == pytest.approx(12.0)
    assert all(f.size == (48, 32) and f.mode == "RGB" for f in clip.frames)


def test_a_gif_reads_like_a_video(tmp_path: Path) -> None:
    path = write_test_clip(tmp_path / "in.gif", moving_square(10), fps=10)
    clip = read_clip(path, limits=LIMITS)
    assert len(clip.frames) == 10
    assert clip.fps == pytest.approx(10.0)
    assert clip.frames[0].size == (48, 32)


def test_written_clip_reads_back_with_the_same_count_rate_size_and_length(tmp_path: Path) -> None:
    frames = moving_square(12)
    write_clip(frames, tmp_path / "out.mp4", fps=12)
    info = probe(tmp_path / "out.mp4")
    assert (info.frames, info.width, info.height) == (12, 48, 32)
    assert info.fps == pytest.approx(12.0)
    assert info.seconds == pytest.approx(1.0)
    with av.open(str(tmp_path / "out.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"


def test_the_pictures_survive_the_encoding(tmp_path: Path) -> None:
    frames = moving_square(6)
    write_clip(frames, tmp_path / "out.mp4", fps=6)
    again = read_clip(tmp_path / "out.mp4", limits=LIMITS).frames
    for before, after in zip(frames, again, strict=True):
        error = np.abs(np.asarray(before, float) - np.asarray(after, float)).mean()
        assert error < 6  # of 255: visually the same picture


def test_odd_sides_lose_one_pixel_to_become_even(tmp_path: Path) -> None:
    path = write_test_clip(tmp_path / "in.mkv", moving_square(4, 48, 32), fps=8)
    odd = [f.crop((0, 0, 47, 31)) for f in read_clip(path, limits=LIMITS).frames]
    write_clip(odd, tmp_path / "out.mp4", fps=8)
    info = probe(tmp_path / "out.mp4")
    assert (info.width, info.height) == (46, 30)
    assert info.frames == 4


def test_frames_above_the_rate_limit_are_dropped_evenly(tmp_path: Path) -> None:
    path = write_test_clip(tmp_path / "fast.mp4", numbered(24), fps=24)
    clip = read_clip(path, limits=LIMITS)
    assert clip.fps == pytest.approx(12.0)
    assert [index_of(f) for f in clip.frames] == list(range(0, 24, 2))
    assert clip.seconds == pytest.approx(1.0)


def test_a_variable_rate_is_resampled_to_a_constant_one_keeping_the_timing(
    tmp_path: Path,
) -> None:
    # Frame 0 is shown 0.5 s, frames 1-4 0.125 s each: 1 s at 5 frames a second on average.
    durations = [0.5, 0.125, 0.125, 0.125, 0.125]
    path = write_test_clip(tmp_path / "vfr.mp4", numbered(5), fps=8, durations=durations)
    info = probe(path)
    assert info.variable_rate
    assert info.seconds == pytest.approx(1.0, abs=0.02)
    clip = read_clip(path, limits=LIMITS)
    assert clip.fps == pytest.approx(5.0, rel=0.02)
    # Frames start at 0, 0.5, 0.625, 0.75, 0.875 s; each tick (0, 0.2, 0.4, 0.6, 0.8 s) takes
    # the nearest: the long first frame is held, and one of the quick ones is dropped.
    assert [index_of(f) for f in clip.frames] == [0, 0, 1, 2, 3]


def test_a_phone_clip_stored_on_its_side_reads_upright(tmp_path: Path) -> None:
    upright = moving_square(3, 32, 48)  # portrait, the square near the top-left
    path = write_test_clip(tmp_path / "phone.mp4", upright, fps=8, rotation=90)
    with av.open(str(path)) as container:
        stored = container.streams.video[0].codec_context
        assert (stored.width, stored.height) == (48, 32)  # as the phone stored it
    info = probe(path)
    assert (info.width, info.height) == (32, 48)
    frames = read_clip(path, limits=LIMITS).frames
    assert frames[0].size == (32, 48)
    error = np.abs(np.asarray(frames[0], float) - np.asarray(upright[0], float)).mean()
    assert error < 6


def test_frames_are_scaled_to_the_long_side_limit(tmp_path: Path) -> None:
    path = write_test_clip(tmp_path / "in.mp4", moving_square(3, 96, 64), fps=8)
    clip = read_clip(path, limits=LIMITS, max_side=48)
    assert clip.frames[0].size == (48, 32)


def test_a_long_clip_is_refused_saying_by_how_much(tmp_path: Path) -> None:
    path = write_test_clip(tmp_path / "long.mp4", numbered(25), fps=2)
    with pytest.raises(ClipRejected) as caught:
        read_clip(path, limits=LIMITS)
    assert caught.value.reason == "too_long"
    assert str(caught.value) == "the clip is 12.5 s long; the limit is 10 s"


def test_a_corrupt_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"not a video" * 50)
    with pytest.raises(ClipRejected) as caught:
        probe(path)
    assert caught.value.reason == "corrupt"
    assert str(caught.value) == "the file is damaged or is not a video"


def test_a_truncated_download_is_refused(tmp_path: Path) -> None:
    whole = write_test_clip(tmp_path / "whole.mp4", moving_square(12), fps=12).read_bytes()
    path = tmp_path / "half.mp4"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ClipRejected) as caught:
        read_clip(path, limits=LIMITS)
    assert caught.value.reason == "corrupt"


def test_a_sound_only_file_is_refused_as_no_video(tmp_path: Path) -> None:
    path = tmp_path / "voice.m4a"
    with av.open(str(path), "w", format="mp4") as out:
        _silence(out)
    with pytest.raises(ClipRejected) as caught:
        probe(path)
    assert caught.value.reason == "no_video"
    assert str(caught.value) == "the file has no video in it"


def test_a_video_stream_without_frames_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.mkv"  # a sound track, and a video track that never got a frame
    with av.open(str(path), "w", format="matroska") as out:
        video = out.add_stream("libx264", rate=12)
        video.width, video.height, video.pix_fmt = 48, 32, "yuv420p"
        _silence(out)
    with pytest.raises(ClipRejected) as caught:
        read_clip(path, limits=CPU_LIMITS)
    assert caught.value.reason == "no_frames"


def test_the_sound_is_copied_through(tmp_path: Path) -> None:
    source = write_test_clip(tmp_path / "in.mp4", moving_square(12), fps=12, audio_codec="aac")
    assert probe(source).has_audio
    frames = read_clip(source, limits=LIMITS).frames
    write_clip(frames, tmp_path / "out.mp4", fps=12, audio_from=source)
    with av.open(str(tmp_path / "out.mp4")) as container:
        audio = container.streams.audio[0]
        assert audio.codec_context.name == "aac"
        assert audio.duration is not None and audio.time_base is not None
        assert float(audio.duration * audio.time_base) == pytest.approx(1.0, abs=0.1)
    assert probe(tmp_path / "out.mp4").frames == 12


def test_sound_mp4_cannot_hold_is_re_encoded_to_aac(tmp_path: Path) -> None:
    source = write_test_clip(
        tmp_path / "in.mov", moving_square(12), fps=12, audio_codec="pcm_s16le"
    )
    frames = read_clip(source, limits=LIMITS).frames
    write_clip(frames, tmp_path / "out.mp4", fps=12, audio_from=source)
    with av.open(str(tmp_path / "out.mp4")) as container:
        audio = container.streams.audio[0]
        assert audio.codec_context.name == "aac"
        decoded = sum(frame.samples for frame in container.decode(audio))
        assert decoded / audio.codec_context.sample_rate == pytest.approx(1.0, abs=0.1)


def test_a_sound_source_that_cannot_be_read_leaves_the_video_silent(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a file with sound")
    write_clip(moving_square(4), tmp_path / "o.mp4", fps=4, audio_from=broken)
    info = probe(tmp_path / "o.mp4")
    assert info.frames == 4 and not info.has_audio


def test_a_webm_with_opus_sound_becomes_an_mp4_with_aac(tmp_path: Path) -> None:
    source = write_test_clip(
        tmp_path / "in.webm",
        moving_square(8),
        fps=8,
        video_codec="libvpx-vp9",
        audio_codec="libopus",
    )
    clip = read_clip(source, limits=LIMITS)
    assert len(clip.frames) == 8 and clip.fps == pytest.approx(8.0)
    write_clip(clip.frames, tmp_path / "out.mp4", fps=clip.fps, audio_from=source)
    info = probe(tmp_path / "out.mp4")
    assert (info.frames, info.width, info.height, info.has_audio) == (8, 48, 32, True)
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert container.streams.audio[0].codec_context.name == "aac"


def test_a_clip_without_sound_stays_silent(tmp_path: Path) -> None:
    source = write_test_clip(tmp_path / "in.mp4", moving_square(4), fps=4)
    write_clip(
        read_clip(source, limits=LIMITS).frames, tmp_path / "o.mp4", fps=4, audio_from=source
    )
    assert not probe(tmp_path / "o.mp4").has_audio


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (32, 24)), Image.new("RGB", (40, 24))]
    with pytest.raises(ValueError, match="differ in size"):
        write_clip(frames, tmp_path / "out.mp4", fps=4)
    assert list(tmp_path.iterdir()) == []
