"""What each package may import (docs/ARCHITECTURE.md), held two ways.

- In a fresh interpreter, every module of a package is imported (found by walking the
  package, so a new module is checked without anyone listing it), and the test fails if a
  forbidden module was loaded, naming the module that brought it in.
- In the source, every import statement of ``engine/`` and ``bot/``, those inside functions
  included (which an import at start-up does not run), is read: the two halves of the engine
  meet only in ``engine/bridge.py``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# package -> the modules it must not load
FORBIDDEN: dict[str, tuple[str, ...]] = {
    # The algorithm: no database, no Telegram, and nothing of the job system.
    "engine.style": (
        "sqlalchemy",
        "alembic",
        "psycopg",
        "telegram",
        "engine.jobs",
        "engine.bridge",
    ),
    # The job system: no torch, no Telegram, and nothing of the algorithm.
    "engine.jobs": ("torch", "torchvision", "telegram", "engine.style", "engine.bridge"),
    # The bot: no torch (its image has none), and only the job system's side of the engine.
    # Clips it reads with PyAV (engine.video.clip), never with OpenCV's optical flow.
    "bot": ("torch", "torchvision", "cv2", "engine.style", "engine.bridge", "engine.video.flow"),
    # The leaves everyone shares: the standard library (and Pillow for pictures) only.
    "engine.contract": ("torch", "sqlalchemy", "telegram", "PIL", "engine.jobs", "engine.style"),
    "engine.env": ("torch", "sqlalchemy", "telegram", "PIL", "engine.jobs", "engine.style"),
    "engine.images": ("torch", "sqlalchemy", "telegram", "engine.jobs", "engine.style"),
    # The time-lapse film: Pillow, and PyAV when a film is made; the bot and the CLI share it.
    "engine.timelapse": ("torch", "sqlalchemy", "telegram", "av", "engine.jobs", "engine.style"),
}

# Run in a fresh interpreter: import the package and every module in it, one at a time, and
# say which one first loaded a forbidden module.
PROBE = """
import importlib, json, pkgutil, sys

package, forbidden = sys.argv[1], sys.argv[2:]


def loaded():
    return sorted(f for f in forbidden if any(m == f or m.startswith(f + ".") for m in sys.modules))


root = importlib.import_module(package)
names = [package]
if hasattr(root, "__path__"):
    names += [m.name for m in pkgutil.walk_packages(root.__path__, package + ".")]
culprit, found = None, loaded()
if found:
    culprit = package + " (or one of its sub-packages)"
for name in names:
    if culprit:
        break
    importlib.import_module(name)
    found = loaded()
    if found:
        culprit = name
print(json.dumps({"modules": names, "culprit": culprit, "forbidden": found}))
"""


@pytest.mark.parametrize("package", list(FORBIDDEN))
def test_a_package_loads_nothing_it_must_not(package: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, package, *FORBIDDEN[package]],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["modules"][0] == package
    assert report["culprit"] is None, (
        f"importing {report['culprit']} loaded {', '.join(report['forbidden'])}"
    )


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module an ``engine``/``bot`` file imports, as (line, dotted name), relative
    imports resolved and ``from engine.x import y`` counted as ``engine.x.y`` (y may be a
    module)."""
    module = ".".join(path.relative_to(REPO).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    if package.endswith(".__init__"):
        package = package.removesuffix(".__init__")
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


# python -m engine.health keeps its name; the module is the job system's entry point.
ENTRY_POINTS = {"engine.health": "jobs"}


def _half(module: str) -> str | None:
    if module in ENTRY_POINTS:
        return ENTRY_POINTS[module]
    parts = module.split(".")
    if parts[0] != "engine" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in ("style", "jobs", "bridge") else None


def crossing_imports() -> list[str]:
    """Imports by which one half of the engine (or the bot) reaches where it must not."""
    # where a module is -> the parts it must not import
    rules: dict[str | None, tuple[str, ...]] = {
        None: ("style", "jobs", "bridge"),  # the leaves beside the halves import neither
        "bot": ("style", "bridge"),
        "bridge": (),
        "style": ("jobs", "bridge"),
        "jobs": ("style", "bridge"),
    }
    problems = []
    for path in sorted([*(REPO / "engine").rglob("*.py"), *(REPO / "bot").rglob("*.py")]):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts)
        not_allowed = rules["bot" if module.startswith("bot.") else _half(module)]
        for line, imported in _imports(path):
            if _half(imported) in not_allowed:
                problems.append(f"{path.relative_to(REPO)}:{line} imports {imported}")
    return problems


def test_the_two_halves_meet_only_in_the_bridge() -> None:
    assert crossing_imports() == []
    bridge = {_half(name) for _, name in _imports(REPO / "engine" / "bridge.py")}
    assert {"style", "jobs"} <= bridge  # ...where they do meet
