"""Quality presets: what "fast", "balanced" and "high" mean on a CPU and on a GPU.

A 2-core CPU and an H100 differ by two orders of magnitude, so each preset has one schedule
per kind of device. The time each costs is measured in docs/BENCHMARKS.md. User options
(a job's PhotoParams, or the command line's) are turned into
:class:`~engine.style.transfer.TransferParams` here; their names, limits and checks are the
job contract's (engine/contract.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from engine.contract import DEFAULT_POSTER_SIZE, PhotoParams
from engine.style.transfer import TransferParams
from engine.style.vgg import resolve_device


@dataclass(frozen=True)
class Preset:
    size: int  # long side of the output
    steps: tuple[int, ...]  # per level, coarse first; the number of levels is len(steps)


PRESETS: dict[str, dict[str, Preset]] = {
    # Seconds to minutes on a small CPU: fewer pixels, most of the work at the coarse level.
    "cpu": {
        "fast": Preset(size=384, steps=(30, 4)),
        "balanced": Preset(size=512, steps=(40, 10)),
        "high": Preset(size=768, steps=(100, 40, 15)),
    },
    # A GPU affords more pixels and more steps in a few seconds.
    "cuda": {
        "fast": Preset(size=512, steps=(60, 20)),
        "balanced": Preset(size=1024, steps=(150, 60, 30)),
        "high": Preset(size=2048, steps=(200, 100, 50, 30)),
    },
}


def spread_steps(schedule: tuple[int, ...], total: int) -> tuple[int, ...]:
    """Scale a per-level schedule to ``total`` steps in proportion, at least one per level."""
    if total < len(schedule):
        # Too few steps to visit every level: spend them all on the finest.
        return (0,) * (len(schedule) - 1) + (total,)
    whole = sum(schedule)
    shares = [s * total / whole for s in schedule]
    steps = [max(1, int(share)) for share in shares]
    while sum(steps) > total:  # the minimum of one per level overshot; take from the largest
        steps[steps.index(max(steps))] -= 1
    # Largest remainders get the steps that rounding down left over.
    by_remainder = sorted(
        range(len(shares)), key=lambda i: shares[i] - int(shares[i]), reverse=True
    )
    for i in by_remainder[: total - sum(steps)]:
        steps[i] += 1
    return tuple(steps)


POSTER_MIN_STEPS = 5  # the fewest steps a poster's added level gets


def poster_schedule(preset: Preset, size: int) -> Preset:
    """A poster's schedule: the preset's levels, then one more level per doubling of the long
    side up to ``size``, each with half the steps of the level before (at least
    POSTER_MIN_STEPS). The preset's levels settle the painting; the added ones, tiled at
    poster sizes (engine/style/tiled.py), add detail to an already painted picture, where each
    step costs four times the one before."""
    steps = list(preset.steps)
    side = preset.size
    while side < size:
        side *= 2
        steps.append(max(POSTER_MIN_STEPS, steps[-1] // 2))
    return Preset(size=size, steps=tuple(steps))


def transfer_params(options: PhotoParams, *, device: str | torch.device) -> TransferParams:
    """Turn a job's options (already checked by PhotoParams) into :class:`TransferParams`."""
    # Only the kind of device matters here; whether it exists is load_vgg19's business.
    kind = (resolve_device(device) if device == "auto" else torch.device(device)).type
    kind = "cuda" if kind == "cuda" else "cpu"
    chosen = PRESETS[kind][options.preset]
    if options.poster:
        chosen = poster_schedule(chosen, options.size or DEFAULT_POSTER_SIZE)
    schedule = chosen.steps
    if options.steps is not None:
        schedule = spread_steps(schedule, options.steps)
    defaults = TransferParams()
    return dataclasses.replace(
        defaults,
        size=options.size or chosen.size,
        scales=len(schedule),
        steps=schedule,
        strength=options.strength,
        style_scale=options.style_scale,
        keep_colors=options.keep_colors,
        seed=options.seed,
    )


def params_from_options(*, device: str | torch.device, **options: Any) -> TransferParams:
    """The same from keyword options (the command line, benchmarks, tests): PhotoParams's
    names and defaults; engine.contract.BadParams (a ValueError) says what is wrong."""
    return transfer_params(PhotoParams(**options), device=device)
