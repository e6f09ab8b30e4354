"""Fixtures for the video tests: the network (loaded once) and a small painting."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from PIL import Image

from tests.support.pictures import painting_like

pytest.importorskip("torch")
pytest.importorskip("av")
pytest.importorskip("cv2")

if TYPE_CHECKING:
    from engine.style.vgg import VGG19Features


@pytest.fixture(scope="session")
def vgg() -> VGG19Features:
    """The real VGG-19 on the CPU, loaded once for the whole run."""
    from engine.style.vgg import load_vgg19

    return load_vgg19("cpu")


@pytest.fixture
def painting() -> Image.Image:
    return painting_like(40, 40, seed=2)
