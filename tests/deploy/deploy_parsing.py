"""Reading the deployment files without Docker: the Dockerfile's stages and instructions, the
``.dockerignore`` rules, compose's variable interpolation, and the ``python -m`` commands that
the Dockerfile, compose.yaml and docs/DEPLOY.md name.

Docker does not run on the development machines or in CI, so the tests read these files the
way Docker would (for the parts this project uses) and run their commands here.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
COMPOSE = REPO / "compose.yaml"
DOCKERIGNORE = REPO / ".dockerignore"
ENV_EXAMPLE = REPO / ".env.example"
DEPLOY_DOC = REPO / "docs" / "DEPLOY.md"

# Where the code reads its settings from the environment.
SETTINGS_SOURCES = sorted([*(REPO / "engine").rglob("*.py"), *(REPO / "bot").rglob("*.py")])


# -- Dockerfile ---------------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    args: str  # the rest of the line, continuation lines joined
    heredoc: str | None = None  # the body of a `<<EOF` here-document, if any
    line: int = 0

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form CMD/ENTRYPOINT (or HEALTHCHECK's CMD), else None."""
        text = self.args
        if self.keyword == "HEALTHCHECK":
            match = re.search(r"\bCMD\s+(.*)$", text)
            if not match:
                return None
            text = match.group(1)
        text = text.strip()
        if not text.startswith("["):
            return None
        value = json.loads(text)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), text
        return value

    def flags(self) -> dict[str, str]:
        """``--name=value`` options at the start (COPY --from=..., --chmod=...)."""
        return dict(re.findall(r"--([\w-]+)=(\S+)", self.args.split(" ", 1)[0] + " "))


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: dict[str, Stage]

    def resolve(self, text: str) -> str:
        """``${ARG}`` and ``$ARG`` replaced by the global ARG defaults."""
        return re.sub(
            r"\$\{?(\w+)\}?", lambda m: self.global_args.get(m.group(1), m.group(0)), text
        )


HEREDOC = re.compile(r"<<-?(['\"]?)(\w+)\1")


