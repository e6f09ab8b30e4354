"""Presets and user options: the right schedule per device, clear errors for bad values."""

from __future__ import annotations

import pytest

from engine.contract import PRESET_NAMES
from engine.style.quality import PRESETS, params_from_options, spread_steps


def test_every_preset_exists_for_cpu_and_cuda_and_costs_more_as_it_goes_up() -> None:
    for kind in ("cpu", "cuda"):
        costs = []
        for name in PRESET_NAMES:
            params = params_from_options(preset=name, device=kind)
            assert params.steps == PRESETS[kind][name].steps
            assert params.scales == len(params.steps)
            costs.append(params.size**2 * params.total_steps)
        assert costs == sorted(costs) and len(set(costs)) == 3


def test_a_gpu_gets_bigger_pictures_than_a_cpu() -> None:
    for name in PRESET_NAMES:
        cpu = params_from_options(preset=name, device="cpu")
        gpu = params_from_options(preset=name, device="cuda")
        assert gpu.size >= cpu.size and gpu != cpu


def test_options_reach_the_params() -> None:
    params = params_from_options(
        preset="fast",
        device="cpu",
        size=200,
        strength=2.5,
        style_scale=0.5,
        keep_colors=True,
        seed=42,
        steps=30,
    )
    assert (params.size, params.strength, params.style_scale) == (200, 2.5, 0.5)
    assert params.keep_colors and params.seed == 42 and params.total_steps == 30


def test_job_params_as_the_worker_passes_them() -> None:
    job = {
        "preset": "balanced",
        "size": None,
        "strength": 1.0,
        "style_scale": 1.0,
        "keep_colors": False,
        "seed": None,
    }
    assert params_from_options(**job, device="cpu") == params_from_options(device="cpu")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"preset": "ultra"}, "unknown quality preset 'ultra'"),
        ({"size": 10}, "size must be between 64 and 4096"),
        ({"size": 100000}, "size must be between"),
        ({"size": 512.5}, "size must be a whole number"),
        ({"strength": 0}, "strength must be between"),
        ({"strength": float("nan")}, "strength must be a number"),
        ({"strength": "strong"}, "strength must be a number"),
        ({"style_scale": 9}, "style scale must be between"),
        ({"keep_colors": "yes"}, "keep_colors must be true or false"),
        ({"seed": -1}, "seed must be between"),
        ({"seed": True}, "seed must be a whole number"),
        ({"steps": 0}, "steps must be between 1"),
    ],
)
def test_bad_options_are_refused_clearly(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        params_from_options(device="cpu", **options)


def test_steps_are_spread_over_levels_in_proportion() -> None:
    assert spread_steps((150, 40), 190) == (150, 40)
    assert spread_steps((150, 40), 95) == (75, 20)
    assert spread_steps((150, 100, 50), 3) == (1, 1, 1)
    assert spread_steps((150, 40), 1) == (0, 1)
    for total in range(3, 400):
        steps = spread_steps((150, 100, 50), total)
        assert sum(steps) == total and min(steps) >= 1
        for level, share in zip(steps, (150, 100, 50), strict=True):
            assert abs(level - share * total / 300) < 1.5
