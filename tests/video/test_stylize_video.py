"""A clip painted frame by frame: every frame comes back, a resumed run does not redo what was
done, a cancel stops it, and the painting follows the motion instead of flickering."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.style.evaluation import structure
from engine.style.transfer import Cancelled, TransferParams, stylize
from engine.style.vgg import VGG19Features
from engine.style.video import FrameProgress, later_schedule, stylize_video
from engine.video.clip import probe, read_clip, write_clip
from engine.video.flow import warping_error
from engine.video.limits import ClipLimits
from tests.video.clips import moving_square, write_test_clip

PARAMS = TransferParams(size=48, scales=1, steps=(3,), seed=0)
LIMITS = ClipLimits(max_seconds=10.0, max_fps=12.0, max_frames=120, max_side=256)


def test_a_clip_keeps_its_frames_rate_size_and_length_through_painting(
    vgg: VGG19Features, painting: Image.Image, tmp_path: Path
) -> None:
    source = write_test_clip(tmp_path / "in.mp4", moving_square(6, 48, 32), fps=6)
    clip = read_clip(source, limits=LIMITS)
    painted = stylize_video(vgg, clip.frames, [painting], PARAMS, later_steps=1)
    write_clip(painted, tmp_path / "out.mp4", fps=clip.fps)
    info = probe(tmp_path / "out.mp4")
    assert (info.frames, info.width, info.height) == (6, 48, 32)
    assert info.fps == pytest.approx(6.0)
    assert info.seconds == pytest.approx(1.0)
    # Painted: not the input frames.
    difference = np.abs(np.asarray(painted[3], float) - np.asarray(clip.frames[3], float))
    assert difference.mean() > 5


def test_frames_after_the_first_get_the_short_schedule(
    vgg: VGG19Features, painting: Image.Image
) -> None:
    seen: list[FrameProgress] = []
    stylize_video(
        vgg,
        moving_square(3),
        [painting],
        TransferParams(size=48, scales=2, steps=(2, 3), seed=0),
        later_steps=2,
        on_progress=seen.append,
    )
    steps_per_frame = {p.frame: p.steps for p in seen}
    assert steps_per_frame == {0: 5, 1: 2, 2: 2}
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert later_schedule(TransferParams(steps=(40, 10)), None).steps == (10,)


def test_done_frames_are_not_painted_again(vgg: VGG19Features, painting: Image.Image) -> None:
    frames = moving_square(4)
    first_run: dict[int, Image.Image] = {}
    stylize_video(
        vgg, frames[:2], [painting], PARAMS, later_steps=1, on_frame=first_run.__setitem__
    )
    painted_now: list[int] = []
    result = stylize_video(
        vgg,
        frames,
        [painting],
        PARAMS,
        later_steps=1,
        done=first_run,
        on_frame=lambda index, _: painted_now.append(index),
    )
    assert painted_now == [2, 3]
    assert len(result) == 4
    assert all(result[i].tobytes() == first_run[i].tobytes() for i in (0, 1))


def test_a_cancel_from_the_progress_callback_stops_between_frames(
    vgg: VGG19Features, painting: Image.Image
) -> None:
    finished: list[int] = []

    def progress(report: FrameProgress) -> None:
        if report.frame == 1:
            raise Cancelled("asked to stop")

    with pytest.raises(Cancelled):
        stylize_video(
            vgg,
            moving_square(4),
            [painting],
            PARAMS,
            later_steps=1,
            on_frame=lambda index, _: finished.append(index),
            on_progress=progress,
        )
    assert finished == [0]


@pytest.mark.slow
def test_the_painting_follows_the_motion_instead_of_flickering(
    vgg: VGG19Features, painting: Image.Image
) -> None:
    frames = moving_square(5, 64, 48, step=2)
    params = TransferParams(size=64, scales=1, steps=(20,), seed=0, init_noise=0.1)
    ours = stylize_video(vgg, frames, [painting], params, later_steps=6)
    # Each frame on its own, each its own seed: what a bot that paints frames one by one does.
    alone = [
        stylize(frame, [painting], model=vgg, params=TransferParams(**{**vars(params), "seed": i}))
        for i, frame in enumerate(frames)
    ]
    assert warping_error(frames, ours) < warping_error(frames, alone) / 2


def _town(width: int = 200, height: int = 150) -> np.ndarray:
    """Drawn houses: outlined blocks of colour, edges everywhere for the structure figure."""
    from PIL import ImageDraw

    rng = np.random.default_rng(0)
    picture = Image.new("RGB", (width, height), (90, 110, 140))
    draw = ImageDraw.Draw(picture)
    for _ in range(40):
        x, y = (int(v) for v in rng.integers(0, [width, height]))
        w, h = (int(v) for v in rng.integers(6, 24, 2))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        draw.rectangle((x, y, x + w, y + h), fill=colour, outline=(20, 20, 20))
    return np.asarray(picture)


def _pan_and_zoom(count: int, width: int = 80, height: int = 60) -> list[Image.Image]:
    """The camera pans across the town and zooms in a little, as a phone clip does."""
    import cv2

    town = _town()
    frames = []
    for i in range(count):
        scale, x, y = 1 + 0.15 * i / count, 60 + 3 * i, 70
        matrix = np.array(
            [[scale, 0, width / 2 - scale * x], [0, scale, height / 2 - scale * y]], np.float32
        )
        frames.append(Image.fromarray(cv2.warpAffine(town, matrix, (width, height))))
    return frames


@pytest.mark.slow
def test_later_frames_keep_the_pictures_edges_as_the_first_does(
    vgg: VGG19Features, painting: Image.Image
) -> None:
    """Each frame starts from the last one warped: without the frame itself in that start, the
    flow's small errors add up and the edges blur away frame after frame."""
    frames = _pan_and_zoom(10)
    params = TransferParams(size=80, scales=1, steps=(6,), seed=0, strength=0.5)
    painted = stylize_video(vgg, frames, [painting], params, later_steps=3)
    edges = [structure(out, frame) for out, frame in zip(painted, frames, strict=True)]
    # From the warp alone: 0.66 at the first frame, falling to 0.43 by the tenth; with the
    # frame itself in each start, no lower than the first.
    assert min(edges[-3:]) > 0.8 * edges[0], edges


