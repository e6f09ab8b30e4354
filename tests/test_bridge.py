"""engine/bridge.py: a claimed job run on the style engine, as ``python -m engine work`` does.

The worker loop itself is tested with cheap stand-ins (tests/jobs/test_worker.py); here the
runner is the real one: the real engine on a tiny picture, its retry after the GPU runs out of
memory, and the stop reason carried through the style engine's callback.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import update

from engine.contract import PhotoParams
from engine.jobs import blobs
from engine.jobs.models import Image as Image_
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


class _WorkerDied(BaseException):
    """The worker process dies here: nothing after it is written, not even a failure."""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_video_job_resumes_after_its_worker_dies_and_comes_out_whole(
    maker: Maker, people: list[int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real engine on a tiny clip: the first worker dies after painting frames 0 and 1;
    the next one is handed them as done, paints only frames 2 to 4, and the clip has all 5."""
    import av

    from engine.contract import ANIMATION_MIME, VideoParams
    from engine.jobs import clip_frames
    from engine.jobs.models import utcnow
    from engine.style import video as style_video
    from tests.video.clips import moving_square, write_test_clip

    clip = write_test_clip(tmp_path / "square.mp4", moving_square(5, 48, 32), fps=10)
    with maker.begin() as s:
        content = blobs.put_image(s, clip.read_bytes(), mime="video/mp4", width=48, height=32)
        style = blobs.put_image(s, gradient_png(64, 64, 2), mime="image/png", width=64, height=64)
    params = VideoParams(preset="fast", steps=2, later_steps=1, seed=1)
    job_id = submit(maker, people[0], content, style=style, params=params)

    real = style_video.stylize_video
    runs: list[tuple[set[int], list[int]]] = []  # (frames handed over as done, frames painted)

    def watched(
        *args: object, done: dict[int, object], on_frame: Callable[..., None], **kw: object
    ) -> object:
        painted: list[int] = []
        runs.append((set(done), painted))

        def frame(index: int, picture: Image.Image) -> None:
            painted.append(index)
            on_frame(index, picture)
            if len(runs) == 1 and index == 1:  # the first worker dies once frame 1 is stored
                deadline = time.monotonic() + 10
                while _stored(maker, job_id) != {0, 1} and time.monotonic() < deadline:
                    time.sleep(0.02)
                raise _WorkerDied

        return real(*args, done=done, on_frame=frame, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(style_video, "stylize_video", watched)
    runner = bridge.StyleRunner("cpu")
    with pytest.raises(_WorkerDied):
        make_worker(maker, tmp_path, runner).run(once=True)
    assert job(maker, job_id).state == "running"  # as far as the queue knows
    with maker.begin() as s:  # ...until its lease passes
        s.execute(update(Job).where(Job.id == job_id).values(lease_expires_at=utcnow()))
    second = make_worker(maker, tmp_path, runner)
    second.worker_id = "w2"
    second.run(once=True)

    done = job(maker, job_id)
    assert done.state == "done", done.error
    assert runs == [(set(), [0, 1]), ({0, 1}, [2, 3, 4])]
    with maker() as s:
        assert done.result_sha is not None
        result = s.get(Image_, done.result_sha)
        assert result is not None and result.mime == ANIMATION_MIME  # no sound: an animation
        data = result.data
        assert clip_frames.count(s, job_id) == 0  # the clip is made: its frames are dropped
    with av.open(io.BytesIO(data), mode="r") as film:
        assert not film.streams.audio
        frames = [f.to_image() for f in film.decode(video=0)]
    assert len(frames) == 5 and frames[0].size == (48, 32)


def _stored(maker: Maker, job_id: int) -> set[int]:
    from engine.jobs import clip_frames

    with maker() as s:
        return set(clip_frames.finished(s, job_id))


@pytest.mark.slow
@pytest.mark.parametrize(("sound", "mime"), [(None, "video/mp4"), ("aac", "video/mp4; audio=1")])
def test_a_video_run_shows_the_frame_being_painted_and_reports_each_finished_frame(
    tmp_path: Path, sound: str | None, mime: str
) -> None:
    """The real engine on a 4-frame clip, reporting to a recording Progress: every step's
    report names its frame (step = frame number, total = frames) and carries a picture of it;
    each frame, once painted, is handed over once, in order; the clip's sound decides the mime."""
    from engine.contract import VideoParams
    from engine.jobs.clip_frames import Finished
    from tests.video.clips import moving_square, write_test_clip

    clip = write_test_clip(tmp_path / "c.mp4", moving_square(4, 48, 32), fps=8, audio_codec=sound)
    reports: list[tuple[int, int, tuple[int, int] | None]] = []
    finished: list[Finished] = []

    def progress(fraction: float, eta: float | None, /, **kw: object) -> StopReason | None:
        snapshot = kw.get("snapshot")
        size = None
        if callable(snapshot):
            picture = snapshot(24)
            size = (picture.width, picture.height)
        reports.append((int(kw.get("step", 0)), int(kw.get("total", 0)), size))  # type: ignore[call-overload]
        if isinstance(kw.get("finished"), Finished):
            finished.append(kw["finished"])  # type: ignore[arg-type]
        return None

    inputs = JobInput(
        job_id=1,
        attempt=1,
        kind=VideoParams.KIND,
        params=VideoParams(preset="fast", steps=2, later_steps=1, seed=1),
        content=clip.read_bytes(),
        styles=((gradient_png(64, 64, 2), 1.0),),
    )
    result = bridge.StyleRunner("cpu")(inputs, progress)
    assert result.mime == mime and (result.width, result.height) == (48, 32)
    assert [f.index for f in finished] == [0, 1, 2, 3]
    assert all(Image.open(io.BytesIO(f.data)).size == (48, 32) for f in finished)
    assert {total for _, total, _ in reports} == {4}
    frames_shown = [step for step, _, size in reports if size is not None]
    assert sorted(set(frames_shown)) == [1, 2, 3, 4]  # each frame shown as it is painted
    assert all(size == (24, 16) for _, _, size in reports if size is not None)


def test_a_clip_that_cannot_be_read_fails_at_once_with_its_kind() -> None:
    from engine.contract import FailureKind, VideoParams

    inputs = JobInput(
        job_id=1,
        attempt=1,
        kind=VideoParams.KIND,
        params=VideoParams(preset="fast"),
        content=b"not a video",
        styles=((gradient_png(64, 64, 2), 1.0),),
    )
    with pytest.raises(BadJob) as failed:
        _runner_without_a_model().video(inputs, lambda fraction, _, **__: None)
    assert failed.value.kind is FailureKind.BAD_CLIP
    assert "not a video" in str(failed.value)


def test_a_video_that_runs_out_of_gpu_memory_fails_at_once_with_its_kind(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from engine.contract import FailureKind, VideoParams
    from engine.style import video as style_video
    from tests.video.clips import moving_square, write_test_clip

    def out_of_memory(*args: object, **kw: object) -> object:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(style_video, "stylize_video", out_of_memory)
    clip = write_test_clip(tmp_path / "c.mp4", moving_square(3, 48, 32), fps=8)
    inputs = JobInput(
        job_id=1,
        attempt=1,
        kind=VideoParams.KIND,
        params=VideoParams(preset="fast"),
        content=clip.read_bytes(),
        styles=((gradient_png(64, 64, 2), 1.0),),
    )
    with pytest.raises(BadJob) as failed:
        _runner_without_a_model().video(inputs, lambda fraction, _, **__: None)
    assert failed.value.kind is FailureKind.OUT_OF_MEMORY
    assert "48 pixels" in str(failed.value)
