"""The pieces of scripts/container-check that can be checked without containers.

The script itself (podman, the images, the compose stack) runs as its own CI step in .ci/run;
these tests keep its parts honest on every test run: the compose override changes
only what it says it changes, the pip configuration is carried as pip reads it, and the health
timer runs each container's check at that container's own interval.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCRIPT = REPO / "scripts" / "container-check"


def merged(base: Any, over: Any) -> Any:
    """Compose's merge of an override file: mappings merge key by key, the rest is replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        return {k: merged(base[k], over[k]) if k in base else over[k] for k in over} | {
            k: v for k, v in base.items() if k not in over
        }
    return over


def test_the_override_changes_only_the_image_the_workers_and_the_job_size() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    override = yaml.safe_load((HERE / "compose.check.yaml").read_text())
    assert set(override) == {"services"}
    assert set(override["services"]) <= set(compose["services"])
    result = merged(compose, override)["services"]
    changed = {
        name: sorted(k for k in result[name] if result[name][k] != compose["services"][name].get(k))
        for name in result
    }
    assert changed == {
        "postgres": ["image"],
        "migrate": [],
        "bot": ["environment"],
        "engine": [],
        "engine-cpu": ["deploy"],
    }
    assert result["engine-cpu"]["deploy"]["replicas"] == 2
    bot_env = result["bot"]["environment"]
    assert set(bot_env) - set(compose["services"]["bot"]["environment"]) == {"JOB_STEPS"}
    # The variable the override needs is one the script writes into its env file.
    assert "${CHECK_POSTGRES_IMAGE:?" in result["postgres"]["image"]
    assert "CHECK_POSTGRES_IMAGE=" in SCRIPT.read_text()


def test_the_script_passes_the_base_images_as_the_dockerfiles_build_arguments() -> None:
    text = SCRIPT.read_text()
    dockerfile = (REPO / "Dockerfile").read_text()
    for arg in ("PYTHON_IMAGE", "TORCH_IMAGE"):
        assert f"ARG {arg}=" in dockerfile
        assert f'--build-arg "{arg}=${arg}"' in text
    assert "--format docker" in text  # or podman drops the HEALTHCHECKs


def test_pip_configuration_is_carried_with_its_local_directories(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    index = tmp_path / "mirror" / "simple"
    wheels.mkdir()
    index.mkdir(parents=True)
    constraints = tmp_path / "caps.txt"
    constraints.write_text("torch<=2.14.1\n")
    config = tmp_path / "pip.conf"
    config.write_text(
        "[global]\n"
        f"find-links = {wheels}\n"
        f"extra-index-url = file://{index} https://example.org/simple\n"
        f"constraint = {constraints}\n"
        "cert = /somewhere/on/this/machine.pem\n"
        "cache-dir = /not/for/images\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = str(config)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(HERE / "pip_config.py"), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    written = (out / "pip.conf").read_text()
    assert f"find-links = {wheels}" in written
    assert f"extra-index-url = file://{index} https://example.org/simple" in written
    assert "cert = /etc/ssl/certs/ca-certificates.crt" in written  # the image's own bundle
    assert "constraint = /etc/pip/constraints.txt" in written
    assert "cache-dir" not in written and "/somewhere" not in written
    assert (out / "constraints.txt").read_text() == "torch<=2.14.1\n"
    # The index's parent, since its pages link to ../../files/...
    mounts = done.stdout.split()
    assert str(wheels) in mounts and str(index.parent) in mounts


FAKE_PODMAN = f"""#!{sys.executable}
# podman, as far as health_timer.py uses it: the containers are in $STATE (JSON).
import json, os, sys

containers = json.load(open(os.environ["STATE"]))
if sys.argv[1] == "ps":
    print("\\n".join(c["Id"] for c in containers))
elif sys.argv[1] == "inspect":
    print(json.dumps(containers))
elif sys.argv[1] == "healthcheck":
    with open(os.environ["CALLS"], "a") as calls:
        print(sys.argv[3], file=calls)
"""


def container(cid: str, test: list[str], interval_s: float, started: str) -> dict[str, Any]:
    return {
        "Id": cid,
        "Config": {"Healthcheck": {"Test": test, "Interval": int(interval_s * 1e9)}},
        "State": {"StartedAt": started},
    }


def test_the_health_timer_runs_each_check_at_its_interval(tmp_path: Path) -> None:
    podman = tmp_path / "podman"
    podman.write_text(FAKE_PODMAN)
    podman.chmod(0o755)
    state, calls = tmp_path / "state.json", tmp_path / "calls"
    calls.touch()
    state.write_text(
        json.dumps(
            [
                container("often", ["CMD", "true"], 1, "t0"),
                container("rarely", ["CMD", "true"], 60, "t0"),
                container("none", ["NONE"], 1, "t0"),
            ]
        )
    )
    env = dict(os.environ, STATE=str(state), CALLS=str(calls))
    timer = subprocess.Popen([sys.executable, str(HERE / "health_timer.py"), str(podman)], env=env)
    try:
        deadline = time.monotonic() + 30
        while calls.read_text().split().count("often") < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        timer.kill()
        timer.wait()
    checked = calls.read_text().split()
    assert checked.count("often") >= 3, checked
    # No check for a container without one; none before a container's first interval is up.
    assert "none" not in checked and "rarely" not in checked
