"""``python -m engine.health``: is an engine worker on this host alive? (a container health check)

The command keeps the name the Dockerfile and compose give it; the check itself belongs to the
job system it reads (:mod:`engine.jobs.health`).
"""

from __future__ import annotations

import sys

from engine.jobs.health import main

if __name__ == "__main__":
    sys.exit(main())
