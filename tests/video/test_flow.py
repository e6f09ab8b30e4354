"""Optical flow: it finds a known motion, warping by it lines frames up, and the mask leaves
out what the previous frame could not show."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.video.flow import METHODS, flow, reliable_mask, warp, warping_error
from tests.video.clips import gradient, square_at

SHIFT = (3, 2)  # (dx, dy): the content moves right 3 and down 2


def shifted_pair() -> tuple[np.ndarray, np.ndarray]:
    """Two views of one textured picture, the second with the content moved by SHIFT."""
    big = gradient(100, 80, seed=4)
    dx, dy = SHIFT
    first = big[10:58, 10:74]
    second = big[10 - dy : 58 - dy, 10 - dx : 74 - dx]
    return np.ascontiguousarray(first), np.ascontiguousarray(second)


@pytest.mark.parametrize("method", METHODS)
def test_flow_recovers_a_known_shift(method: str) -> None:
    a, b = shifted_pair()
    field = flow(a, b, method)
    assert field.shape == (48, 64, 2) and field.dtype == np.float32
    inner = field[8:-8, 8:-8]
    error = np.linalg.norm(inner - np.array(SHIFT, np.float32), axis=2)
    assert float(error.mean()) < 0.25  # pixels: the end-point error


@pytest.mark.parametrize("method", METHODS)
def test_warping_the_later_frame_by_the_backward_flow_lines_it_up(method: str) -> None:
    a, b = shifted_pair()
    aligned = warp(b, flow(a, b, method))
    assert isinstance(aligned, np.ndarray)
    before = np.abs(a.astype(float) - b.astype(float))[8:-8, 8:-8].mean()
    after = np.abs(a.astype(float) - aligned.astype(float))[8:-8, 8:-8].mean()
    assert after < before / 4


def test_warp_keeps_a_picture_a_picture() -> None:
    a, _ = shifted_pair()
    picture = Image.fromarray(a)
    same = warp(picture, np.zeros((48, 64, 2), np.float32))
    assert isinstance(same, Image.Image)
    assert np.array_equal(np.asarray(same), a)


def test_identical_frames_are_reliable_everywhere() -> None:
    a, _ = shifted_pair()
    forward, backward = flow(a, a), flow(a, a)
    assert np.abs(forward).max() < 0.05
    assert reliable_mask(forward, backward).min() == 1.0


def test_the_mask_leaves_out_background_the_square_uncovered() -> None:
    background = gradient(64, 48, seed=1)
    x, y, side, move = 20, 18, 12, 6
    before = square_at(background, x, y, size=side)
    after = square_at(background, x + move, y, size=side)  # uncovers x .. x + move
    mask = reliable_mask(flow(before, after), flow(after, before))
    uncovered = mask[y : y + side, x : x + move]
    far = np.concatenate([mask[:10].ravel(), mask[-10:].ravel()])
    assert float(uncovered.mean()) < 0.5
    assert float(far.mean()) > 0.9


def test_an_unknown_method_or_mismatched_frames_are_refused() -> None:
    a, b = shifted_pair()
    with pytest.raises(ValueError, match="method"):
        flow(a, b, "deepflow")
    with pytest.raises(ValueError, match="differ in size"):
        flow(a, b[:-2])


def test_the_warping_error_is_zero_for_a_painting_that_moves_with_the_content() -> None:
    background = gradient(96, 64, seed=2)
    frames = [Image.fromarray(background[:, 3 * i : 3 * i + 64]) for i in range(4)]
    assert warping_error(frames, frames) < 1e-3  # the clip itself moves with itself
    flickering = [
        Image.fromarray(np.asarray(f) ^ (np.uint8(40) if i % 2 else np.uint8(0)))
        for i, f in enumerate(frames)
    ]
    assert warping_error(frames, flickering) > 10 * warping_error(frames, frames)
