"""Tiny synthetic clips for the video tests, written with PyAV into a test's tmp dir.

A square moving over a gradient: every frame differs, the motion is known exactly, and the
square covers and uncovers the background as it goes (an occlusion, for the flow's mask).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
from PIL import Image

SQUARE = 10  # pixels


def gradient(width: int, height: int, *, seed: int = 0) -> np.ndarray:
    """A colour gradient with a fine blotchy texture: optical flow needs texture to hold on to
    (on a smooth gradient any motion fits, and the flow smears)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    noise = np.random.default_rng(seed).random((height, width)).astype(np.float32)
    texture = cv2.GaussianBlur(noise, (0, 0), 1.5)
    texture = (texture - texture.mean()) / max(float(texture.std()), 1e-6)
    red = 40 + 120 * xs / max(1, width - 1) + 30 * texture
    green = 40 + 120 * ys / max(1, height - 1) + 30 * texture
    blue = 128 + 30 * texture
    return np.stack([red, green, blue], axis=2).clip(0, 255).astype(np.uint8)


def square_at(background: np.ndarray, x: int, y: int, *, size: int = SQUARE) -> Image.Image:
    """The background with a textured bright square whose top-left corner is (x, y)."""
    pixels = background.copy()
    ys, xs = np.mgrid[0:size, 0:size]
    texture = np.stack(
        [250 - 8 * (xs % 3), 230 - 10 * (ys % 2), 40 + 30 * ((xs + ys) % 2)], axis=2
    ).astype(np.uint8)
    height, width = pixels.shape[:2]
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(width, x + size), min(height, y + size)
    if x1 > x0 and y1 > y0:
        pixels[y0:y1, x0:x1] = texture[y0 - y : y1 - y, x0 - x : x1 - x]
    return Image.fromarray(pixels)


def moving_square(
    count: int = 12, width: int = 48, height: int = 32, *, step: int = 2
) -> list[Image.Image]:
    """``count`` frames of the square moving ``step`` pixels right each frame."""
    background = gradient(width, height)
    return [square_at(background, 4 + step * i, height // 2 - SQUARE // 2) for i in range(count)]


def write_test_clip(
    path: Path,
    frames: Sequence[Image.Image],
    *,
    fps: float = 12,
    durations: Sequence[float] | None = None,
    audio_codec: str | None = None,
    container: str | None = None,
    rotation: int = 0,
    video_codec: str = "libx264",
) -> Path:
    """Write ``frames`` to ``path`` (MP4, MOV or MKV by suffix; GIF through Pillow).

    ``durations`` (seconds per frame) makes a variable frame rate; ``audio_codec`` ("aac",
    "pcm_s16le", ...) adds a 440 Hz tone as long as the video; ``rotation`` (degrees
    counterclockwise) stores the frames as a phone does, on their side with a display matrix.
    """
    if path.suffix == ".gif":
        times = durations or [1 / fps] * len(frames)
        frames[0].save(
            path,
            save_all=True,
            append_images=list(frames[1:]),
            duration=[round(1000 * t) for t in times],
            loop=0,
        )
        return path
    times = list(durations) if durations is not None else [1 / fps] * len(frames)
    time_base = Fraction(1, 1000)
    with av.open(str(path), mode="w", format=container) as out:
        video: Any = out.add_stream(video_codec, rate=Fraction(fps).limit_denominator(1001))
        width, height = frames[0].size
        video.width, video.height = (height, width) if rotation % 180 else (width, height)
        video.pix_fmt = "yuv420p"
        video.time_base = time_base
        video.codec_context.time_base = time_base
        if video_codec == "libx264":
            video.options = {"crf": "18", "preset": "ultrafast", "bf": "0"}
        if rotation:
            video.set_display_rotation(rotation)
        audio: Any = None
        if audio_codec is not None:
            audio = out.add_stream(audio_codec, rate=16000)
            audio.layout = "mono"
        start = 0.0
        for picture, seconds in zip(frames, times, strict=True):
            stored = picture.convert("RGB").rotate(-rotation, expand=True)
            frame = av.VideoFrame.from_image(stored)
            frame.pts = round(start / time_base)
            frame.time_base = time_base
            for packet in video.encode(frame):
                out.mux(packet)
            start += seconds
        for packet in video.encode(None):
            out.mux(packet)
        if audio is not None:
            _tone(out, audio, seconds=start)
    return path


def _tone(out: Any, audio: Any, *, seconds: float) -> None:
    rate = 16000
    samples = np.sin(2 * math.pi * 440 * np.arange(round(seconds * rate)) / rate)
    pcm = (samples * 8000).astype(np.int16)
    chunk = 1024
    for begin in range(0, len(pcm), chunk):
        samples_now = pcm[None, begin : begin + chunk]
        frame = av.AudioFrame.from_ndarray(samples_now, format="s16", layout="mono")
        frame.sample_rate = rate
        frame.pts = begin
        frame.time_base = Fraction(1, rate)
        for packet in audio.encode(frame):
            out.mux(packet)
    for packet in audio.encode(None):
        out.mux(packet)
