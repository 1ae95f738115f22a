#!/usr/bin/env bash
# Set up everything searchgraph needs on a fresh Debian/Ubuntu machine, then run a job.
#   bash scripts/dev.sh demo   # the main job: the bundled attention decoder's graph and beams
#   bash scripts/dev.sh test   # the whole test suite (RETURNN oracle, TensorFlow, Graphviz included)
# Idempotent: a second run reuses the virtualenv and skips what is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
job="${1:-demo}"; shift || true

if ! command -v dot >/dev/null 2>&1; then
  echo "searchgraph setup: installing Graphviz (dot) with apt-get" >&2
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_="sudo"
  $sudo_ apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq graphviz >/dev/null
fi

py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "searchgraph setup: creating .venv" >&2
  "$py" -m venv .venv
fi
stamp=.venv/.searchgraph-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "searchgraph setup: installing searchgraph[test] (TensorFlow and RETURNN included; a few minutes the first time)" >&2
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[test]"
  touch "$stamp"
fi

if [ "$job" = test ] && [ ! -x /usr/bin/chromium ]; then  # the HTML diagram tests drive Debian's chromium
  echo "searchgraph setup: installing Chromium (for the HTML diagram tests) with apt-get" >&2
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_="sudo"
  $sudo_ apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq chromium >/dev/null
fi

case "$job" in
  demo) exec .venv/bin/searchgraph demo "$@" ;;
  test) exec .venv/bin/python -m pytest "$@" ;;
  *) exec .venv/bin/searchgraph "$job" "$@" ;;
esac
