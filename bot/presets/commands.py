"""``python -m bot presets download|add|list``: fill the presets directory.

``download`` fetches the starter set once (files already present are kept), each capped in
size, checked to decode, saved as JPEG, with a thumbnail. ``add`` installs one painting from a
local file. Neither needs a bot token or a database.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import replace
from pathlib import Path

from PIL import Image

from engine.images import ImageError, open_image

from . import MANIFEST, STARTER_MANIFEST, Preset, PresetError, read_manifest, write_manifest
from .gallery import make_thumbnail

logger = logging.getLogger(__name__)

MAX_DOWNLOAD_BYTES = 40 * 1024 * 1024
STYLE_MAX_SIDE = 1600  # a style image larger than this only costs memory
WIKIMEDIA_WIDTH = 1280  # the rendition fetched from Wikimedia Commons unless --original
USER_AGENT = "stylebot-presets/0.1 (https://github.com/; style transfer bot presets)"


def wikimedia_rendition(url: str, width: int = WIKIMEDIA_WIDTH) -> str:
    """Commons' scaled rendition of an original upload URL (other URLs are returned as is).

    .../wikipedia/commons/e/ea/Name.jpg -> .../wikipedia/commons/thumb/e/ea/Name.jpg/1280px-Name.jpg
    """
    match = re.match(r"^(https://upload\.wikimedia\.org/wikipedia/commons)/(\w/\w\w)/([^/]+)$", url)
    if not match:
        return url
    base, hashed, name = match.groups()
    return f"{base}/thumb/{hashed}/{name}/{width}px-{name}"


def fetch(url: str, *, max_bytes: int = MAX_DOWNLOAD_BYTES, timeout: float = 60) -> bytes:
    """Download at most ``max_bytes``; a larger answer is refused without reading it all."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        if length and int(length) > max_bytes:
            raise PresetError(f"{url}: {int(length) / 1e6:.0f} MB is over the cap")
        data: bytes = response.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise PresetError(f"{url}: over the {max_bytes / 1e6:.0f} MB cap")
    return data


def install(directory: Path, preset: Preset, data: bytes) -> Preset:
    """Check that the bytes decode, save the painting and its thumbnail; the updated entry."""
    try:
        image = open_image(data)
    except ImageError as e:
        raise PresetError(f"{preset.id}: {e}") from None
    image.thumbnail((STYLE_MAX_SIDE, STYLE_MAX_SIDE), Image.Resampling.LANCZOS)
    (directory / "thumbs").mkdir(parents=True, exist_ok=True)
    image_name, thumb_name = f"{preset.id}.jpg", f"thumbs/{preset.id}.jpg"
    _save_jpeg(image, directory / image_name)
    _save_jpeg(make_thumbnail(image), directory / thumb_name)
    return replace(preset, image=image_name, thumb=thumb_name)


def _save_jpeg(image: Image.Image, path: Path) -> None:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    temp = path.with_suffix(".tmp")
    temp.write_bytes(buffer.getvalue())
    temp.replace(path)


def _installed(directory: Path) -> list[Preset]:
    path = directory / MANIFEST
    return read_manifest(path) if path.exists() else []


def _merge(installed: list[Preset], preset: Preset) -> list[Preset]:
    others = [p for p in installed if p.id != preset.id]
    position = next((i for i, p in enumerate(installed) if p.id == preset.id), len(others))
    return [*others[:position], preset, *others[position:]]


def download(directory: Path, *, manifest: Path, original: bool, max_bytes: int) -> int:
    """Fetch every preset of ``manifest`` not yet installed; the number that failed."""
    installed = _installed(directory)
    failures = 0
    for preset in read_manifest(manifest):
        done = next((p for p in installed if p.id == preset.id), None)
        if done and done.image and (directory / done.image).is_file():
            print(f"  {preset.id}: already installed")
            continue
        url = preset.url if original else wikimedia_rendition(preset.url)
        try:
            if not url:
                raise PresetError(f"{preset.id}: no url in the manifest")
            entry = install(directory, preset, fetch(url, max_bytes=max_bytes))
        except (PresetError, OSError, urllib.error.URLError) as e:
            failures += 1
            print(f"  {preset.id}: FAILED: {e}", file=sys.stderr)
            continue
        installed = _merge(installed, entry)
        write_manifest(directory, installed)  # after each, so an interrupted run keeps its work
        print(f"  {preset.id}: {preset.label}")
    return failures


