"""Preset paintings: a directory the operator controls, described by a small manifest.

    PRESETS_DIR/manifest.json     {"presets": [{"id", "title", "artist", "year", "source",
                                   "licence", "image", "thumb", "strength", "style_scale"}, ...]}
    PRESETS_DIR/<id>.jpg          the painting, as the style image
    PRESETS_DIR/thumbs/<id>.jpg   a small picture for the gallery

``python -m bot presets download`` fills it from the starter manifest shipped beside this
module (``starter.json``); ``python -m bot presets add`` adds one from a local image. With no
manifest, the library is empty and the bot simply asks for a style photo.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.contract import STRENGTH_RANGE, STYLE_SCALE_RANGE

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
STARTER_MANIFEST = Path(__file__).with_name("starter.json")
PAGE_SIZE = 6  # thumbnails per gallery page: two rows of three
PRESET_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")  # fits callback_data with room to spare


class PresetError(ValueError):
    """A manifest entry or a preset image is unusable; the message says which and why."""


@dataclass(frozen=True, kw_only=True)
class Preset:
    """One painting, with where it came from and the parameters tuned for it."""

    id: str
    title: str
    artist: str
    year: str = ""
    source: str = ""  # the page it was taken from
    licence: str = "Public domain"
    url: str = ""  # where `presets download` fetches it
    image: str = ""  # file name inside the presets directory
    thumb: str = ""
    strength: float = 1.0  # multiplies the person's style strength
    style_scale: float = 1.0

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> Preset:
        try:
            preset = cls(
                id=str(entry["id"]),
                title=str(entry["title"]),
                artist=str(entry["artist"]),
                year=str(entry.get("year") or ""),
                source=str(entry.get("source") or ""),
                licence=str(entry.get("licence") or "Public domain"),
                url=str(entry.get("url") or ""),
                image=str(entry.get("image") or ""),
                thumb=str(entry.get("thumb") or ""),
                strength=float(entry.get("strength", cls.strength)),
                style_scale=float(entry.get("style_scale", cls.style_scale)),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise PresetError(
                f"manifest entry {entry.get('id', '?')!r}: bad or missing {e}"
            ) from None
        if not PRESET_ID.match(preset.id):
            raise PresetError(
                f"preset id {preset.id!r}: use 1-40 lower-case letters, digits, '-' or '_'"
            )
        if not STRENGTH_RANGE[0] <= preset.strength <= STRENGTH_RANGE[1]:
            raise PresetError(f"preset {preset.id}: strength must be within {STRENGTH_RANGE}")
        if not STYLE_SCALE_RANGE[0] <= preset.style_scale <= STYLE_SCALE_RANGE[1]:
            raise PresetError(f"preset {preset.id}: style_scale must be within {STYLE_SCALE_RANGE}")
        for name in (preset.image, preset.thumb):
            if name and (Path(name).is_absolute() or ".." in Path(name).parts):
                raise PresetError(f"preset {preset.id}: {name!r} must be inside the directory")
        return preset

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def label(self) -> str:
        year = f", {self.year}" if self.year else ""
        return f"{self.title} ({self.artist}{year})"


@dataclass
class PresetLibrary:
    """The installed presets, in manifest order; only those whose files exist are offered."""

    directory: Path
    presets: list[Preset] = field(default_factory=list)

    @classmethod
    def load(cls, directory: Path) -> PresetLibrary:
        """Read PRESETS_DIR/manifest.json; a missing directory is an empty library."""
        path = directory / MANIFEST
        if not path.exists():
            logger.info("no presets installed (%s not found)", path)
            return cls(directory)
        entries = read_manifest(path)
        usable = []
        for preset in entries:
            if (
                preset.image
                and preset.thumb
                and (directory / preset.image).is_file()
                and (directory / preset.thumb).is_file()
            ):
                usable.append(preset)
            else:
                logger.warning("preset %s: image or thumbnail missing, not offered", preset.id)
        logger.info("%d presets from %s", len(usable), directory)
        return cls(directory, usable)

    def __len__(self) -> int:
        return len(self.presets)

    def get(self, preset_id: str) -> Preset | None:
        return next((p for p in self.presets if p.id == preset_id), None)

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.presets) // PAGE_SIZE))

    def page(self, number: int) -> list[Preset]:
        """The presets on a page (0-based); an out-of-range page is empty."""
        return self.presets[number * PAGE_SIZE : (number + 1) * PAGE_SIZE]

    def image_path(self, preset: Preset) -> Path:
        return self.directory / preset.image

    def thumb_path(self, preset: Preset) -> Path:
        return self.directory / preset.thumb


def read_manifest(path: Path) -> list[Preset]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise PresetError(f"{path}: cannot read the manifest ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("presets"), list):
        raise PresetError(f'{path}: expected {{"presets": [...]}}')
    presets = [Preset.from_json(entry) for entry in data["presets"]]
    ids = [p.id for p in presets]
    if len(set(ids)) != len(ids):
        raise PresetError(f"{path}: preset ids must be unique")
    return presets


def write_manifest(directory: Path, presets: list[Preset]) -> None:
    """Write the manifest atomically (a temp file renamed over it)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / MANIFEST
    temp = path.with_suffix(".json.tmp")
    temp.write_text(
        json.dumps({"presets": [p.to_json() for p in presets]}, indent=2, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    temp.replace(path)
