"""Size buckets map picture shapes as engine/style/buckets.py documents."""

from __future__ import annotations

import math

import pytest
from PIL import Image

from engine.style import buckets
from engine.style.transfer import TransferParams, scale_sizes, stylize
from engine.style.vgg import VGG19Features


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((512, 512), (512, 512)),  # square stays square
        ((512, 384), (512, 384)),  # 4:3 is a rung (1.1^3 = 1.331 -> 384.6 -> 384)
        ((384, 512), (384, 512)),  # portrait stays portrait
        # 3:2 (1.501) lies between 1.1^4 (1.464) and 1.1^5 (1.611), nearer 1.464 in log space:
        # 512 / 1.4641 = 349.7, to the nearest 16: 352.
        ((512, 341), (512, 352)),
        ((500, 375), (512, 384)),  # a smaller photo: long side to the nearest 32
        ((1024, 576), (1024, 576)),  # 16:9 -> 1.1^6 = 1.7716 -> 578 -> 576
        ((2048, 100), (2048, 96)),  # a panorama beyond the rungs keeps its ratio
    ],
)
def test_shapes_map_to_their_documented_buckets(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert buckets.bucket(size) == expected


def test_every_bucket_has_sides_on_the_grid_and_stretches_little() -> None:
    for long_side in (64, 128, 256, 384, 512, 1024, 2048):
        for short_side in range(16, long_side + 1, 7):
            for size in ((long_side, short_side), (short_side, long_side)):
                width, height = buckets.bucket(size)
                assert max(width, height) % buckets.LONG_STEP == 0
                assert min(width, height) % buckets.SHORT_STEP == 0
                assert (width >= height) == (size[0] >= size[1]) or width == height
                if long_side / short_side <= buckets.RATIOS[-1] and short_side >= 160:
                    # Half a rung (5%), plus rounding the short side to 16 px.
                    assert buckets.stretch(size) <= math.sqrt(1.1) * (1 + 8 / short_side)


def test_the_shapes_of_one_long_side_are_few() -> None:
    shapes = {buckets.bucket((1024, short)) for short in range(330, 1025)}
    shapes |= {buckets.bucket((short, 1024)) for short in range(330, 1025)}
    assert len(shapes) <= 2 * len(buckets.RATIOS) - 1


def test_ratios_are_long_over_short() -> None:
    with pytest.raises(ValueError, match=">= 1"):
        buckets.ratio_bucket(0.5)
    assert buckets.ratio_bucket(1.0) == 1.0
    assert buckets.ratio_bucket(10.0) is None


def test_a_bucketed_run_returns_the_photo_shape(
    vgg: VGG19Features, painting: Image.Image
) -> None:
    photo = Image.new("RGB", (70, 45), (120, 160, 200))
    params = TransferParams(size=70, scales=2, steps=(1, 1), seed=0, buckets=True)
    assert scale_sizes(photo.size, params)[-1] == (70, 45)
    assert stylize(photo, [painting], model=vgg, params=params).size == (70, 45)
