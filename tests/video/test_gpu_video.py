"""A clip painted on a CUDA GPU: every frame comes back, and steadier than frame by frame.

``python -m pytest -m gpu`` on a machine with one; skipped elsewhere, never counted as passed.
"""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from engine.style.transfer import TransferParams, stylize
from engine.style.vgg import VGG19Features, load_vgg19
from engine.style.video import stylize_video
from engine.video.flow import warping_error
from tests.video.clips import moving_square

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


@pytest.fixture(scope="module")
def gpu_vgg() -> VGG19Features:
    return load_vgg19("cuda")


def test_a_clip_paints_on_the_gpu_steadier_than_frame_by_frame(
    gpu_vgg: VGG19Features, painting: Image.Image
) -> None:
    frames = moving_square(8, 96, 64, step=3)
    params = TransferParams(size=96, scales=2, steps=(30, 10), seed=0, init_noise=0.1)
    ours = stylize_video(gpu_vgg, frames, [painting], params)
    assert len(ours) == 8 and all(f.size == (96, 64) for f in ours)
    alone = [
        stylize(f, [painting], model=gpu_vgg, params=TransferParams(**{**vars(params), "seed": i}))
        for i, f in enumerate(frames)
    ]
    assert warping_error(frames, ours) < warping_error(frames, alone) / 2
