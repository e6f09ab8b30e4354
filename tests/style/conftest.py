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


@pytest.fixture
def face() -> Image.Image:
    """A drawn face, 96x96: an oval, two eyes and a mouth on a soft background."""
    from PIL import ImageDraw

    image = Image.new("RGB", (96, 96), (200, 180, 160))
    draw = ImageDraw.Draw(image)
    draw.ellipse((20, 12, 76, 84), fill=(230, 190, 160), outline=(90, 60, 40))
    for x in (34, 54):
        draw.ellipse((x, 34, x + 8, 42), fill=(30, 30, 30))
    draw.arc((34, 52, 62, 70), 20, 160, fill=(120, 40, 40), width=3)
    return image
