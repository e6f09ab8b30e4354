"""Upload checking over hostile files, property-based (Hypothesis): whatever bytes someone
sends, ``check_upload`` either hands back a picture ready to store or refuses it with its own
``UploadRejected``, and never decodes more pixels than the limit allows.

The files start from real pictures of every kind people send (JPEG in RGB, CMYK and grey,
progressive, EXIF-rotated; PNG with alpha, palette, 16-bit; WebP, animated WebP and PNG, GIF,
BMP; formats we do not read; decompression bombs; nothing at all), then get mutated:
truncated, bit-flipped, overwritten, their claimed size rewritten (with the checksums that
make a reader believe it), their magic swapped, glued to other files (polyglots). Every
decode is recorded (``ImageFile.load``, where each of Pillow's readers turns bytes into
pixels) with the size it decodes at.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from bot.uploads import UploadRejected, check_upload
from engine.images import pixel_limit
from tests.support.pictures import encoded, png_16_bit_rgb, png_bomb, png_header_only

CAP = 120_000  # pixels: small, so that claimed sizes on either side of it are easy to reach
SIDE = 96  # the longest side stored: the larger seeds are scaled down
REASONS = {"not_image", "damaged", "too_many_pixels", "bad_shape"}


def _noise(width: int, height: int, mode: str = "RGB", seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    rgb = Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8), "RGB")
    return rgb.convert(mode)


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def _seeds() -> list[bytes]:
    rgb = _noise(160, 120)
    frames = [_noise(48, 40, seed=i) for i in range(3)]
    rgba = _noise(64, 48, "RGBA")
    palette = _noise(50, 50).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    palette.info["transparency"] = 3
    grey16 = Image.fromarray(np.full((40, 40), 40000, dtype=np.uint16))
    seeds = [
        b"",
        b"hello, not a picture",
        encoded(rgb, "JPEG", quality=80),
        encoded(rgb, "JPEG", quality=80, progressive=True),
        encoded(_noise(64, 48, "CMYK"), "JPEG"),
        encoded(_noise(64, 48, "L"), "JPEG"),
        *(encoded(_noise(60, 40), "JPEG", exif=_exif(o)) for o in (3, 6, 8)),
        encoded(rgba, "PNG"),
        encoded(palette, "PNG"),
        encoded(_noise(40, 30, "LA"), "PNG"),
        encoded(grey16, "PNG"),
        png_16_bit_rgb((65535, 1000, 0)),
        encoded(frames[0], "PNG", save_all=True, append_images=frames[1:]),  # APNG
        encoded(rgb, "WEBP", quality=70),
        encoded(rgba, "WEBP", lossless=True),
        encoded(frames[0], "WEBP", save_all=True, append_images=frames[1:]),
        encoded(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        encoded(_noise(70, 50), "BMP"),
        encoded(_noise(40, 40), "TIFF"),  # Pillow reads it; we do not
        encoded(_noise(32, 32), "ICO"),
        png_header_only(50_000, 50_000),
        png_bomb(20_000, 20_000),
        png_bomb(400, 300),  # within the limit, but the data stops early
    ]
    return seeds


SEEDS = _seeds()


def _png_claim(data: bytearray, width: int, height: int) -> None:
    if data[12:16] == b"IHDR" and len(data) >= 33:
        data[16:24] = struct.pack(">II", width, height)
        data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))


def _jpeg_claim(data: bytearray, width: int, height: int) -> None:
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = data.find(marker)
        if at >= 0 and at + 9 <= len(data):
            data[at + 5 : at + 9] = struct.pack(">HH", height & 0xFFFF, width & 0xFFFF)


def _claim(data: bytearray, width: int, height: int) -> None:
    """Rewrite the size the file says it has, where its format keeps one."""
    if data.startswith(b"\x89PNG"):
        _png_claim(data, width, height)
    elif data.startswith(b"\xff\xd8"):
        _jpeg_claim(data, width, height)
    elif data.startswith(b"GIF") and len(data) >= 10:
        data[6:10] = struct.pack("<HH", width & 0xFFFF, height & 0xFFFF)
    elif data.startswith(b"BM") and len(data) >= 26:
        data[18:26] = struct.pack("<ii", width & 0x7FFFFFFF, height & 0x7FFFFFFF)
    elif data[8:16] == b"WEBPVP8X" and len(data) >= 30:
        data[24:30] = ((width - 1) & 0xFFFFFF).to_bytes(3, "little") + (
            (height - 1) & 0xFFFFFF
        ).to_bytes(3, "little")


MAGIC = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM", b"RIFF", b"II*\x00", b""]
TAILS = [b"PK\x03\x04" + b"\0" * 26, b"<html><script>alert(1)</script></html>", b"\0" * 64]


@st.composite
def hostile_files(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 3))):
        mutation = draw(
            st.sampled_from(["truncate", "flip", "overwrite", "claim", "magic", "glue", "tail"])
        )
        if mutation == "truncate" and data:
            del data[draw(st.integers(0, len(data) - 1)) :]
        elif mutation == "flip" and data:
            for _ in range(draw(st.integers(1, 8))):
                at = draw(st.integers(0, len(data) - 1))
                data[at] ^= 1 << draw(st.integers(0, 7))
        elif mutation == "overwrite" and data:
            at = draw(st.integers(0, len(data) - 1))
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[at : at + len(chunk)] = chunk
        elif mutation == "claim":
            side = st.one_of(
                st.integers(1, 2000), st.sampled_from([0, 65535, 50_000, 2**24, 2**31 - 1])
            )
            _claim(data, draw(side), draw(side))
        elif mutation == "magic":
            magic = draw(st.sampled_from(MAGIC))
            data[: len(magic) or 4] = magic
        elif mutation == "glue":  # a polyglot: another file before or after this one
            other = draw(st.sampled_from(SEEDS))
            data = bytearray(other) + data if draw(st.booleans()) else data + bytearray(other)
        elif mutation == "tail":
            data += draw(st.sampled_from(TAILS))
    return bytes(data)


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, int]]]:
    """The size of every decode Pillow's readers make while the test runs."""
    sizes: list[tuple[int, int]] = []
    load = ImageFile.ImageFile.load

    def recorded(self: ImageFile.ImageFile) -> object:
        if self.tile:  # something left to decode (a second load() decodes nothing)
            sizes.append(self.size)
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recorded)
    yield sizes


