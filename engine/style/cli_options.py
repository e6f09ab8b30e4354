"""What ``python -m engine stylize`` shares between a photo and a clip: its exit statuses, the
error for a person's mistake, and the options turned into the algorithm's parameters.

Its own module so that the photo command (engine/style/cli.py) and the clip command
(engine/style/video_cli.py) both import it rather than each other.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING

from engine.contract import PhotoParams
from engine.style.settings import StyleSettings

if TYPE_CHECKING:
    import torch

    from engine.style.transfer import TransferParams

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad input from the person at the keyboard; the message is one line."""


def device_and_params(
    args: argparse.Namespace, settings: StyleSettings
) -> tuple[torch.device, TransferParams]:
    """The device and the preset's parameters with the options given; UsageError if bad."""
    from engine.style.quality import transfer_params
    from engine.style.vgg import resolve_device

    try:
        device = resolve_device(args.device or settings.device)
        options = PhotoParams(
            preset=args.preset,
            size=args.size,
            strength=args.strength,
            style_scale=args.style_scale,
            keep_colors=args.keep_colors,
            seed=args.seed,
            steps=args.steps,
            poster=args.poster,
        )
        params = transfer_params(options, device=device)
    except (ValueError, RuntimeError) as e:
        raise UsageError(str(e)) from None
    if args.optimizer:
        params = dataclasses.replace(params, optimizer=args.optimizer)
    if args.fp32:
        params = dataclasses.replace(params, precision="fp32")
    return device, params
