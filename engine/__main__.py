"""``python -m engine COMMAND``: stylize a picture, run a worker, or upgrade the database.

Each command lives in its own module and is imported only when chosen, so ``migrate`` and
``stats`` and ``prune`` start without loading torch.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "stylize": (
        "engine.style.cli",
        "stylize one picture from the command line, with a progress bar",
    ),
    "work": ("engine.bridge", "run a worker that takes jobs from the queue"),
    "migrate": ("engine.jobs.commands", "upgrade the database schema to the newest version"),
    "stats": ("engine.jobs.commands", "print queue statistics"),
    "prune": ("engine.jobs.commands", "delete answered jobs and unused pictures older than --days"),
}


def usage() -> str:
    lines = ["usage: python -m engine COMMAND [ARGS ...]", "", "commands:"]
    lines += [f"  {name:<8} {summary}" for name, (_, summary) in COMMANDS.items()]
    lines.append("\n`python -m engine COMMAND --help` describes a command.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    result: int = module.main(rest, prog=f"python -m engine {name}", command=name)
    return result


if __name__ == "__main__":
    sys.exit(main())
