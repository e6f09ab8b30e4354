"""The engine on a CUDA GPU: the same network as on the CPU, a real transfer, a real retry.

These need a GPU: ``python -m pytest -m gpu`` on a machine with one. CI has none and deselects
them (``-m "not gpu"``); elsewhere without a GPU they are skipped, never counted as passed.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator

import pytest
import torch
from PIL import Image

from engine.style.evaluation import as_tensor, style_distance
from engine.style.quality import params_from_options
from engine.style.transfer import CONTENT_LAYER, STYLE_LAYERS, TransferParams, stylize
from engine.style.vgg import VGG19Features, load_vgg19

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


@pytest.fixture(scope="module")
def gpu_vgg() -> VGG19Features:
    return load_vgg19("cuda")


def test_the_gpu_network_gives_the_cpu_features(
    vgg: VGG19Features, gpu_vgg: VGG19Features, draw: Callable[..., Image.Image]
) -> None:
    picture = as_tensor(draw(96, 64, seed=5, hue=1))
    layers = (*STYLE_LAYERS, CONTENT_LAYER)
    with torch.no_grad():
        on_cpu = vgg(picture, layers)
        on_gpu = gpu_vgg(picture.cuda().contiguous(memory_format=torch.channels_last), layers)
    for name in layers:
        # fp32 on both; cuDNN may use TF32 for convolutions, good to about 1e-3.
        difference = (on_gpu[name].float().cpu() - on_cpu[name]).norm() / on_cpu[name].norm()
        assert difference < 1e-2, (name, float(difference))


def test_a_transfer_on_the_gpu_takes_the_painting_style(
    gpu_vgg: VGG19Features, draw: Callable[..., Image.Image], painting: Image.Image
) -> None:
    photo = draw(192, 128, seed=1, hue=0)
    params = TransferParams(size=192, scales=2, steps=(30, 20), seed=0)
    result = stylize(photo, [painting], model=gpu_vgg, params=params)
    assert result.mode == "RGB" and result.size == photo.size
    before = style_distance(gpu_vgg, photo, painting)
    after = style_distance(gpu_vgg, result, painting)
    assert after < 0.5 * before, (before, after)


@pytest.fixture
def gpu_memory_limited_to() -> Iterator[Callable[[int], None]]:
    """Cap this process's GPU memory at a number of bytes; lifted after the test."""

    def limit(total: int) -> None:
        torch.cuda.empty_cache()
        capacity = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(total / capacity)

    yield limit
    torch.cuda.set_per_process_memory_fraction(1.0)
    torch.cuda.empty_cache()


def test_running_out_of_gpu_memory_really_retries_smaller(
    gpu_vgg: VGG19Features,
    draw: Callable[..., Image.Image],
    gpu_memory_limited_to: Callable[[int], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from engine.bridge import StyleRunner

    runner = object.__new__(StyleRunner)  # the worker's engine around the loaded network
    runner.device = torch.device("cuda")
    runner.model = gpu_vgg
    photo = draw(2048, 1536, seed=3, hue=0)
    painting = draw(512, 512, seed=4, hue=2)
    params = params_from_options(preset="fast", device="cuda", size=2048, steps=4, seed=0)
    params = dataclasses.replace(params, scales=1, steps=(4,))
    # The network's weights and 600 MiB more: a 2048 px picture needs several GiB, so the
    # first try runs out of memory for real; a few times smaller fits.
    gpu_memory_limited_to(torch.cuda.memory_allocated() + 600 * 2**20)
    with caplog.at_level(logging.WARNING, logger="engine.bridge"):
        picture = runner._stylize(photo, [painting], params, [1.0], lambda p: True)
    assert "out of GPU memory at 2048 px" in caplog.text
    assert 128 <= picture.width < 2048
    assert abs(picture.width / picture.height - 4 / 3) < 0.01  # smaller, same shape
