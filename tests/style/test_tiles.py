"""Tile layouts and the memory estimate: every pixel covered, seams that move, smaller tiles
for a smaller budget."""

from __future__ import annotations

import itertools

import pytest
import torch

from engine.style import tiled, tiles


def coverage(layout: list[tiles.Tile], size: tuple[int, int]) -> torch.Tensor:
    width, height = size
    count = torch.zeros(height, width)
    for t in layout:
        count[t.rows, t.columns] += 1
    return count


@pytest.mark.parametrize("size", [(256, 256), (256, 192), (97, 300), (1000, 33), (96, 96)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_layout_covers_every_pixel_with_tiles_of_one_size(
    size: tuple[int, int], seed: int
) -> None:
    generator = torch.Generator().manual_seed(seed)
    layout = tiles.layout(size, tile=96, overlap=24, generator=generator)
    assert bool((coverage(layout, size) >= 1).all())
    assert {(t.width, t.height) for t in layout} == {(min(96, size[0]), min(96, size[1]))}
    for t in layout:
        assert t.left >= 0 and t.top >= 0
        assert t.left + t.width <= size[0] and t.top + t.height <= size[1]


def test_neighbouring_tiles_overlap_by_at_least_the_overlap() -> None:
    for shift in (0.0, 0.3, 0.99):
        starts = tiles.axis_starts(256, 96, 24, shift)
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert all(0 < gap <= 96 - 24 + 1 for gap in gaps), (shift, starts)


def test_the_tile_borders_move_from_step_to_step() -> None:
    generator = torch.Generator().manual_seed(0)
    size = (256, 256)
    seen = [tiles.borders(tiles.layout(size, tile=96, overlap=24, generator=generator), size)
            for _ in range(6)]
    columns = [tuple(c) for c, _ in seen]
    assert len(set(columns)) == len(columns)
    # Over a few steps the borders spread over the picture rather than sitting in one place.
    assert len({c for cs in columns for c in cs}) > 3 * len(columns[0])


def test_a_picture_within_one_tile_is_one_tile() -> None:
    assert tiles.layout((80, 60), tile=96, overlap=24) == [tiles.Tile(0, 0, 60, 80)]


def test_blend_weights_add_up_to_one_at_every_pixel() -> None:
    size = (200, 150)
    layout = tiles.layout(size, tile=64, overlap=16, generator=torch.Generator().manual_seed(3))
    shares = tiles.blend_weights(layout, size, ramp=16)
    total = torch.zeros(150, 200)
    for t, share in zip(layout, shares, strict=True):
        total[t.rows, t.columns] += share[0, 0]
    assert torch.allclose(total, torch.ones_like(total), atol=1e-5)


def test_uncovered_pixels_are_refused() -> None:
    with pytest.raises(ValueError, match="uncovered"):
        tiles.blend_weights([tiles.Tile(0, 0, 32, 32)], (64, 32), ramp=8)


def test_the_seam_figure_sees_a_step_along_a_border_and_none_elsewhere() -> None:
    generator = torch.Generator().manual_seed(0)
    smooth = torch.nn.functional.avg_pool2d(
        torch.rand(1, 3, 132, 132, generator=generator), 5, stride=1
    )
    assert tiles.seam_figure(smooth, columns=[64], rows=[64]) == pytest.approx(1.0, abs=0.3)
    seamed = smooth.clone()
    seamed[..., :, 64:] += 0.05  # a tile painted a little brighter than its neighbour
    assert tiles.seam_figure(seamed, columns=[64], rows=[64]) > 2.0


def test_a_smaller_budget_picks_smaller_tiles() -> None:
    size = (4096, 3072)
    chosen = {
        gib: tiled.choose_tile(size, budget=gib * 2**30, bf16=True) for gib in (2, 3, 12, 20)
    }
    assert chosen[2] < chosen[3] < chosen[12] < chosen[20] < 4096
    for gib, tile in chosen.items():
        assert tile % 32 == 0
        assert tiled.tiled_memory(size, tile, bf16=True) <= gib * 2**30
    # fp32 activations take twice the bytes: no larger a tile in the same budget.
    assert tiled.choose_tile(size, budget=3 * 2**30, bf16=False) < chosen[3]


def test_the_tile_chosen_is_the_least_work_of_those_that_fit() -> None:
    size, budget = (4096, 3072), 20 * 2**30
    tile = tiled.choose_tile(size, budget=budget, bf16=True)
    fitting = [t for t in range(32, 4096, 32) if tiled.tiled_memory(size, t, bf16=True) <= budget]
    assert tiled.step_work(size, tile) == min(tiled.step_work(size, t) for t in fitting)
    # Here less than the largest tile that fits would cost.
    assert tiled.step_work(size, tile) < tiled.step_work(size, max(fitting))


def test_a_picture_that_fits_is_not_tiled_and_a_hopeless_budget_says_so() -> None:
    assert tiled.choose_tile((512, 384), budget=8 * 2**30, bf16=True) == 512
    with pytest.raises(tiled.BudgetTooSmall, match="GiB"):
        tiled.choose_tile((8192, 8192), budget=2**30, bf16=True)
