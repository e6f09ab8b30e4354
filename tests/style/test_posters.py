"""What a poster is in the job contract and in the presets: its size limit, the worker's
advertised largest side, and its schedule."""

from __future__ import annotations

import pytest

from engine import contract
from engine.contract import BadParams, PhotoParams, dump_params, load_params
from engine.style import quality
from engine.style.settings import StyleSettings


def test_a_poster_may_be_larger_than_a_photo_up_to_its_own_limit() -> None:
    assert PhotoParams(poster=True, size=8192).size == 8192
    with pytest.raises(BadParams, match="between 64 and 4096"):
        PhotoParams(size=8192)
    with pytest.raises(BadParams, match="between 64 and 8192"):
        PhotoParams(poster=True, size=8193)
    with pytest.raises(BadParams, match="poster must be true or false"):
        PhotoParams(poster="yes")  # type: ignore[arg-type]


def test_a_poster_is_stored_and_read_back_and_older_rows_are_photos() -> None:
    params = PhotoParams(poster=True, size=4096, seed=3)
    assert load_params(contract.JobKind.PHOTO, dump_params(params)) == params
    older = load_params(contract.JobKind.PHOTO, {"version": 1, "preset": "fast"})
    assert isinstance(older, PhotoParams) and older.poster is False


def test_the_largest_poster_follows_the_gpu_memory() -> None:
    assert contract.poster_side(8) is None
    assert contract.poster_side(24) == 4096
    assert contract.poster_side(79.9) == 4096
    assert contract.poster_side(80) == 8192
    assert contract.poster_side(141) == 8192


def test_a_worker_description_names_its_largest_poster() -> None:
    described = f"cuda:0 (NVIDIA H200, 139 GiB, {contract.poster_tag(8192)})"
    assert contract.poster_side_of(described) == 8192
    assert contract.poster_side_of("cpu") is None
    assert contract.poster_side_of("cuda:0 (NVIDIA T4, 15 GiB)") is None


def test_a_poster_schedule_adds_a_level_per_doubling_with_fewer_steps() -> None:
    balanced = quality.PRESETS["cuda"]["balanced"]  # 1024 px, (150, 60, 30)
    poster = quality.poster_schedule(balanced, 4096)
    assert poster.size == 4096
    assert poster.steps == (*balanced.steps, 15, 7)
    params = quality.transfer_params(PhotoParams(poster=True), device="cuda")
    assert params.size == contract.DEFAULT_POSTER_SIZE
    assert params.scales == len(params.steps) == 5
    # A photo's schedule is unchanged.
    photo = quality.transfer_params(PhotoParams(), device="cuda")
    assert (photo.size, photo.steps) == (balanced.size, balanced.steps)


def test_poster_settings_come_from_the_environment() -> None:
    settings = StyleSettings.from_env({"ENGINE_MAX_MEMORY": "20", "POSTER_MAX_SIDE": "6144"})
    assert (settings.max_memory_gib, settings.poster_max_side) == (20.0, 6144)
    default = StyleSettings.from_env({})
    assert (default.max_memory_gib, default.poster_max_side) == (None, None)
