"""Benchmark the engine against pastiche, in one run, on the same weights and pictures.

    python bench/bench_engine.py                       # CPU, 512 px, all presets + studies
    python bench/bench_engine.py --no-pastiche --own-size --studies   # what each preset costs
    python bench/bench_engine.py --device cuda --sizes 512 1024 2048  # GPU, with peak memory
    python bench/bench_engine.py --device cuda --no-pastiche --own-size --studies --warm --repeat 2
                                                       # what a running worker spends per job
    python bench/bench_engine.py --device cuda         # + shapes, throughput, a 4096 px poster
    python bench/bench_engine.py --quick               # those three sections, tiny, on the CPU

With ``--device cuda`` three more sections follow the table (``--sections`` picks; a warmed-up
network, as in a running worker):

- *shapes*: every preset at its own size on a picture shape the worker has not met (new), on
  the same shape again (seen), and with size buckets on a new photo shape whose bucket it has
  met (engine/style/buckets.py);
- *throughput*: 1, 4, 8 and 16 jobs at 512 px (the fast preset), one after another and as one
  batch (engine/style/batch.py): results per second and each job's mean latency;
- *poster*: a 4096 px poster (the balanced preset's poster schedule), tiled within
  ``--max-memory`` GiB (default: the GPU's free memory): time, tile, estimated and peak memory.

``--quick`` runs those three at toy sizes (64 px, 1-4 jobs, a 192 px poster in 64 px tiles),
on the CPU too, to check the code in a minute; its numbers measure nothing.

For each size it runs pastiche (its own ``PasticheArtist``, 300 one-evaluation L-BFGS steps,
its defaults otherwise) and our presets, then measures every output the same way with
engine/style/evaluation.py: style distance (relative Gram distance to the painting,
relu1_1..relu5_1) and content distance (relative relu4_2 distance to the photo), in fp32 at the
output size.
Studies on the balanced preset compare bf16 with fp32, Adam with L-BFGS and torch.compile,
and on a GPU cuDNN's autotuning for each new picture shape with its heuristics.

With --own-size each preset runs at its own output size instead of --sizes (the cost of the
presets as the bot offers them). Times include loading the model, for both programs, unless
--warm: then the network is loaded once and one small picture is painted first, untimed, as in
a worker that has been running (cuDNN still meets each new picture shape for the first time;
--repeat 2 runs each again at the same shape to show what that first meeting costs). The load
average at the start of each run is reported, because the machine may be shared.

Writes bench/out/engine.md (the table), bench/out/side_by_side.jpg (photo | pastiche | ours
| painting) and every output picture to bench/out/ (git-ignored: generated pictures are never
committed).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import gc
import logging
import os
import platform
import re
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from engine.contract import PRESET_NAMES, PhotoParams
from engine.images import open_image, save_image
from engine.style import tiled
from engine.style.batch import BatchJob, stylize_batch
from engine.style.evaluation import distances
from engine.style.quality import params_from_options, transfer_params
from engine.style.transfer import TransferParams, scale_sizes, stylize, use_bf16
from engine.style.vgg import VGG19Features, load_vgg19, resolve_device

logger = logging.getLogger("bench_engine")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "images"
DEFAULT_CONTENT = SHARED / "content" / "tubingen.jpg"
DEFAULT_STYLE = SHARED / "styles" / "starry_night.jpg"
STUDIES = ("precision", "optimizer", "compile", "autotune")
NO_AUTOTUNE = "balanced, no cuDNN autotuning"  # the "autotune" study's run (GPU only)
SECTIONS = ("table", "shapes", "throughput", "poster")
THROUGHPUT_COUNTS = (1, 4, 8, 16)


@dataclass
class Row:
    size: int
    name: str
    detail: str
    seconds: float
    cpu_seconds: float = float("nan")  # process CPU time, all threads: less sensitive to sharing
    style: float = float("nan")
    content: float = float("nan")
    peak_mib: float | None = None
    output: Path | None = None
    load: float = float("nan")  # 1-minute load average when the run started
    error: str | None = None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(
    device: torch.device, run: Callable[[], Image.Image]
) -> tuple[Image.Image, float, float, float | None]:
    """The picture, wall seconds, CPU seconds of this process and peak GPU MiB (or None)."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    _sync(device)
    started, cpu_started = time.perf_counter(), time.process_time()
    image = run()
    _sync(device)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return image, seconds, cpu_seconds, peak