def add(directory: Path, image: Path, args: argparse.Namespace) -> None:
    preset_id = args.id or re.sub(r"[^a-z0-9]+", "-", args.title.lower()).strip("-")[:40]
    preset = Preset.from_json(
        {
            "id": preset_id or "preset",
            "title": args.title,
            "artist": args.artist,
            "year": args.year or "",
            "source": args.source or str(image.resolve()),
            "licence": args.licence,
            "strength": args.strength,
            "style_scale": args.style_scale,
        }
    )
    try:
        data = image.read_bytes()
    except OSError as e:
        raise PresetError(f"{image}: cannot read it ({e.strerror or e})") from None
    entry = install(directory, preset, data)
    write_manifest(directory, _merge(_installed(directory), entry))
    print(f"added {entry.id}: {entry.label} to {directory}")


def parser(prog: str) -> argparse.ArgumentParser:
    default_dir = os.environ.get("PRESETS_DIR") or str(
        Path(os.environ.get("DATA_DIR") or "data") / "presets"
    )
    p = argparse.ArgumentParser(prog=prog, description="Manage the preset paintings.")
    p.add_argument(
        "--dir",
        type=Path,
        default=Path(default_dir),
        help="the presets directory (default: PRESETS_DIR, or DATA_DIR/presets)",
    )
    commands = p.add_subparsers(dest="command", required=True)
    d = commands.add_parser("download", help="download the starter set (once)")
    d.add_argument("--dir", type=Path, default=argparse.SUPPRESS)
    d.add_argument(
        "--manifest",
        type=Path,
        default=STARTER_MANIFEST,
        help="which manifest to download (default: the shipped starter set)",
    )
    d.add_argument(
        "--original",
        action="store_true",
        help="fetch Wikimedia originals instead of 1280-pixel renditions",
    )
    d.add_argument(
        "--max-mb",
        type=float,
        default=MAX_DOWNLOAD_BYTES / 1024 / 1024,
        help="refuse any file larger than this (default: %(default)g)",
    )
    a = commands.add_parser("add", help="add a preset from a local image")
    a.add_argument("--dir", type=Path, default=argparse.SUPPRESS)
    a.add_argument("image", type=Path)
    a.add_argument("--title", required=True)
    a.add_argument("--artist", required=True)
    a.add_argument("--year")
    a.add_argument("--id", help="short name for buttons (default: from the title)")
    a.add_argument("--source", help="where the image comes from (default: the file's path)")
    a.add_argument("--licence", default="Public domain")
    a.add_argument("--strength", type=float, default=1.0)
    a.add_argument("--style-scale", type=float, default=1.0)
    ls = commands.add_parser("list", help="list installed presets")
    ls.add_argument("--dir", type=Path, default=argparse.SUPPRESS)
    return p


def main(argv: list[str], *, prog: str = "python -m bot presets") -> int:
    args = parser(prog).parse_args(argv)
    directory: Path = args.dir
    try:
        if args.command == "download":
            print(f"downloading presets into {directory}")
            failures = download(
                directory,
                manifest=args.manifest,
                original=args.original,
                max_bytes=int(args.max_mb * 1024 * 1024),
            )
            return 1 if failures else 0
        if args.command == "add":
            add(directory, args.image, args)
            return 0
        installed = _installed(directory)
        if not installed:
            print(f"no presets installed in {directory} (try: python -m bot presets download)")
        for preset in installed:
            print(f"{preset.id:<20} {preset.label}  [{preset.licence}] {preset.source}")
        return 0
    except PresetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
