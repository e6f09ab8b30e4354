"""This machine's pip configuration, rewritten for the images scripts/container-check makes.

    python tests/containers/pip_config.py OUT_DIR

A build reaches the package index the way pip on this machine does: the same index URLs, extra
indexes, find-links directories and constraints (from pip's config files and PIP_* variables,
merged as pip merges them). Writes ``OUT_DIR/pip.conf`` (for ``/etc/pip.conf`` in the image)
and, when pip here has a constraints file, ``OUT_DIR/constraints.txt`` (for
``/etc/pip/constraints.txt``). Prints the local directories those settings name, one a line:
the build mounts each, read-only, at the same path. The certificate bundle becomes the image's
own (``/etc/ssl/certs/ca-certificates.crt``), which carries this machine's extra CA
certificates (the script copies them in).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

# The settings that say where packages come from; the rest (caches, targets, logs) stay here.
CARRIED = (
    "index-url",
    "extra-index-url",
    "find-links",
    "trusted-host",
    "no-index",
    "timeout",
    "default-timeout",
    "retries",
)
IMAGE_CERT = "/etc/ssl/certs/ca-certificates.crt"
IMAGE_CONSTRAINTS = "/etc/pip/constraints.txt"


def effective() -> dict[str, str]:
    """Each setting's value as pip uses it: files merged in pip's order, then the environment
    (``:env:``, the PIP_* variables) over the files' ``global`` and ``install`` sections."""
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True
    ).stdout
    by_section: dict[str, dict[str, str]] = {}
    for line in listed.splitlines():  # section.name='value', files already merged by pip
        match = re.fullmatch(r"(.*?)\.([\w-]+)='(.*)'", line.strip())
        if match:
            section, name, value = match.groups()
            by_section.setdefault(section, {})[name.replace("_", "-")] = value
    values: dict[str, str] = {}
    for section in ("global", "install", ":env:"):
        values.update(by_section.get(section, {}))
    return values


def local_directory(location: str, *, index: bool) -> Path | None:
    """The directory to mount for a find-links entry or an index URL, when it is on this disk.
    An index's pages link to their files relatively (``../../files/x.whl``): mount its parent."""
    if location.startswith("file:"):
        path = Path(unquote(urlparse(location).path))
    elif "://" in location:
        return None
    else:
        path = Path(location)
    path = path.resolve()
    if not path.exists():
        return None
    if index and path.parent != path:
        path = path.parent
    return path if path.is_dir() else path.parent


def main() -> int:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    values = effective()
    lines = ["[global]", f"cert = {IMAGE_CERT}"]
    mounts: list[Path] = []
    for name in CARRIED:
        if name in values:
            lines.append(f"{name} = {values[name]}")
            for location in values[name].split():
                if name in ("index-url", "extra-index-url", "find-links"):
                    found = local_directory(location, index=name != "find-links")
                    if found is not None and found not in mounts:
                        mounts.append(found)
    constraint = values.get("constraint")
    if constraint and Path(constraint).is_file():
        (out / "constraints.txt").write_text(Path(constraint).read_text())
        lines.append(f"constraint = {IMAGE_CONSTRAINTS}")
    (out / "pip.conf").write_text("\n".join(lines) + "\n")
    for path in mounts:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
