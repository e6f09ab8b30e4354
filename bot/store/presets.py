"""The preset paintings in the database: each stored once and pinned, so that prune keeps it
for as long as the bot offers the preset (the bot keeps its hash in memory)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.orm import Session

from engine.jobs import blobs

PIN_PREFIX = "preset:"


def store_preset_image(s: Session, *, preset_id: str, data: bytes, width: int, height: int) -> str:
    """Store a preset's painting and pin it for that preset; its sha256."""
    sha = blobs.put_image(s, data, mime="image/jpeg", width=width, height=height)
    blobs.pin_image(s, sha, owner=PIN_PREFIX + preset_id)
    return sha


def keep_preset_pins(s: Session, *, preset_ids: Collection[str]) -> int:
    """At start-up: drop the pins of presets no longer installed; how many."""
    return blobs.keep_pins(s, prefix=PIN_PREFIX, owners={PIN_PREFIX + p for p in preset_ids})