def check(data: bytes, sizes: list[tuple[int, int]]) -> None:
    limit = pixel_limit(CAP)
    sizes.clear()
    try:
        upload = check_upload(data, max_pixels=CAP, max_side=SIDE)
    except UploadRejected as rejected:
        assert rejected.key in REASONS
    else:
        assert max(upload.width, upload.height) <= SIDE
        stored = Image.open(io.BytesIO(upload.data))
        assert (stored.format, stored.size) == ("JPEG", (upload.width, upload.height))
    over = [(w, h) for w, h in sizes if w * h > limit]
    assert not over, f"decoded {over}, more than {limit} pixels"


# Every property here: no time limit a loaded machine could miss, no example database left
# behind, and the fixture shared across examples on purpose (it records decodes).
FUZZING: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}


@settings(
    max_examples=300,
    **FUZZING,
)
@given(data=hostile_files())
def test_hostile_files_are_refused_with_a_reason_and_never_decoded_past_the_limit(
    data: bytes, decodes: list[tuple[int, int]]
) -> None:
    check(data, decodes)


@settings(
    max_examples=100,
    **FUZZING,
)
@given(data=hostile_files())
def test_pillows_own_guard_below_ours_holds_too(
    data: bytes, decodes: list[tuple[int, int]]
) -> None:
    # Pillow warns from MAX_IMAGE_PIXELS and refuses from twice that: with it below our own
    # limit, both its warning and its error are reached by ordinary claimed sizes.
    before = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = CAP // 4
    try:
        check(data, decodes)
    finally:
        Image.MAX_IMAGE_PIXELS = before


def test_every_seed_is_judged() -> None:
    """The seeds themselves: the good ones are taken, the others refused for their reason."""
    taken, refused = 0, set()
    for data in SEEDS:
        try:
            check_upload(data, max_pixels=CAP, max_side=SIDE)
            taken += 1
        except UploadRejected as rejected:
            refused.add(rejected.key)
    assert taken == len(SEEDS) - 7
    assert refused == {"not_image", "too_many_pixels", "damaged"}
