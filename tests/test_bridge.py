"""engine/bridge.py: a claimed job run on the style engine, as ``python -m engine work`` does.

The worker loop itself is tested with cheap stand-ins (tests/jobs/test_worker.py); here the
runner is the real one: the real engine on a tiny picture, its retry after the GPU runs out of
memory, and the stop reason carried through the style engine's callback.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import update

from engine.contract import PhotoParams
from engine.jobs import blobs
from engine.jobs.models import Job
from engine.jobs.queue import StopReason
from engine.jobs.worker import BadJob, JobInput, Stopped
from tests.support.jobs import Maker, job, make_worker, submit
from tests.support.pictures import draw_image, gradient_png

torch = pytest.importorskip("torch")

from engine import bridge  # noqa: E402  (after the skip: it imports torch)
from engine.style import quality, transfer  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_real_engine_paints_a_tiny_picture(
    maker: Maker, people: list[int], tmp_path: Path
) -> None:
    with maker.begin() as s:
        content = blobs.put_image(s, gradient_png(80, 64, 1), mime="image/png", width=80, height=64)
        style = blobs.put_image(s, gradient_png(64, 64, 2), mime="image/png", width=64, height=64)
        broken = blobs.put_image(s, b"not a picture", mime="image/jpeg", width=1, height=1)
    good = submit(maker, people[0], content, style=style)
    bad = submit(maker, people[1], broken, style=style)
    with maker.begin() as s:
        # The good job's parameters as the bot stored them before the job contract: a plain
        # dict with no version. The engine still reads them.
        old_row = {"preset": "fast", "size": 64, "steps": 2, "seed": 1}
        s.execute(update(Job).where(Job.id == good).values(params=old_row))

    make_worker(maker, tmp_path, bridge.StyleRunner("cpu")).run(max_jobs=2)
    done, failed = job(maker, good), job(maker, bad)
    assert done.state == "done", done.error
    with maker() as s:
        assert done.result_sha is not None
        result = Image.open(io.BytesIO(blobs.get_image(s, done.result_sha)))
    assert (result.format, result.size) == ("JPEG", (64, 51))
    assert failed.state == "failed" and failed.attempts == 1
    assert "not a picture" in (failed.error or "")
    assert failed.error_kind == "bad_picture"


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_real_engine_keeps_a_preview_and_the_time_lapse_frames(
    maker: Maker, people: list[int], tmp_path: Path
) -> None:
    from engine.jobs import outputs

    with maker.begin() as s:
        content = blobs.put_image(s, gradient_png(96, 64, 3), mime="image/png", width=96, height=64)
        style = blobs.put_image(s, gradient_png(64, 64, 4), mime="image/png", width=64, height=64)
    job_id = submit(
        maker, people[0], content, style=style, params=PhotoParams(size=96, steps=6, seed=2)
    )
    worker = make_worker(
        maker, tmp_path, bridge.StyleRunner("cpu"), preview_seconds=1e-9, output_budget=float("inf")
    )
    worker.run(once=True)
    assert job(maker, job_id).state == "done"
    with maker() as s:
        frames = [
            Image.open(io.BytesIO(data)).convert("RGB") for data in outputs.frames_of(s, job_id)
        ]
    assert len(frames) == 6  # a frame of every step of so short a run
    # Coarse to fine: the first level's frames are smaller, the last is the result's size.
    assert frames[-1].size == (96, 64) and frames[0].width < 96
    # A preview every step, but the lease's thread writes only the newest: one a newer one
    # replaced before it was written is never written (on a busy machine, a few of the six).
    assert worker.last_costs is not None and 1 <= worker.last_costs.previews <= 6
    assert frames[-2].resize((96, 64)).tobytes() != frames[-1].tobytes()  # it changes


def _runner_without_a_model() -> bridge.StyleRunner:
    runner = object.__new__(bridge.StyleRunner)  # the fake stylize never touches the model
    runner.device = torch.device("cpu")
    runner.model = None  # type: ignore[assignment]
    return runner


class _OutOfGpuMemoryAbove:
    """Stands in for ``transfer.stylize``: runs out of GPU memory above ``limit`` pixels."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sizes: list[int] = []

    def __call__(
        self, content: Image.Image, styles: object, *, params: transfer.TransferParams, **_: object
    ) -> Image.Image:
        size = params.size
        self.sizes.append(size)
        if size > self.limit:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory at {size} px")
        return content.resize((size, size * content.height // content.width))


@pytest.mark.parametrize(
    ("limit", "tried", "outcome"),
    [
        (300, [384, 268], "painted at 268 px"),
        (100, [384, 268, 187, 130], "ran out of memory even at 130 pixels"),
    ],
)
def test_running_out_of_gpu_memory_retries_smaller_then_gives_a_reason(
    monkeypatch: pytest.MonkeyPatch, limit: int, tried: list[int], outcome: str
) -> None:
    fake = _OutOfGpuMemoryAbove(limit)
    monkeypatch.setattr(transfer, "stylize", fake)
    runner = _runner_without_a_model()
    params = quality.params_from_options(preset="fast", device="cpu")  # 384 px on a CPU
    content = Image.new("RGB", (600, 400))
    try:
        picture = runner._stylize(content, [content], params, [1.0], lambda p: True)
        result = f"painted at {picture.width} px"
    except BadJob as e:
        result = str(e)
    assert fake.sizes == tried
    assert outcome in result


@pytest.mark.parametrize("reason", list(StopReason))
def test_the_stop_reason_comes_through_the_style_engine(
    monkeypatch: pytest.MonkeyPatch, reason: StopReason
) -> None:
    """The worker's answer to a progress report stops stylize, and the worker learns why."""
    steps: list[int] = []

    def stylize(
        content: Image.Image,
        styles: object,
        *,
        callback: Callable[[transfer.Progress], bool],
        **_: object,
    ) -> Image.Image:
        for step in range(1, 100):
            steps.append(step)
            progress = transfer.Progress(
                step=step, total=99, scale=1, scales=1, size=(8, 8), loss=1.0, elapsed=0, eta=1
            )
            if callback(progress) is False:
                raise transfer.Cancelled("asked to stop")
        return content

    monkeypatch.setattr(transfer, "stylize", stylize)
    picture = draw_image(48, 32)
    inputs = JobInput(
        job_id=1,
        attempt=1,
        kind=PhotoParams.KIND,
        params=PhotoParams(preset="fast"),
        content=picture,
        styles=((picture, 1.0),),
    )
    with pytest.raises(Stopped) as stopped:
        _runner_without_a_model()(
            inputs, lambda fraction, _, **__: reason if fraction >= 0.03 else None
        )
    assert stopped.value.reason is reason
    assert steps == [1, 2, 3]  # it stopped at the step whose report was answered (3/99)
