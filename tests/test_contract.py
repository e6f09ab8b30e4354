"""The job contract (engine/contract.py): typed parameters stored with a version, every kind
with its parameters type, and rows written before there were versions still read."""

from __future__ import annotations

import dataclasses

import pytest

from engine.contract import (
    MAX_SIZE,
    PARAMETERS,
    STRENGTH_RANGE,
    BadParams,
    JobKind,
    PhotoParams,
    VideoParams,
    dump_params,
    load_params,
)


def test_every_kind_has_a_parameters_type_that_knows_its_kind() -> None:
    assert set(PARAMETERS) == set(JobKind)
    for kind, params_type in PARAMETERS.items():
        assert params_type.KIND is kind
        assert params_type.VERSION >= 1


def test_parameters_round_trip_through_their_stored_form_with_a_version() -> None:
    params = PhotoParams(preset="high", size=768, strength=2.5, keep_colors=True, seed=7)
    stored = dump_params(params)
    assert stored["version"] == PhotoParams.VERSION
    assert load_params(JobKind.PHOTO, stored) == params


def test_a_row_from_before_the_contract_still_loads() -> None:
    # What bot/store.py wrote into jobs.params before there were versions: a plain dict.
    old = {
        "preset": "balanced",
        "size": None,
        "strength": 1.6,
        "style_scale": 0.8,
        "keep_colors": False,
        "seed": None,
    }
    assert load_params(JobKind.PHOTO, old) == PhotoParams(strength=1.6, style_scale=0.8)
    assert load_params(JobKind.PHOTO, {"preset": "fast"}) == PhotoParams(preset="fast")
    assert load_params(JobKind.PHOTO, {}) == PhotoParams()
    assert isinstance(load_params(JobKind.PHOTO, {"strength": 2}).strength, float)


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        ({"version": PhotoParams.VERSION + 1}, "newer than this engine reads"),
        ({"version": "1"}, "malformed version"),
        ({"preset": "fast", "colour": "blue"}, "unknown option 'colour'"),
        ({"strength": 50}, "strength must be between 0.1 and 10"),
        ({"preset": None}, "unknown quality preset None"),
    ],
)
def test_parameters_this_code_cannot_read_say_why(stored: dict[str, object], message: str) -> None:
    with pytest.raises(BadParams, match=message):
        load_params(JobKind.PHOTO, stored)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"preset": "ultra"}, "unknown quality preset 'ultra'"),
        ({"size": MAX_SIZE + 1}, "size must be between"),
        ({"size": 512.5}, "size must be a whole number"),
        ({"strength": STRENGTH_RANGE[0] / 2}, "strength must be between"),
        ({"strength": float("inf")}, "strength must be a number"),
        ({"style_scale": 9}, "style scale must be between"),
        ({"keep_colors": 1}, "keep_colors must be true or false"),
        ({"seed": True}, "seed must be a whole number"),
        ({"steps": 0}, "steps must be between 1"),
    ],
)
def test_no_photo_parameters_outside_the_limits_exist(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(BadParams, match=message):
        PhotoParams(**options)  # type: ignore[arg-type]
    with pytest.raises(BadParams, match=message):  # nor made by changing a valid one
        dataclasses.replace(PhotoParams(), **options)  # type: ignore[arg-type]


def test_video_parameters_round_trip_and_paint_each_frame_as_a_photo() -> None:
    params = VideoParams(preset="fast", size=256, strength=2, seed=3, steps=20, later_steps=5)
    stored = dump_params(params)
    assert stored["version"] == VideoParams.VERSION and stored["later_steps"] == 5
    assert load_params(JobKind.VIDEO, stored) == params
    assert isinstance(params.strength, float)
    # The frames are painted with a photo's options (the first frame's steps among them).
    assert params.photo() == PhotoParams(preset="fast", size=256, strength=2.0, seed=3, steps=20)
    # And back: a person's photo options for a clip they sent (a poster's flag has no meaning
    # for a clip and is left out).
    options = PhotoParams(preset="fast", size=256, strength=2.0, seed=3, steps=20, poster=True)
    assert VideoParams.from_photo(options) == dataclasses.replace(params, later_steps=None)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"preset": "ultra"}, "unknown quality preset 'ultra'"),
        ({"strength": 50}, "strength must be between"),
        ({"later_steps": 0}, "later_steps must be between 1"),
        ({"later_steps": 2.5}, "later_steps must be a whole number"),
    ],
)
def test_no_video_parameters_outside_the_limits_exist(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(BadParams, match=message):
        VideoParams(**options)  # type: ignore[arg-type]
    with pytest.raises(BadParams, match=message):
        load_params(JobKind.VIDEO, {"version": 1, **options})
