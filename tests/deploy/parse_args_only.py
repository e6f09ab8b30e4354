"""Run ``python -m MODULE ARGS`` commands only as far as their argument parsing.

    python tests/deploy/parse_args_only.py '[["engine", "work"], ["bot", "--no-engine"]]'

Each command is run as ``python -m`` would run it (runpy, ``__main__``), with
``argparse.ArgumentParser.parse_args`` patched to stop the program right after its arguments
were accepted, before it does anything. Prints one JSON object: for each command, "ok" or why
not (an unknown module, arguments refused, a program that never parsed its arguments).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import runpy
import sys
from typing import Any


class Parsed(Exception):
    pass


def _stop_after_parsing(
    self: argparse.ArgumentParser, args: Any = None, namespace: Any = None
) -> argparse.Namespace:
    _original(self, args, namespace)  # exits with status 2 when it refuses the arguments
    raise Parsed


_original = argparse.ArgumentParser.parse_args


def check(module: str, args: list[str]) -> str:
    argv = sys.argv
    sys.argv = [module, *args]
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            runpy.run_module(module, run_name="__main__", alter_sys=True)
    except Parsed:
        return "ok"
    except SystemExit as e:
        return f"exited with {e.code!r} before accepting its arguments: {err.getvalue().strip()}"
    except ImportError as e:
        return f"cannot be run: {type(e).__name__}: {e}"
    finally:
        sys.argv = argv
    return "finished without parsing its arguments (not an argparse entry point?)"


def main() -> None:
    argparse.ArgumentParser.parse_args = _stop_after_parsing  # type: ignore[method-assign, assignment]
    commands = json.loads(sys.argv[1])
    results = {" ".join(c): check(c[0], list(c[1:])) for c in commands}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
