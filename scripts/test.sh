#!/usr/bin/env bash
# Set up, then run the whole test suite in its two lanes (this is what CI runs):
#   the fast lane  `pytest -m "not slow"`  (pytest's default): every library behaviour, in minutes;
#   the slow lane  `pytest -m slow`: the smoke book of every notebook and both HTML editions, the paper smoke of
#                  every paper and sweep file, Flower processes, PostgreSQL workers, Chromium, papermill kernels.
# Both lanes always run, each on one worker per core; arguments go to both (e.g. -q, a test file).
# Exit status: 0 when both passed, else the first failing lane's; 5 ("no tests collected") only when neither lane collected a test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The sweep tests start a throw-away PostgreSQL on 127.0.0.1: install Debian's server when it is missing
# (CI must have it; elsewhere those tests skip, saying why).
if [ "${CI:-}" = "true" ]; then bash scripts/postgres.sh install
else bash scripts/postgres.sh install 2>/dev/null || echo "[test] PostgreSQL not available: the sweep tests on PostgreSQL will skip"; fi
# The book's real-browser check opens every page in headless Chromium: install Debian's when it is missing
# (CI must have it; elsewhere that test skips, saying why).
if [ "${CI:-}" = "true" ]; then bash scripts/chromium.sh install
else bash scripts/chromium.sh install 2>/dev/null || echo "[test] Chromium not available: the real-browser book check will skip"; fi
export HF_HUB_OFFLINE=1 MPLBACKEND=Agg PYTHONHASHSEED=0
lane() {  # lane NAME MARKER ARGS...: run one lane, print and return its exit status
  local name=$1 marker=$2 status=0 started=$SECONDS
  shift 2
  echo "[test] $name lane: pytest -m \"$marker\""
  .venv/bin/python -m pytest -n "$workers" --dist loadfile "$@" -m "$marker" || status=$?
  echo "[test] $name lane: exit $status after $((SECONDS - started)) s"
  return "$status"
}
# Each lane on one pytest-xdist worker per core (every test process runs torch on one thread, see
# tests/conftest.py), a test file to a worker: a file's module fixtures (the smoke book, the paper smoke) are
# built once. On two cores this halves both lanes. CXRLIB_TEST_WORKERS=0 runs them in this process.
workers=${CXRLIB_TEST_WORKERS:-auto}
fast=0 slow=0
lane fast "not slow" "$@" || fast=$?
lane slow slow "$@" || slow=$?
echo "[test] fast lane exit $fast, slow lane exit $slow"
for status in "$fast" "$slow"; do
  if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then exit "$status"; fi
done
if [ "$fast" -eq 5 ] && [ "$slow" -eq 5 ]; then exit 5; fi
exit 0