def run_pastiche(
    content: Path, style: Path, *, size: int, steps: int, device: torch.device
) -> Image.Image:
    """pastiche's own artist with its defaults, as ``python -m pastiche --size SIZE`` runs it."""
    from pastiche.pastiche import PasticheArtist
    from pastiche.pastiche import save_image as pastiche_save

    torch.manual_seed(0)
    if device.type == "cuda":  # PyTorch's default, as pastiche's own command leaves it
        torch.backends.cudnn.benchmark = False
    artist = PasticheArtist(str(content), [str(style)], device=str(device), size=size)
    for _ in range(steps):
        artist.draw()
    scratch = Path(os.environ.get("TMPDIR", "/tmp")) / f"pastiche_{os.getpid()}.png"
    pastiche_save(artist.pastiche, str(scratch))
    image = Image.open(scratch).convert("RGB")
    scratch.unlink()
    return image


def run_ours(
    content: Image.Image,
    style: Image.Image,
    *,
    params: TransferParams,
    device: torch.device,
    weights: Path | None,
    loaded: VGG19Features | None = None,
    autotune: bool = True,
) -> Image.Image:
    """Model loading included, as pastiche's time includes its own, unless ``loaded``.

    ``autotune`` False: cuDNN picks its algorithms by heuristics instead of timing them for
    each new input shape (``torch.backends.cudnn.benchmark``, which load_vgg19 turns on).
    """
    model = loaded if loaded is not None else load_vgg19(device, weights_path=weights)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = autotune
    return stylize(content, [style], model=model, params=params)


def warmed_up(device: torch.device, weights: Path | None) -> VGG19Features:
    """The network, loaded and run once on a small picture: a worker that has been running."""
    model = load_vgg19(device, weights_path=weights)
    small = Image.new("RGB", (96, 64), "gray")
    stylize(small, [small], model=model, params=TransferParams(size=96, steps=(2, 2), seed=0))
    _sync(device)
    return model


def side_by_side(pictures: list[tuple[str, Image.Image]], path: Path, height: int = 384) -> None:
    """Pictures in a row at one height, each labelled underneath."""
    scaled = [
        (label, im.resize((round(im.width * height / im.height), height))) for label, im in pictures
    ]
    gap, caption = 8, 28
    width = sum(im.width for _, im in scaled) + gap * (len(scaled) - 1)
    sheet = Image.new("RGB", (width, height + caption), "white")
    draw = ImageDraw.Draw(sheet)
    x = 0
    for label, im in scaled:
        sheet.paste(im, (x, 0))
        draw.text((x + 6, height + 8), label, fill="black")
        x += im.width + gap
    save_image(sheet, path)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    text = f"{cpu}, {os.cpu_count()} cores visible, torch {torch.__version__} "
    text += f"({torch.get_num_threads()} threads), Python {platform.python_version()}"
    if torch.cuda.is_available():
        text += f", GPU {torch.cuda.get_device_name()}"
    return text


