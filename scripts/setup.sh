#!/usr/bin/env bash
# Create .venv and install cxrlib with the book and test extras (only when pyproject.toml changed).
set -euo pipefail
cd "$(dirname "$0")/.."
python_bin=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $python_bin"
  "$python_bin" -m venv .venv
fi
stamp=.venv/.cxrlib-install-stamp
wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  echo "[setup] installing cxrlib and its pinned dependencies (first time: a few minutes, ~6.5 GB)"
  # torch/torchvision are pinned to PyPI builds; see ../shared/TOOLCHAIN.md for why.
  .venv/bin/python -m pip install --disable-pip-version-check -q -e ".[book,test]" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  echo "$wanted" > "$stamp"
fi
.venv/bin/python -m pip check --disable-pip-version-check > /dev/null || .venv/bin/python -m pip check
