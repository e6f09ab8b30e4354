"""The limits a clip is held to, and the sentences that tell a person which one it exceeds."""

from __future__ import annotations

import pytest

from engine.video.limits import (
    CPU_LIMITS,
    GPU_LIMITS,
    ClipInfo,
    ClipLimits,
    ClipRejected,
    check,
    limits_for,
    output_fps,
    output_frames,
)


def info(*, frames: int = 120, fps: float = 12.0, width: int = 320, height: int = 240) -> ClipInfo:
    return ClipInfo(
        frames=frames,
        fps=fps,
        seconds=frames / fps if fps else 0.0,
        width=width,
        height=height,
        has_audio=False,
        variable_rate=False,
    )


def test_a_gpu_takes_longer_faster_and_larger_clips_than_a_cpu() -> None:
    assert limits_for("cpu") == CPU_LIMITS
    assert limits_for("cuda") == limits_for("cuda:1") == GPU_LIMITS
    assert GPU_LIMITS.max_seconds > CPU_LIMITS.max_seconds
    assert GPU_LIMITS.max_fps > CPU_LIMITS.max_fps
    assert GPU_LIMITS.max_frames > CPU_LIMITS.max_frames
    assert GPU_LIMITS.max_side > CPU_LIMITS.max_side


def test_a_clip_within_the_limits_passes() -> None:
    check(info(frames=120, fps=12.0), CPU_LIMITS)


def test_a_long_clip_is_refused_with_its_length_and_the_limit() -> None:
    with pytest.raises(ClipRejected) as caught:
        check(info(frames=142, fps=10.0), CPU_LIMITS)
    assert caught.value.reason == "too_long"
    assert str(caught.value) == "the clip is 14.2 s long; the limit is 10 s"


def test_a_fast_clip_is_not_refused_but_painted_at_the_limit_rate() -> None:
    fast = info(frames=240, fps=24.0)  # 10 s at 24 fps: 240 frames, over 120
    check(fast, CPU_LIMITS)
    assert output_fps(fast, CPU_LIMITS) == 12.0
    assert output_frames(fast, CPU_LIMITS) == 120
    slow = info(frames=50, fps=5.0)
    assert output_fps(slow, CPU_LIMITS) == 5.0
    assert output_frames(slow, CPU_LIMITS) == 50


def test_too_many_frames_after_dropping_is_refused() -> None:
    limits = ClipLimits(max_seconds=10.0, max_fps=12.0, max_frames=60, max_side=256)
    check(info(frames=96, fps=24.0), limits)  # 4 s: 48 frames at 12 fps, fine
    with pytest.raises(ClipRejected) as caught:
        check(info(frames=192, fps=24.0), limits)  # 8 s: 96 frames at 12 fps, over 60
    assert caught.value.reason == "too_many_frames"
    assert "96 frames" in str(caught.value) and "limit is 60 frames" in str(caught.value)


def test_huge_frames_are_refused_before_decoding() -> None:
    with pytest.raises(ClipRejected) as caught:
        check(info(width=7680, height=4320), CPU_LIMITS)
    assert caught.value.reason == "too_large"
    assert "7680 x 4320" in str(caught.value)


def test_no_frames_is_refused() -> None:
    with pytest.raises(ClipRejected) as caught:
        check(info(frames=0, fps=0.0), CPU_LIMITS)
    assert caught.value.reason == "no_frames"


def test_nonsense_limits_cannot_be_made() -> None:
    with pytest.raises(ValueError):
        ClipLimits(max_seconds=0, max_fps=12, max_frames=10, max_side=256)
    with pytest.raises(ValueError):
        ClipLimits(max_seconds=10, max_fps=12, max_frames=0, max_side=256)


def test_the_limits_module_needs_neither_pyav_nor_opencv_nor_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, engine.video.limits; print(sorted({'av', 'cv2', 'torch'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
