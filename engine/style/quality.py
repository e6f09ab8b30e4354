"""Quality presets: what "fast", "balanced" and "high" mean on a CPU and on a GPU.

A 2-core CPU and an H100 differ by two orders of magnitude, so each preset has one schedule
per kind of device. The time each costs is measured in docs/BENCHMARKS.md. User options
(from the bot's job parameters or the command line) are validated here, with messages a
person can act on, and turned into :class:`~engine.style.transfer.TransferParams`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from engine.style.transfer import TransferParams
from engine.style.vgg import resolve_device

PRESET_NAMES = ("fast", "balanced", "high")

MIN_SIZE, MAX_SIZE = 64, 4096
STRENGTH_RANGE = (0.1, 10.0)
STYLE_SCALE_RANGE = (0.25, 4.0)
MAX_STEPS = 5000


@dataclass(frozen=True)
class Preset:
    size: int  # long side of the output
    steps: tuple[int, ...]  # per level, coarse first; the number of levels is len(steps)


PRESETS: dict[str, dict[str, Preset]] = {
    # Seconds to minutes on a small CPU: fewer pixels, most of the work at the coarse level.
    "cpu": {
        "fast": Preset(size=384, steps=(40, 10)),
        "balanced": Preset(size=512, steps=(60, 15)),
        "high": Preset(size=768, steps=(100, 40, 15)),
    },
    # A GPU affords more pixels and more steps in a few seconds.
    "cuda": {
        "fast": Preset(size=512, steps=(60, 20)),
        "balanced": Preset(size=1024, steps=(150, 60, 30)),
        "high": Preset(size=2048, steps=(200, 100, 50, 30)),
    },
}


def _in_range(name: str, value: float, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}, got {value:g}")
    return float(value)


def _whole(name: str, value: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return value


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


def params_from_options(
    *,
    preset: str = "balanced",
    device: str | torch.device,
    size: int | None = None,
    strength: float = 1.0,
    style_scale: float = 1.0,
    keep_colors: bool = False,
    seed: int | None = None,
    steps: int | None = None,
) -> TransferParams:
    """Turn user-facing options into :class:`TransferParams`; ValueError says what is wrong."""
    if preset not in PRESET_NAMES:
        raise ValueError(
            f"unknown quality preset {preset!r}: choose one of {', '.join(PRESET_NAMES)}"
        )
    # Only the kind of device matters here; whether it exists is load_vgg19's business.
    kind = (resolve_device(device) if device == "auto" else torch.device(device)).type
    kind = "cuda" if kind == "cuda" else "cpu"
    chosen = PRESETS[kind][preset]
    if size is not None:
        size = _whole("size", size, MIN_SIZE, MAX_SIZE)
    strength = _in_range("strength", strength, *STRENGTH_RANGE)
    style_scale = _in_range("style scale", style_scale, *STYLE_SCALE_RANGE)
    if not isinstance(keep_colors, bool):
        raise ValueError(f"keep_colors must be true or false, got {keep_colors!r}")
    if seed is not None:
        seed = _whole("seed", seed, 0, 2**63 - 1)
    schedule = chosen.steps
    if steps is not None:
        schedule = spread_steps(schedule, _whole("steps", steps, 1, MAX_STEPS))
    defaults = TransferParams()
    return dataclasses.replace(
        defaults,
        size=size or chosen.size,
        scales=len(schedule),
        steps=schedule,
        strength=strength,
        style_scale=style_scale,
        keep_colors=keep_colors,
        seed=seed,
    )