def parse_dockerfile(text: str) -> Dockerfile:
    """Instructions grouped by stage: continuation lines, comments and heredocs as Docker reads
    them (the escape character is the default backslash)."""
    lines = text.splitlines()
    instructions: list[Instruction] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        start = i + 1
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [line]
        while parts[-1].rstrip().endswith("\\") and i < len(lines):
            parts[-1] = parts[-1].rstrip()[:-1]
            nxt = lines[i]
            i += 1
            if nxt.lstrip().startswith("#"):  # comments inside a continuation are dropped
                parts.append("\\")
                continue
            parts.append(nxt)
        joined = " ".join(p.strip() for p in parts if p.strip() != "\\")
        keyword, _, args = joined.partition(" ")
        heredoc = None
        match = HEREDOC.search(args)
        if match and keyword.upper() in ("RUN", "COPY"):
            body: list[str] = []
            while i < len(lines) and lines[i].strip() != match.group(2):
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                raise ValueError(f"line {start}: here-document {match.group(2)} is not closed")
            i += 1  # the delimiter
            heredoc = "\n".join(body) + "\n"
        instructions.append(Instruction(keyword.upper(), args.strip(), heredoc, start))

    global_args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            words = [w for w in words if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else str(len(stages))
            current = Stage(name=name, base=words[0])
            if name in stages:
                raise ValueError(f"line {instruction.line}: stage {name} named twice")
            stages[name] = current
        elif current is None:
            if instruction.keyword != "ARG":
                raise ValueError(f"line {instruction.line}: {instruction.keyword} before FROM")
            name, _, default = instruction.args.partition("=")
            global_args[name.strip()] = default.strip()
        else:
            current.instructions.append(instruction)
    return Dockerfile(global_args=global_args, stages=stages)


def copy_sources(instruction: Instruction) -> list[str]:
    """The source paths of a COPY from the build context (not --from, not a heredoc)."""
    words = [w for w in shlex.split(instruction.args) if not w.startswith("--")]
    if instruction.heredoc is not None or len(words) < 2:
        return []
    return words[:-1]


# -- .dockerignore ------------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's pattern syntax (Go's filepath.Match plus ``**``) as a regular expression."""
    out = ""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
            continue
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            continue
        out += {"*": "[^/]*", "?": "[^/]"}.get(c, re.escape(c))
        i += 1
    return re.compile(out + r"\Z")


def dockerignore_rules(text: str) -> list[tuple[bool, re.Pattern[str], int]]:
    """(exclude?, pattern, number of path components) for each line, in order."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclude = not line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        pattern = re.sub(r"/+", "/", pattern)
        rules.append((exclude, _pattern_regex(pattern), len(pattern.split("/"))))
    return rules


def in_build_context(path: str, rules: list[tuple[bool, re.Pattern[str], int]]) -> bool:
    """Whether Docker sends ``path`` (relative to the context) to the builder: the last
    matching rule wins, and a rule also matches a path through its parent directories."""
    parts = path.strip("/").split("/")
    excluded = False
    for exclude, regex, n_dirs in rules:
        matched = bool(regex.match("/".join(parts)))
        if not matched and len(parts) > 1 and n_dirs <= len(parts) - 1:
            matched = bool(regex.match("/".join(parts[:n_dirs])))
        if matched:
            excluded = exclude
    return not excluded


# -- compose ------------------------------------------------------------------------------------

VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def compose_variables(text: str) -> set[str]:
    """Every ``${NAME...}`` compose interpolates (in YAML, not in comments)."""
    lines = [line.split(" #")[0] for line in text.splitlines()]
    code = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    return {m.group(1) for m in VARIABLE.finditer(code.replace("$$", ""))}


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` against ``env``."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        value = env.get(name)
        # With a colon, empty counts as unset.
        present = bool(value) if op in (":-", ":?") else value is not None
        if present:
            return str(value)
        if op and op.endswith("?"):
            raise KeyError(f"{name}: {arg}")
        return arg if op else ""

    return VARIABLE.sub(one, value).replace("$$", "$")


def read_env_file(text: str) -> dict[str, str]:
    env = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not KEY=VALUE: {raw!r}"
        env[key.strip()] = value.strip()
    return env


# -- settings -----------------------------------------------------------------------------------

_READS = [
    re.compile(r"""(?:env|environ)\.get\(\s*["']([A-Z][A-Z0-9_]*)["']"""),
    re.compile(r"""(?:env|environ)\[\s*["']([A-Z][A-Z0-9_]*)["']\s*\]"""),
    re.compile(r"""\(\s*env\s*,\s*["']([A-Z][A-Z0-9_]*)["']"""),  # read_int(env, "NAME", ...)
]


def settings_read() -> set[str]:
    """The environment variables the code reads (``env.get("X")``, ``read_int(env, "X")``...)."""
    names: set[str] = set()
    for path in SETTINGS_SOURCES:
        text = path.read_text()
        for regex in _READS:
            names.update(regex.findall(text))
    return names


# -- python -m commands -------------------------------------------------------------------------

SHELL_STOP = {"|", "||", "&&", ";", ">", ">>", "<", "2>&1", "&", "\\"}


def shell_commands(text: str) -> list[list[str]]:
    """``python -m MODULE ARGS`` as written in shell lines (comments, docs): the words from
    ``-m`` on, up to the end of the command."""
    found = []
    for line in text.splitlines():
        for match in re.finditer(r"\bpython3? -m ([\w.]+)([^\n`]*)", line):
            try:
                words = shlex.split(match.group(0), comments=True)
            except ValueError:
                words = match.group(0).split()
            command: list[str] = []
            for word in words[2:]:
                if word in SHELL_STOP or word.startswith(("$(", ")", "(")):
                    break
                if word.endswith(")"):  # the end of a parenthesised remark in prose
                    command.append(word[:-1])
                    break
                command.append(word)
            found.append(command)
    return found


def module_command(argv: list[str]) -> tuple[str, list[str]] | None:
    """(module, args) for ``python -m MODULE ARGS...``; None for another program."""
    if len(argv) >= 3 and Path(argv[0]).name.startswith("python") and argv[1] == "-m":
        return argv[2], argv[3:]
    if len(argv) >= 2 and argv[0] == "-m":
        return argv[1], argv[2:]
    return None
