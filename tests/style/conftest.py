"""Fixtures for the engine tests: the network (loaded once) and small drawn pictures."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from PIL import Image

from tests.support.pictures import painting_like, photo_like

pytest.importorskip("torch")

if TYPE_CHECKING:
    from engine.style.vgg import VGG19Features


@pytest.fixture(scope="session")
def vgg() -> VGG19Features:
    """The real VGG-19 on the CPU, loaded once for the whole run."""
    from engine.style.vgg import load_vgg19

    return load_vgg19("cpu")


@pytest.fixture
def photo() -> Image.Image:
    return photo_like(48, 32, seed=1, hue=0)


@pytest.fixture
def painting() -> Image.Image:
    return painting_like(40, 40, seed=2)


@pytest.fixture
def painting2() -> Image.Image:
    return painting_like(40, 40, seed=3)


@pytest.fixture
def draw() -> Callable[..., Image.Image]:
    return photo_like