def table(rows: list[Row], reference: dict[int, Row]) -> str:
    lines = [
        "| size | run | settings | time (s) | speed-up vs pastiche | CPU time (s) | "
        "speed-up in CPU time | style dist. | content dist. | peak GPU MiB | load avg. |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        if row.error is not None:
            lines.append(f"| {row.size} | {row.name} | {row.detail} | failed: {row.error} |")
            continue
        ref = reference.get(row.size)
        speedup = f"{ref.seconds / row.seconds:.1f}x" if ref else "n/a"
        cpu_speedup = f"{ref.cpu_seconds / row.cpu_seconds:.1f}x" if ref else "n/a"
        peak = f"{row.peak_mib:.0f}" if row.peak_mib is not None else "-"
        lines.append(
            f"| {row.size} | {row.name} | {row.detail} | {row.seconds:.1f} | {speedup} | "
            f"{row.cpu_seconds:.1f} | {cpu_speedup} | {row.style:.4f} | {row.content:.4f} | "
            f"{peak} | {row.load:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--content", type=Path, default=DEFAULT_CONTENT)
    parser.add_argument("--style", type=Path, default=DEFAULT_STYLE)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[512])
    parser.add_argument("--presets", nargs="*", default=list(PRESET_NAMES), choices=PRESET_NAMES)
    parser.add_argument("--studies", nargs="*", default=list(STUDIES), choices=STUDIES)
    parser.add_argument("--pastiche-steps", type=int, default=300)
    parser.add_argument("--no-pastiche", action="store_true", help="skip the reference run")
    parser.add_argument(
        "--own-size",
        action="store_true",
        help="run each preset at its own output size (its cost as offered), not at --sizes",
    )
    parser.add_argument("--weights", type=Path, help="full-precision VGG-19 weights for ours")
    parser.add_argument(
        "--warm",
        action="store_true",
        help="time ours without loading the network (loaded and warmed up once, untimed)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="run each of ours this many times (rows #2, ...)"
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out")
    parser.add_argument(
        "--sections",
        nargs="+",
        choices=SECTIONS,
        help="what to run (default: table; on cuda all; with --quick all but the table)",
    )
    parser.add_argument("--quick", action="store_true", help="toy sizes, to check the code")
    parser.add_argument(
        "--max-memory", type=float, metavar="GIB", help="the poster's budget (default: free)"
    )
    parser.add_argument("--poster-size", type=int, default=4096, help="the poster's long side")
    parser.add_argument(
        "--throughput-size", type=int, default=512, help="the throughput section's long side"
    )
    parser.add_argument(
        "--counts", type=int, nargs="+", default=list(THROUGHPUT_COUNTS),
        help="jobs at once in the throughput section",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    device = resolve_device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    content_image = open_image(args.content)
    style_image = open_image(args.style)
    evaluator = load_vgg19(device)  # fp32, no autocast: the same yardstick for every output
    sections = args.sections
    if sections is None:
        if args.quick:
            sections = ["shapes", "throughput", "poster"]
        elif device.type == "cuda":
            sections = list(SECTIONS)
        else:
            sections = ["table"]
    if "table" in sections:
        run_table(args, device, content_image, style_image, evaluator)
    extra = [name for name in sections if name != "table"]
    if extra:
        model = warmed_up(device, args.weights)
        command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *sys.argv[1:]])
        reports = [
            f"Machine: {machine()}\nCommand: `{command}`"
            + ("\n(--quick: toy sizes, checking the code; the numbers measure nothing)"
               if args.quick else "")
        ]
        if "shapes" in extra:
            reports.append(shapes_table(model, device, content_image, style_image, args))
        if "throughput" in extra:
            reports.append(throughput_table(model, device, content_image, style_image, args))
        if "poster" in extra:
            reports.append(
                poster_table(model, evaluator, device, content_image, style_image, args)
            )
        report = "\n\n".join(reports) + "\n"
        print(report)
        (args.out / "engine_gpu.md").write_text(report)
    return 0


def run_table(
    args: argparse.Namespace,
    device: torch.device,
    content_image: Image.Image,
    style_image: Image.Image,
    evaluator: VGG19Features,
) -> str:
    """The table of presets and studies against pastiche (the first section)."""
    loaded = warmed_up(device, args.weights) if args.warm else None

    rows: list[Row] = []
    reference: dict[int, Row] = {}
    started = datetime.datetime.now(datetime.UTC)
    load_before = os.getloadavg()[0]
    upscaled: list[int] = []
    for size in args.sizes:
        # Neither program paints larger than the photo; a size beyond it gets a photo upscaled
        # to that size (the same file for both), or the row would measure a smaller picture.
        content_path, photo = args.content, content_image
        if not args.own_size and size > max(content_image.size):
            factor = size / max(content_image.size)
            photo = content_image.resize(
                (round(content_image.width * factor), round(content_image.height * factor)),
                Image.Resampling.LANCZOS,
            )
            content_path = args.out / f"photo_{size}.png"
            save_image(photo, content_path)
            upscaled.append(size)
        if not args.no_pastiche:
            logger.info("pastiche, %d px, %d steps ...", size, args.pastiche_steps)
            load = os.getloadavg()[0]
            image, seconds, cpu_seconds, peak = _timed(
                device,
                functools.partial(
                    run_pastiche,
                    content_path,
                    args.style,
                    size=size,
                    steps=args.pastiche_steps,
                    device=device,
                ),
            )
            row = Row(
                size,
                "pastiche 1.6.0",
                f"L-BFGS, {args.pastiche_steps} steps, fp32",
                seconds,
                cpu_seconds,
                peak_mib=peak,
                output=args.out / f"pastiche_{size}.png",
                load=load,
            )
            save_image(image, row.output)  # type: ignore[arg-type]
            reference[size] = row
            rows.append(row)
            logger.info("pastiche: %.1f s", seconds)

        wanted = None if args.own_size else size
        runs: list[tuple[str, TransferParams]] = []
        for preset in args.presets:
            runs.append(
                (preset, params_from_options(preset=preset, device=device, size=wanted, seed=0))
            )
        balanced = params_from_options(preset="balanced", device=device, size=wanted, seed=0)
        if "precision" in args.studies:
            other = "fp32" if use_bf16(device, "auto") else "bf16"
            runs.append((f"balanced, {other}", dataclasses.replace(balanced, precision=other)))
        if "optimizer" in args.studies:
            runs.append(("balanced, adam", dataclasses.replace(balanced, optimizer="adam")))
        if "compile" in args.studies:
            runs.append(("balanced, compiled", dataclasses.replace(balanced, compile=True)))
        if "autotune" in args.studies and device.type == "cuda":
            runs.append((NO_AUTOTUNE, balanced))
        runs = [
            (name if n == 1 else f"{name} #{n}", params)
            for name, params in runs
            for n in range(1, args.repeat + 1)
        ]
        for name, params in runs:
            logger.info("ours %s, %d px ...", name, params.size)
            precision = "bf16" if use_bf16(device, params.precision) else "fp32"
            detail = (
                f"{params.optimizer}, steps {'+'.join(map(str, params.steps))}, "
                f"{precision}{', compiled' if params.compile else ''}"
            )
            slug = re.sub(r"[^A-Za-z0-9]+", "_", name)
            row = Row(
                params.size,
                f"ours {name}",
                detail,
                float("nan"),
                output=args.out / f"ours_{slug}_{params.size}.png",
                load=os.getloadavg()[0],
            )
            rows.append(row)
            try:
                image, row.seconds, row.cpu_seconds, row.peak_mib = _timed(
                    device,
                    functools.partial(
                        run_ours,
                        photo,
                        style_image,
                        params=params,
                        device=device,
                        weights=args.weights,
                        loaded=loaded,
                        autotune=not name.startswith(NO_AUTOTUNE),
                    ),
                )
            except Exception as e:  # a study (torch.compile, say) may fail; keep the rest
                logger.exception("ours %s failed", name)
                row.error = f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}"
                continue
            save_image(image, row.output)  # type: ignore[arg-type]
            logger.info("ours %s: %.1f s", name, row.seconds)

    for row in rows:
        if row.error is not None or row.output is None:
            continue
        output = Image.open(row.output).convert("RGB")
        measured = distances(evaluator, output, content_image, style_image)
        row.style, row.content = measured.style, measured.content

    first = args.sizes[0]
    pictures = [("photo", content_image)]
    pastiche_output = reference[first].output if first in reference else None
    if pastiche_output is not None:
        pictures.append((f"pastiche, {args.pastiche_steps} steps", Image.open(pastiche_output)))
    ours_balanced = next(
        (r for r in rows if r.name == "ours balanced" and r.error is None and r.output), None
    )
    if ours_balanced and ours_balanced.output:
        pictures.append(("ours, balanced", Image.open(ours_balanced.output)))
    pictures.append(("painting", style_image))
    side_by_side(pictures, args.out / "side_by_side.jpg")

    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    report = "\n".join(
        [
            f"Machine: {machine()}; load average {load_before:.1f} at the start, "
            f"{os.getloadavg()[0]:.1f} at the end (the machine may be shared)",
            f"Date: {started:%Y-%m-%d %H:%M} UTC; command: `{command}`",
            f"Photo: {args.content.name} {content_image.width}x{content_image.height}"
            + (f" (upscaled for {', '.join(map(str, upscaled))} px)" if upscaled else "")
            + f", painting: {args.style.name}; our times "
            + (
                "leave out loading the network (loaded once and warmed up, untimed)"
                if args.warm
                else "include loading the network"
            ),
            "",
            table(rows, reference),
            "",
        ]
    )
    print(report)
    (args.out / "engine.md").write_text(report)
    return report


