"""Fixtures for the engine tests: the network (loaded once) and small drawn pictures."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")


@pytest.fixture(scope="session")
def vgg():  # type: ignore[no-untyped-def]
    """The real VGG-19 on the CPU, loaded once for the whole run."""
    from engine.style.vgg import load_vgg19

    return load_vgg19("cpu")


def _drawn(width: int, height: int, seed: int, *, hue: int) -> Image.Image:
    """A photo-like picture: a smooth colour gradient, a few shapes and a little noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [
            128 + 100 * np.sin(x / width * 3.0 + hue),
            128 + 100 * np.cos(y / height * 2.0 + hue),
            128 + 80 * np.sin((x + y) / (width + height) * 4.0),
        ],
        axis=-1,
    )
    base += rng.normal(0, 12, base.shape)
    image = Image.fromarray(base.clip(0, 255).astype(np.uint8), "RGB")
    return image


def _painting(width: int, height: int, seed: int) -> Image.Image:
    """A painting-like texture: bold stripes in strong colours."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    stripes = (np.sin((x * 0.7 + y * 0.4) / 2.5) > 0).astype(np.float32)
    palette = rng.integers(0, 255, (2, 3)).astype(np.float32)
    pixels = stripes[..., None] * palette[0] + (1 - stripes[..., None]) * palette[1]
    pixels += rng.normal(0, 20, pixels.shape)
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")


@pytest.fixture
def photo() -> Image.Image:
    return _drawn(48, 32, seed=1, hue=0)


@pytest.fixture
def painting() -> Image.Image:
    return _painting(40, 40, seed=2)


@pytest.fixture
def painting2() -> Image.Image:
    return _painting(40, 40, seed=3)


@pytest.fixture
def draw() -> Callable[..., Image.Image]:
    return _drawn
