"""Preset paintings: the shipped manifest, `presets add`, `presets download`, the gallery."""

from __future__ import annotations

import http.server
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from bot.presets import PAGE_SIZE, STARTER_MANIFEST, PresetError, PresetLibrary, read_manifest
from bot.presets.commands import main as presets_main
from bot.presets.commands import wikimedia_rendition
from bot.presets.gallery import render_page
from tests.support.pictures import draw_image


def test_starter_manifest_is_public_domain_wikimedia() -> None:
    presets = read_manifest(STARTER_MANIFEST)
    assert 6 <= len(presets) <= 8
    for p in presets:
        assert p.url.startswith("https://upload.wikimedia.org/wikipedia/commons/")
        assert p.source.startswith("https://commons.wikimedia.org/wiki/File:")
        assert p.licence == "Public domain" and p.title and p.artist and p.year


def test_wikimedia_rendition_url() -> None:
    url = "https://upload.wikimedia.org/wikipedia/commons/f/f4/The_Scream.jpg"
    assert wikimedia_rendition(url) == (
        "https://upload.wikimedia.org/wikipedia/commons/thumb/f/f4/The_Scream.jpg/"
        "1280px-The_Scream.jpg"
    )
    assert wikimedia_rendition("http://127.0.0.1:1/x.jpg") == "http://127.0.0.1:1/x.jpg"


def test_add_from_a_local_image(tmp_path: Path) -> None:
    source = tmp_path / "wave.jpg"
    source.write_bytes(draw_image(320, 240, color=(30, 60, 200)))
    presets = tmp_path / "presets"
    code = presets_main(
        [
            "--dir",
            str(presets),
            "add",
            str(source),
            "--title",
            "Blue Wave",
            "--artist",
            "Test Painter",
            "--year",
            "2024",
            "--strength",
            "1.5",
        ]
    )
    assert code == 0
    library = PresetLibrary.load(presets)
    (preset,) = library.presets
    assert (preset.id, preset.strength) == ("blue-wave", 1.5)
    assert Image.open(library.thumb_path(preset)).size == (256, 192)


def test_add_refuses_what_is_not_a_picture(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "notes.txt"
    source.write_text("hello")
    code = presets_main(
        ["--dir", str(tmp_path / "p"), "add", str(source), "--title", "X", "--artist", "Y"]
    )
    assert code == 1 and "error:" in capsys.readouterr().err
    assert not (tmp_path / "p" / "manifest.json").exists()


class Pictures(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}  # noqa: RUF012 - set per test

    def do_GET(self) -> None:
        data = self.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def picture_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pictures)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_download_once_with_size_cap_and_decode_check(tmp_path: Path, picture_server: str) -> None:
    Pictures.files = {
        "/good.jpg": draw_image(320, 240, color=(30, 60, 200)),
        "/big.jpg": draw_image(1600, 1200, color=(30, 60, 200)) + b"\0" * 3_000_000,
        "/bad.jpg": b"<html>not found</html>",
    }
    manifest = tmp_path / "starter.json"
    entries = [
        {"id": name, "title": name.title(), "artist": "A", "url": f"{picture_server}/{name}.jpg"}
        for name in ("good", "big", "bad", "missing")
    ]
    manifest.write_text(json.dumps({"presets": entries}))
    presets = tmp_path / "presets"
    args = ["--dir", str(presets), "download", "--manifest", str(manifest), "--max-mb", "1"]
    assert presets_main(args) == 1  # three failed
    assert [p.id for p in PresetLibrary.load(presets).presets] == ["good"]
    Pictures.files = {}  # a second run fetches nothing that is installed
    assert presets_main(args) == 1
    assert [p.id for p in PresetLibrary.load(presets).presets] == ["good"]


def test_manifest_entries_are_validated(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(
        json.dumps({"presets": [{"id": "../x", "title": "t", "artist": "a"}]})
    )
    with pytest.raises(PresetError, match="preset id"):
        PresetLibrary.load(tmp_path)


def test_no_directory_is_an_empty_library(tmp_path: Path) -> None:
    assert len(PresetLibrary.load(tmp_path / "nothing")) == 0


def test_gallery_pages(tmp_path: Path) -> None:
    source = tmp_path / "p.jpg"
    for i in range(PAGE_SIZE + 2):
        source.write_bytes(draw_image(200 + 10 * i, 150, color=(20 * i, 50, 100)))
        presets_main(
            ["--dir", str(tmp_path), "add", str(source), "--title", f"P{i}", "--artist", "A"]
        )
    library = PresetLibrary.load(tmp_path)
    assert library.pages == 2 and len(library.page(1)) == 2 and library.page(5) == []
    first = Image.open(io.BytesIO(render_page(library, 0)))
    second = Image.open(io.BytesIO(render_page(library, 1)))
    assert first.width == 3 * second.width // 2 and first.height == 2 * second.height
