"""The style engine's own settings, read once from the environment: which device, which weights.

``python -m engine stylize`` and the worker (through ``engine.bridge``) read these; nothing
here knows about the database.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from engine.env import read_int, read_number


@dataclass(frozen=True, kw_only=True)
class StyleSettings:
    device: str = "auto"  # "auto" picks CUDA when present, else the CPU
    weights_path: Path | None = None  # optional full-precision VGG-19 weights (safetensors/.pt)
    # What a poster (tiled) run may take, GiB; None: 90% of the GPU's free memory.
    max_memory_gib: float | None = None
    # The largest poster this engine paints; None: from its GPU's memory (contract.poster_side).
    poster_max_side: int | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StyleSettings:
        env = os.environ if env is None else env
        weights = env.get("VGG_WEIGHTS")
        max_memory = read_number(env, "ENGINE_MAX_MEMORY", 0.0, minimum=0.0)
        poster_side = read_int(env, "POSTER_MAX_SIDE", 0, minimum=0)
        return cls(
            device=env.get("ENGINE_DEVICE") or "auto",
            weights_path=Path(weights) if weights else None,
            max_memory_gib=max_memory or None,  # 0 or unset: the device's free memory
            poster_max_side=poster_side or None,  # 0 or unset: from the GPU's memory
        )
