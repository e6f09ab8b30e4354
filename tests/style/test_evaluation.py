"""The yardstick every output is measured with (engine/evaluation.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from engine.style import evaluation
from engine.style.vgg import VGG19Features


def test_a_picture_has_its_own_structure(face: Image.Image) -> None:
    assert evaluation.structure(face, face) == pytest.approx(1.0)
    # Brightness and contrast do not change where the edges are.
    brighter = Image.eval(face, lambda v: min(255, int(v * 0.8 + 30)))
    assert evaluation.structure(brighter, face) > 0.95


def test_structure_falls_as_the_edges_are_painted_over(face: Image.Image) -> None:
    rng = np.random.default_rng(0)
    strokes = Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8))
    strokes = strokes.filter(ImageFilter.GaussianBlur(1.5))
    light = Image.blend(face, strokes, 0.3)
    heavy = Image.blend(face, strokes, 0.8)
    figures = [evaluation.structure(p, face) for p in (face, light, heavy, strokes)]
    assert figures == sorted(figures, reverse=True), figures
    assert figures[-1] < 0.2  # unrelated strokes share no outlines with the face


def test_a_box_judges_the_region_alone(face: Image.Image) -> None:
    # Paint over the eyes only: the whole picture barely notices, the eye region does.
    damaged = face.copy()
    ImageDraw.Draw(damaged).rectangle((30, 30, 66, 46), fill=(230, 190, 160))
    eyes = (26, 26, 70, 50)
    whole = evaluation.structure(damaged, face)
    region = evaluation.structure(damaged, face, box=eyes)
    assert region < whole - 0.2, (region, whole)
    with pytest.raises(ValueError, match="smaller than 8x8"):
        evaluation.structure(face, face, box=(0, 0, 4, 40))


def test_structure_compares_at_the_outputs_size(face: Image.Image) -> None:
    large = face.resize((192, 192), Image.Resampling.LANCZOS)
    assert evaluation.structure(face, large) > 0.95


def test_distances_are_zero_for_the_inputs_themselves(
    vgg: VGG19Features, photo: Image.Image, painting: Image.Image
) -> None:
    assert evaluation.content_distance(vgg, photo, photo) == pytest.approx(0.0, abs=1e-6)
    square = painting.resize((40, 40))
    assert evaluation.style_distance(vgg, square, square) == pytest.approx(0.0, abs=1e-5)
    measured = evaluation.distances(vgg, photo, photo, painting)
    assert measured.content == pytest.approx(0.0, abs=1e-6)
    assert measured.structure == pytest.approx(1.0)
    assert measured.style > 0.1
