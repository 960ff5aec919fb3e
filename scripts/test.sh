#!/usr/bin/env bash
# Set up, then run the whole test suite (library, notebooks and the classroom book build).
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
.venv/bin/python -m pytest "$@"