def test_keep_colors_keeps_every_frames_colours(vgg: VGG19Features, painting: Image.Image) -> None:
    frames = moving_square(3)
    params = dataclasses.replace(PARAMS, keep_colors=True)
    painted = stylize_video(vgg, frames, [painting], params, later_steps=2, flow="farneback")
    for before, after in zip(frames, painted, strict=True):
        # Chroma (YCbCr's Cb and Cr) as the photo's: the painting's colours are not taken.
        ours = np.asarray(after.convert("YCbCr"), float)[..., 1:]
        theirs = np.asarray(before.convert("YCbCr"), float)[..., 1:]
        assert np.abs(ours - theirs).mean() < 3  # without keep_colors: about 30


def test_progress_of_a_resumed_run_starts_where_the_done_frames_end(
    vgg: VGG19Features, painting: Image.Image
) -> None:
    frames = moving_square(4)
    done = dict(enumerate(stylize_video(vgg, frames[:2], [painting], PARAMS, later_steps=1)))
    seen: list[FrameProgress] = []
    stylize_video(
        vgg, frames, [painting], PARAMS, later_steps=1, done=done, on_progress=seen.append
    )
    assert [p.frame for p in seen] == [2, 3]
    # Frame 0 (3 steps) and frame 1 (1 step) count as done: 4 + 1 of 6 after frame 2's step.
    assert seen[0].fraction == pytest.approx(5 / 6)
    assert seen[-1].fraction == pytest.approx(1.0)


def test_bad_arguments_are_refused(vgg: VGG19Features, painting: Image.Image) -> None:
    with pytest.raises(ValueError, match="at least one frame"):
        stylize_video(vgg, [], [painting], PARAMS)
    with pytest.raises(ValueError, match="flow"):
        stylize_video(vgg, moving_square(2), [painting], PARAMS, flow="deepflow")
    with pytest.raises(ValueError, match="later_steps"):
        stylize_video(vgg, moving_square(2), [painting], PARAMS, later_steps=0)
