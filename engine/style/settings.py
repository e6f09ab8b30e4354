"""The style engine's own settings, read once from the environment: which device, which weights.

``python -m engine stylize`` and the worker (through ``engine.bridge``) read these; nothing
here knows about the database.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class StyleSettings:
    device: str = "auto"  # "auto" picks CUDA when present, else the CPU
    weights_path: Path | None = None  # optional full-precision VGG-19 weights (safetensors/.pt)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StyleSettings:
        env = os.environ if env is None else env
        weights = env.get("VGG_WEIGHTS")
        return cls(
            device=env.get("ENGINE_DEVICE") or "auto",
            weights_path=Path(weights) if weights else None,
        )
