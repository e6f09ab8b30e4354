"""The preset gallery as one picture: numbered thumbnails on a grid, a page at a time."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from . import PAGE_SIZE, PresetLibrary

THUMB = 256  # thumbnails are at most this on their long side
COLUMNS = 3
CELL = THUMB + 16
BACKGROUND = (32, 32, 36)


def make_thumbnail(image: Image.Image) -> Image.Image:
    """A thumbnail of a preset painting, for the gallery."""
    thumb = image.convert("RGB")
    thumb.thumbnail((THUMB, THUMB), Image.Resampling.LANCZOS)
    return thumb


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size)
    except TypeError:  # very old Pillow
        return ImageFont.load_default()


def render_page(library: PresetLibrary, page: int) -> bytes:
    """A JPEG of one page of the gallery: thumbnails numbered in reading order, counting on
    from the pages before (page 2 starts at 7), as the buttons are."""
    presets = library.page(page)
    rows = max(1, -(-len(presets) // COLUMNS))
    columns = min(COLUMNS, max(1, len(presets)))
    sheet = Image.new("RGB", (columns * CELL, rows * CELL), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = _font(40)
    for index, preset in enumerate(presets):
        x, y = (index % COLUMNS) * CELL, (index // COLUMNS) * CELL
        thumb = _thumbnail(library.thumb_path(preset))
        thumb = ImageOps.pad(thumb, (THUMB, THUMB), color=BACKGROUND)
        sheet.paste(thumb, (x + 8, y + 8))
        number = str(page * PAGE_SIZE + index + 1)
        width = 56 + 22 * (len(number) - 1)
        draw.rounded_rectangle((x + 14, y + 14, x + 14 + width, y + 70), radius=10, fill=(0, 0, 0))
        draw.text(
            (x + 14 + width // 2, y + 42), number, font=font, fill=(255, 255, 255), anchor="mm"
        )
    buffer = io.BytesIO()
    sheet.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _thumbnail(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return make_thumbnail(image)
