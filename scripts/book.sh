#!/usr/bin/env bash
# The main job: set up, check (and if needed fetch) the classroom data, execute every notebook with
# the classroom parameters and build the HTML book into _build/html. Extra arguments go to `cxrlib book`
# (e.g. --profile paper, --only 01_data, --force, --edition instructor for the book with worked solutions;
# --profile paper --smoke proves every paper file and sweep file end to end on the CPU at tiny sizes, see
# params/paper/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} MPLBACKEND=Agg PYTHONHASHSEED=0
.venv/bin/cxrlib book "$@"
