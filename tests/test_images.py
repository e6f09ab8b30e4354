"""Every kind of picture people send comes out as upright RGB, or as one readable error."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from engine.images import ImageError, encode_image, open_image, save_image
from tests.support.pictures import encoded, png_16_bit_rgb, png_header_only


def _rgb(width: int = 40, height: int = 30) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8), "RGB")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "GIF"])
def test_common_formats_open_as_rgb(fmt: str) -> None:
    image = open_image(encoded(_rgb(), fmt))
    assert image.mode == "RGB" and image.size == (40, 30)


@pytest.mark.parametrize("fmt", ["TIFF", "PPM", "ICO", "TGA", "PCX"])
def test_other_formats_are_not_decoded(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pillow reads each of these; ours refuses them before that reader sees the bytes.
    data = encoded(_rgb(32, 32), fmt)
    assert Image.open(io.BytesIO(data)).format == fmt
    reader = Image.OPEN[fmt][0]
    assert isinstance(reader, type)
    tried: list[str] = []
    original = reader._open  # type: ignore[attr-defined]

    def recorded(self: Image.Image) -> None:
        tried.append(fmt)
        original(self)

    monkeypatch.setattr(reader, "_open", recorded)
    with pytest.raises(ImageError, match="not a picture") as caught:
        open_image(data)
    assert caught.value.kind == "not_image" and not tried


def test_lossless_formats_keep_the_pixels() -> None:
    original = _rgb()
    for fmt in ("PNG", "BMP", "WEBP"):
        options = {"lossless": True} if fmt == "WEBP" else {}
        assert np.array_equal(
            np.asarray(open_image(encoded(original, fmt, **options))), np.asarray(original)
        )


def test_animated_gif_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (32, 32), c) for c in [(255, 0, 0), (0, 0, 255)]]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    assert open_image(data).getpixel((5, 5)) == (255, 0, 0)


def test_greyscale_and_cmyk_become_rgb() -> None:
    grey = open_image(encoded(Image.new("L", (32, 32), 200), "PNG"))
    assert grey.mode == "RGB" and grey.getpixel((0, 0)) == (200, 200, 200)
    cmyk = open_image(encoded(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), "JPEG"))
    red, green, blue = cmyk.getpixel((4, 4))  # type: ignore[misc]
    assert cmyk.mode == "RGB" and red > 200 and green < 60 and blue < 60


def test_16_bit_greyscale_is_scaled_not_clipped() -> None:
    deep = Image.fromarray(np.full((32, 32), 32768, dtype=np.uint16))
    image = open_image(encoded(deep, "PNG"))
    assert image.mode == "RGB" and abs(image.getpixel((0, 0))[0] - 128) <= 1  # type: ignore[index]


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_transparency_is_composited_on_white(mode: str) -> None:
    rgba = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    rgba.paste((255, 0, 0, 255), (0, 0, 16, 32))
    source = rgba if mode == "RGBA" else rgba.convert(mode)
    image = open_image(encoded(source, "PNG"))
    assert image.getpixel((30, 5)) == (255, 255, 255)
    if mode != "LA":
        assert image.getpixel((2, 5)) == (255, 0, 0)


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to view"
    data = encoded(_rgb(40, 30), "JPEG", exif=exif.tobytes())
    assert open_image(data).size == (30, 40)


def test_files_and_paths_open(tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    _rgb().save(path)
    assert open_image(path).size == (40, 30)
    assert open_image(str(path)).size == (40, 30)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"hello, this is text and not a picture", "not a picture"),
        (encoded(_rgb(), "JPEG")[:200], "damaged"),
        (encoded(Image.new("RGB", (1, 1)), "PNG"), "too small"),
        (encoded(Image.new("RGB", (8, 30)), "PNG"), "too small"),
        (encoded(Image.new("RGB", (420, 20)), "PNG"), "aspect ratio"),
        (encoded(Image.new("RGB", (20, 420)), "PNG"), "aspect ratio"),
        (png_header_only(8000, 6000), "too many pixels"),  # 48 MP: over our 40 MP
        (png_header_only(100_000, 100_000), "too many pixels"),  # Pillow's own guard
    ],
)
def test_bad_bytes_raise_one_readable_line(data: bytes, message: str) -> None:
    with pytest.raises(ImageError, match=message) as caught:
        open_image(data)
    assert "\n" not in str(caught.value)


def test_missing_empty_and_directory_paths(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such file"):
        open_image(tmp_path / "nope.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        open_image(tmp_path / "empty.jpg")
    with pytest.raises(ImageError, match="directory"):
        open_image(tmp_path)


def test_too_many_pixels_by_our_limit() -> None:
    with pytest.raises(ImageError, match="too many pixels"):
        open_image(encoded(_rgb(100, 100), "PNG"), max_pixels=5000)


def test_decompression_bomb_guard_of_pillow(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pillow's own guard must also end in an ImageError, whether it warns or raises.
    for limit in (6000, 3000):  # 10000 px: a warning above 6000, an error above 2 x 3000
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
        with pytest.raises(ImageError, match="too many pixels"):
            open_image(encoded(_rgb(100, 100), "PNG"), max_pixels=10**9)


def test_save_writes_jpeg_or_png_by_extension_and_leaves_no_temp_files(tmp_path: Path) -> None:
    for name, magic in [
        ("out.jpg", b"\xff\xd8"),
        ("out.JPEG", b"\xff\xd8"),
        ("out.png", b"\x89PNG"),
    ]:
        save_image(_rgb(), tmp_path / name)
        assert (tmp_path / name).read_bytes().startswith(magic)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.JPEG", "out.jpg", "out.png"]


def test_16_bit_colour_keeps_its_colour() -> None:
    image = open_image(png_16_bit_rgb((65535, 32768, 0)))
    red, green, blue = image.getpixel((3, 3))  # type: ignore[misc]
    assert image.mode == "RGB" and red == 255 and abs(green - 128) <= 1 and blue == 0


def test_transparent_webp_is_composited_on_white() -> None:
    rgba = Image.new("RGBA", (32, 32), (0, 0, 255, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 16, 32))
    image = open_image(encoded(rgba, "WEBP", lossless=True))
    assert image.getpixel((2, 2)) == (0, 0, 255) and image.getpixel((30, 2)) == (255, 255, 255)


def test_a_failed_write_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.png"
    save_image(Image.new("RGB", (20, 20), "red"), target)
    before = target.read_bytes()

    def disk_full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(ImageError, match="No space left"):
        save_image(_rgb(), target)
    assert target.read_bytes() == before  # never half a file
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # the temporary file is gone


def test_save_refuses_unknown_extension_and_unwritable_places(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"\.jpg"):
        save_image(_rgb(), tmp_path / "out.gif")
    with pytest.raises(ImageError, match="cannot write"):
        save_image(_rgb(), tmp_path / "no" / "such" / "dir" / "out.jpg")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(ImageError, match="cannot write"):
            save_image(_rgb(), locked / "out.png")


def test_encode_image_round_trips() -> None:
    original = _rgb()
    assert np.array_equal(
        np.asarray(open_image(encode_image(original, format="PNG"))), np.asarray(original)
    )
    assert encode_image(original).startswith(b"\xff\xd8")
    with pytest.raises(ValueError, match="unsupported"):
        encode_image(original, format="GIF")


def test_a_large_jpeg_is_decoded_at_a_fraction_of_its_size(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[tuple[int, int]] = []
    load = ImageFile.ImageFile.load

    def recorded(self: ImageFile.ImageFile) -> object:
        if self.tile:
            decoded.append(self.size)
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recorded)
    big = _rgb(2000, 1000)
    image = open_image(encoded(big, "JPEG"), max_side=400)
    # 1/4 is the smallest fraction still at least 400 pixels long: 500 x 250, then scaled.
    assert decoded == [(500, 250)] and image.size == (400, 200)
    decoded.clear()
    image = open_image(encoded(big, "PNG"), max_side=400)  # PNG has no such shortcut
    assert decoded == [(2000, 1000)] and image.size == (400, 200)
    decoded.clear()
    small = open_image(encoded(_rgb(300, 200), "JPEG"), max_side=400)
    assert decoded == [(300, 200)] and small.size == (300, 200)  # never enlarged
