"""Tiles and batches on small pictures, on the CPU: what tiling costs in quality and time, and how
close a batched job comes to the same job alone.

    python -m bench.bench_tiles                 # a 256x192 picture in 96 px tiles, 3 jobs batched
    python -m bench.bench_tiles --size 384 --tile 128 --steps 12

Part one paints the same photo twice with the same seed and schedule (Adam, one level: the
optimiser tiled levels use), untiled and in tiles, and measures both with
engine/style/evaluation.py (style and content distance, and the content distance between the
two results), the seam figure (engine/style/tiles.py) at the tile borders of the unshifted grid
and of a few shifted ones, and the time. Part two runs three jobs as one batch and each alone
(engine/style/batch.py) and reports how many 0-255 levels their pictures differ by.

The pictures are drawn (tests/support/pictures.py, hence ``python -m``, which puts the root on
the path), so it runs anywhere; the numbers in docs/BENCHMARKS.md come from it. On a shared
machine, times vary with the load.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

import numpy as np
import torch
from PIL import Image

from engine.style import tiles
from engine.style.batch import BatchJob, stylize_batch
from engine.style.evaluation import as_tensor, content_distance, distances
from engine.style.tiled import default_overlap, stylize_tiled
from engine.style.transfer import TransferParams, stylize
from engine.style.vgg import load_vgg19
from tests.support.pictures import painting_like, photo_like


def levels(a: Image.Image, b: Image.Image | object) -> tuple[float, float, float]:
    """Largest, 99th-percentile and mean difference of two pictures, in 0-255 levels."""
    assert isinstance(b, Image.Image), b
    d = np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))
    return float(d.max()), float(np.percentile(d, 99)), float(d.mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=256, help="long side (4:3)")
    parser.add_argument("--tile", type=int, default=96)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    model = load_vgg19("cpu")
    width, height = args.size, args.size * 3 // 4
    photo = photo_like(width, height, seed=1, hue=0)
    painting = painting_like(128, 128, seed=2)
    params = TransferParams(
        size=args.size, scales=1, steps=(args.steps,), optimizer="adam", seed=args.seed
    )
    print(f"{os.cpu_count()} cores visible, torch {torch.__version__}, "
          f"load average {os.getloadavg()[0]:.1f}")

    started = time.perf_counter()
    whole = stylize(photo, [painting], model=model, params=params)
    whole_seconds = time.perf_counter() - started
    started = time.perf_counter()
    tiled = stylize_tiled(photo, [painting], model=model, params=params, tile=args.tile)
    tiled_seconds = time.perf_counter() - started
    overlap = default_overlap(args.tile)
    generator = torch.Generator().manual_seed(5)
    layouts = [tiles.layout(tiled.size, tile=args.tile, overlap=overlap)] + [
        tiles.layout(tiled.size, tile=args.tile, overlap=overlap, generator=generator)
        for _ in range(3)
    ]

    def seams(picture: Image.Image) -> float:
        figures = []
        for layout in layouts:
            columns, rows = tiles.borders(layout, picture.size)
            figures.append(tiles.seam_figure(as_tensor(picture), columns=columns, rows=rows))
        return max(figures)

    print(f"\n{width}x{height} in {args.tile} px tiles ({overlap} px overlap), "
          f"Adam, {args.steps} steps, seed {args.seed}\n")
    print("| run | time (s) | style dist. | content dist. | from the untiled result | "
          "seam figure (worst of 4 grids) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, picture, seconds in (("untiled", whole, whole_seconds),
                                   ("tiled", tiled, tiled_seconds)):
        measured = distances(model, picture, photo, painting)
        apart = content_distance(model, picture, whole)
        print(f"| {name} | {seconds:.1f} | {measured.style:.3f} | {measured.content:.3f} | "
              f"{apart:.3f} | {seams(picture):.2f} |")

    print(f"\nThree 64x48 jobs as one batch against each alone (0-255 levels; the worst job; "
          f"{torch.get_num_threads()} threads)\n")
    print("| precision | optimizer | largest difference | 99th percentile | mean difference |")
    print("|---|---|---:|---:|---:|")
    for precision, optimizer in (("bf16", "lbfgs"), ("fp32", "lbfgs"), ("bf16", "adam"),
                                 ("fp32", "adam")):
        base = TransferParams(size=64, scales=2, steps=(4, 3), precision=precision,
                              optimizer=optimizer)
        jobs = [
            BatchJob(content=photo_like(64, 48, seed=i, hue=60 * i),
                     styles=[painting_like(40, 40, seed=10 + i)],
                     params=dataclasses.replace(base, seed=i))
            for i in range(3)
        ]
        together = stylize_batch(jobs, model=model)
        apart_levels = [
            levels(stylize(j.content, j.styles, model=model, params=j.params), picture)
            for j, picture in zip(jobs, together, strict=True)
        ]
        largest = max(d for d, _, _ in apart_levels)
        p99 = max(p for _, p, _ in apart_levels)
        mean = max(m for _, _, m in apart_levels)
        print(f"| {precision} | {optimizer} | {largest:.0f} | {p99:.0f} | {mean:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