def _toy(params: TransferParams, size: int) -> TransferParams:
    """``params`` at a toy size and a tenth of the steps (--quick)."""
    steps = tuple(max(1, n // 10) for n in params.steps)
    return dataclasses.replace(params, size=size, steps=steps)


def _shaped(photo: Image.Image, width: int, height: int) -> Image.Image:
    return photo.resize((width, height), Image.Resampling.LANCZOS)


def _peak_mib(device: torch.device) -> str:
    if device.type != "cuda":
        return "-"
    return f"{torch.cuda.max_memory_allocated(device) / 2**20:.0f}"


def shapes_table(
    model: VGG19Features,
    device: torch.device,
    photo: Image.Image,
    painting: Image.Image,
    args: argparse.Namespace,
) -> str:
    """Every preset at its own size: a new picture shape, the same again, and with buckets a
    new photo shape whose bucket the worker has met."""
    lines = [
        "Shapes: seconds per job in a warmed-up worker (the network loaded and run once)",
        "",
        "| preset | size | new shape (s) | seen shape (s) | buckets: new shape, seen bucket (s) "
        "| peak MiB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for n, preset in enumerate(args.presets):
        params = params_from_options(preset=preset, device=device, seed=0)
        if args.quick:
            params = _toy(params, 64)
        long_side = params.size
        # A height no earlier run used (an odd number of pixels, different per preset), so
        # that "new" really is new to cuDNN.
        height = round(long_side * 0.61) + 2 * n + 1
        first = _shaped(photo, long_side, height)
        ours = functools.partial(run_ours, device=device, weights=None, loaded=model)
        _, new, _, _ = _timed(device, functools.partial(ours, first, painting, params=params))
        _, seen, _, peak = _timed(device, functools.partial(ours, first, painting, params=params))
        bucketed = dataclasses.replace(params, buckets=True)
        ours(first, painting, params=bucketed)  # the bucket met once
        nearby = _shaped(photo, long_side, height - 2)  # another shape, the same bucket
        _, in_bucket, _, _ = _timed(
            device, functools.partial(ours, nearby, painting, params=bucketed)
        )
        peak_text = f"{peak:.0f}" if peak is not None else "-"
        lines.append(
            f"| {preset} | {long_side} | {new:.2f} | {seen:.2f} | {in_bucket:.2f} | {peak_text} |"
        )
    return "\n".join(lines)


def throughput_table(
    model: VGG19Features,
    device: torch.device,
    photo: Image.Image,
    painting: Image.Image,
    args: argparse.Namespace,
) -> str:
    """Jobs at once at 512 px (the fast preset's schedule for the device): one after another
    against one batch."""
    size = 64 if args.quick else args.throughput_size
    counts = (1, 2, 4) if args.quick else args.counts
    params = params_from_options(preset="fast", device=device, size=size, seed=0)
    if args.quick:
        params = _toy(params, size)
    base = _shaped(photo, size, round(size * 0.75))
    lines = [
        f"Throughput: {size} px, fast preset (steps {'+'.join(map(str, params.steps))}), "
        "distinct photos of one shape; latency: from the start until the job's result",
        "",
        "| jobs | one after another: results/s | mean latency (s) | batched: results/s "
        "| mean latency (s) | batched peak MiB |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for count in counts:
        # Each job its own photo (mirrored and shifted copies) and seed.
        jobs = [
            BatchJob(
                content=(base.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if i % 2 else base)
                .rotate(0, translate=(i, 0)),
                styles=[painting],
                params=dataclasses.replace(params, seed=i),
            )
            for i in range(count)
        ]
        stylize_batch(jobs, model=model)  # untimed: cuDNN meets this batch's shape first
        _sync(device)
        started = time.perf_counter()
        finished: list[float] = []
        for job in jobs:
            stylize(job.content, job.styles, model=model, params=job.params)
            _sync(device)
            finished.append(time.perf_counter() - started)
        alone_total = finished[-1]
        gc.collect()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        _sync(device)
        started = time.perf_counter()
        stylize_batch(jobs, model=model)
        _sync(device)
        batch_total = time.perf_counter() - started
        lines.append(
            f"| {count} | {count / alone_total:.2f} | {sum(finished) / count:.2f} | "
            f"{count / batch_total:.2f} | {batch_total:.2f} | {_peak_mib(device)} |"
        )
    return "\n".join(lines)


def poster_table(
    model: VGG19Features,
    evaluator: VGG19Features,
    device: torch.device,
    photo: Image.Image,
    painting: Image.Image,
    args: argparse.Namespace,
) -> str:
    """One poster, tiled within the budget: time, tile, estimated and peak memory."""
    size = 192 if args.quick else args.poster_size
    params = transfer_params(PhotoParams(poster=True, size=size, seed=0), device=device)
    if args.quick:
        params = _toy(params, size)
    content = tiled.enlarged(photo, params.size)
    final = scale_sizes(content.size, params)[-1]
    if args.max_memory is not None:
        budget = int(args.max_memory * 2**30)
    elif args.quick:  # toy pictures fit anywhere: a budget that makes 64 px tiles
        budget = tiled.tiled_memory(final, 64, bf16=use_bf16(device, params.precision))
    else:
        budget = tiled.free_memory(device)
    tile = tiled.tile_for(final, params, device=device, max_memory=budget)
    bf16 = use_bf16(device, params.precision)
    estimate = (
        tiled.tiled_memory(final, tile, bf16=bf16)
        if tile < max(final)
        else tiled.whole_memory(final, bf16=bf16, history=params.lbfgs_history)
    )
    image, seconds, _, peak = _timed(
        device,
        functools.partial(
            tiled.stylize_tiled, content, [painting], model=model, params=params, tile=tile
        ),
    )
    out = args.out / f"poster_{size}.jpg"
    save_image(image, out)
    # Measured at 1024 px: the yardstick's network at poster size would be a run of its own.
    small = image.resize((1024, round(1024 * image.height / image.width)), Image.Resampling.LANCZOS)
    measured = distances(evaluator, small, photo, painting)
    peak_text = f"{peak:.0f}" if peak is not None else "-"
    return "\n".join([
        f"Poster: {final[0]}x{final[1]}, balanced preset's poster schedule "
        f"(steps {'+'.join(map(str, params.steps))}), budget {budget / 2**30:.1f} GiB",
        "",
        "| size | tile (px) | time (s) | estimated peak MiB | measured peak MiB "
        "| style dist. (1024 px) | content dist. (1024 px) |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| {final[0]}x{final[1]} | {tile} | {seconds:.1f} | {estimate / 2**20:.0f} | "
        f"{peak_text} | {measured.style:.4f} | {measured.content:.4f} |",
    ])


if __name__ == "__main__":
    sys.exit(main())
