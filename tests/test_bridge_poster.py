"""engine/bridge.py and posters: a poster job painted in tiles by a real worker, the worker's
description naming its largest poster, and running out of memory handled by smaller tiles."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from engine.contract import FailureKind, PhotoParams, poster_side_of
from engine.jobs import blobs, models
from engine.jobs.worker import BadJob, Worker
from tests.support.jobs import Maker, job, submit, worker_settings
from tests.support.pictures import gradient_png

torch = pytest.importorskip("torch")

from engine import bridge  # noqa: E402  (after the skip: it imports torch)
from engine.style import quality, tiled  # noqa: E402


def paint_a_poster(
    maker: Maker, person: int, tmp_path: Path, runner: bridge.StyleRunner, *, size: int
) -> tuple[Image.Image, str]:
    """A poster job of a 80x64 photo, run by a real worker; the result and the worker's
    description as the registry holds it."""
    with maker.begin() as s:
        content = blobs.put_image(s, gradient_png(80, 64, 1), mime="image/png", width=80, height=64)
        style = blobs.put_image(s, gradient_png(64, 64, 2), mime="image/png", width=64, height=64)
    params = PhotoParams(poster=True, size=size, steps=4, seed=0, preset="fast")
    job_id = submit(maker, person, content, style=style, params=params)
    # As python -m engine work starts it: the runner describes its device to the registry.
    worker = Worker(
        maker, worker_settings(tmp_path), run_job=runner, worker_id="w1", device=runner.describe()
    )
    worker.run(once=True)
    done = job(maker, job_id)
    assert done.state == "done", done.error
    with maker() as s:
        assert done.result_sha is not None
        result = Image.open(io.BytesIO(blobs.get_image(s, done.result_sha)))
        registered = s.get(models.Worker, "w1")
        assert registered is not None
        return result, str(registered.device)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_worker_paints_a_poster_in_tiles_at_the_poster_size(
    maker: Maker, people: list[int], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="engine.style.tiled")
    # A budget that makes the 160x128 poster go in tiles (tiled.tiled_memory at 64 px).
    budget = tiled.tiled_memory((160, 128), 64, bf16=True) / 2**30
    runner = bridge.StyleRunner("cpu", max_memory_gib=budget, poster_max_side=2048)
    result, device = paint_a_poster(maker, people[0], tmp_path, runner, size=160)
    assert (result.format, result.size) == ("JPEG", (160, 128))  # the photo enlarged to it
    assert any("px tiles" in r.getMessage() for r in caplog.records), caplog.text
    assert poster_side_of(device) == 2048


def test_a_cpu_worker_offers_no_posters_unless_configured() -> None:
    assert bridge.StyleRunner("cpu").describe() == "cpu"
    described = bridge.StyleRunner("cpu", poster_max_side=1024).describe()
    assert described == "cpu (posters to 1024 px)"


def test_a_poster_larger_than_the_worker_paints_is_painted_at_its_largest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runner = object.__new__(bridge.StyleRunner)
    runner.device, runner.model = torch.device("cpu"), None  # type: ignore[assignment]
    runner.max_memory, runner.poster_side = None, 2048
    sizes: list[int] = []

    def fake_poster(content: Image.Image, styles: object, **kw: object) -> Image.Image:
        params = kw["params"]
        assert isinstance(params, quality.TransferParams)
        sizes.append(params.size)
        return content

    monkeypatch.setattr(tiled, "stylize_poster", fake_poster)
    params = quality.transfer_params(PhotoParams(poster=True, size=8192), device="cpu")
    content = Image.new("RGB", (60, 40))
    runner._poster(content, [content], params, [1.0], lambda p: True)
    assert sizes == [2048]


def test_out_of_gpu_memory_in_a_poster_shrinks_the_budget_then_gives_a_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runner = object.__new__(bridge.StyleRunner)
    runner.device, runner.model = torch.device("cpu"), None  # type: ignore[assignment]
    runner.max_memory, runner.poster_side = 10 * 2**30, None
    budgets: list[int] = []

    def fake_poster(content: Image.Image, styles: object, **kw: object) -> Image.Image:
        budget = kw["max_memory"]
        assert isinstance(budget, int)
        budgets.append(budget)
        if budget < 4 * 2**30:
            raise tiled.BudgetTooSmall("a 4096x4096 picture needs at least 4.0 GiB")
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(tiled, "stylize_poster", fake_poster)
    params = quality.transfer_params(PhotoParams(poster=True), device="cpu")
    content = Image.new("RGB", (60, 40))
    with pytest.raises(BadJob) as failed:
        runner._poster(content, [content], params, [1.0], lambda p: True)
    assert failed.value.kind is FailureKind.OUT_OF_MEMORY
    assert "needs at least" in str(failed.value)
    assert budgets == [10 * 2**30, 7 * 2**30, int(7 * 2**30 * 0.7), int(int(7 * 2**30 * 0.7) * 0.7)]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_gpu_worker_paints_a_poster_and_says_it_paints_them(
    maker: Maker, people: list[int], tmp_path: Path
) -> None:
    # The GPU's own memory decides the largest poster (contract.poster_side); a small budget
    # makes the 1024 px poster go in tiles even on a large GPU.
    runner = bridge.StyleRunner("cuda", max_memory_gib=1.0)
    result, device = paint_a_poster(maker, people[0], tmp_path, runner, size=1024)
    assert result.size == (1024, 819)
    assert device.startswith("cuda") and poster_side_of(device) in (4096, 8192)
    pixels = torch.tensor(list(result.convert("L").getdata()), dtype=torch.float32)
    assert float(pixels.std()) > 1  # a picture, not a flat colour


def test_a_long_gpu_name_is_shortened_to_fit_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = object.__new__(bridge.StyleRunner)
    runner.device, runner.memory_gib, runner.poster_side = torch.device("cuda:0"), 15.9, 4096
    monkeypatch.setattr(
        torch.cuda, "get_device_name", lambda device: "NVIDIA GeForce RTX 4090 Laptop GPU Max-Q"
    )
    described = runner.describe()
    assert len(described) <= bridge.DEVICE_COLUMN
    assert described.startswith("cuda:0 (NVIDIA GeForce")
    assert described.endswith(", 16 GiB, posters to 4096 px)")
    assert poster_side_of(described) == 4096
