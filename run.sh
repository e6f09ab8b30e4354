#!/usr/bin/env bash
# Set up and run, in one command on a fresh machine (the README's quick start).
#
#   ./run.sh                              with BOT_TOKEN set (or in .env): run the bot and a
#                                         local engine worker on a SQLite file under data/
#   ./run.sh PHOTO PAINTING -o OUT.jpg    no token needed: stylize one picture
#                                         (any `python -m engine stylize` option works)
set -euo pipefail
cd "$(dirname "$0")"

if [ -f .env ]; then set -a; . ./.env; set +a; fi

[ -x .venv/bin/python ] || python3 -m venv .venv
. .venv/bin/activate
# Reinstall only when the dependency list changed since the last install.
stamp=.venv/.stylebot-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "Installing (the first time takes a few minutes: PyTorch is several GB)..." >&2
  log=.venv/install.log
  if ! { python -m pip install -q --upgrade pip && python -m pip install -q -e '.[engine,bot]'; } \
      >"$log" 2>&1; then
    cat "$log" >&2
    echo "run.sh: installing failed (the log above is also in $log)" >&2
    exit 1
  fi
  touch "$stamp"
fi

if [ $# -gt 0 ]; then
  exec python -m engine stylize "$@"
fi
if [ -n "${BOT_TOKEN:-}" ]; then
  exec python -m bot
fi
cat <<'MSG'
No BOT_TOKEN is set, so there is no bot to run. You can:
  - stylize a picture:   ./run.sh PHOTO.jpg PAINTING.jpg -o out.jpg [--preset fast|balanced|high]
  - run the bot:         BOT_TOKEN=123456:ABC... ./run.sh   (or put BOT_TOKEN in .env)
MSG
