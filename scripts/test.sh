#!/usr/bin/env bash
# Set up, then run the whole test suite (library, notebooks and the classroom book build).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 MPLBACKEND=Agg PYTHONHASHSEED=0
.venv/bin/python -m pytest "$@"
