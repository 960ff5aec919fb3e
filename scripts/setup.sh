#!/usr/bin/env bash
# Create .venv and install cxrlib with the book and test extras (only when pyproject.toml changed).
set -euo pipefail
cd "$(dirname "$0")/.."
python_bin=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $python_bin"
  "$python_bin" -m venv .venv
fi
uv_version=0.13.9
# The stamp holds the pins' hash and this recipe's version, so that a .venv made by an older recipe is redone:
# recipe 2 compiles site-packages to bytecode at install (below).
recipe=2
stamp=.venv/.cxrlib-install-stamp
wanted="$(sha256sum pyproject.toml | cut -d' ' -f1) recipe $recipe"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  echo "[setup] installing cxrlib and its pinned dependencies (first time: about a minute with uv, ~6.5 GB)"
  # torch/torchvision are pinned to PyPI builds; see ../shared/TOOLCHAIN.md for why. uv (pinned; the same
  # release Flower pulls in) resolves the same pins as pip from PyPI, downloading and unpacking in
  # parallel: ~40 s instead of ~4 min for pip here. Where uv cannot be installed, pip does the same job.
  # --compile-bytecode (pip does it by default): every process of the book and the tests (kernels, test
  # workers, Flower parties, sweep workers, jupyter-book) then reads the packages' .pyc files instead of
  # compiling ~4,700 modules from source each time it starts, which it otherwise does where Python may not write
  # them (PYTHONDONTWRITEBYTECODE=1, as on this project's machines): importing torch, Lightning, timm, pandas,
  # scikit-learn, matplotlib and lightly took 13.1 s before, 5.3 s after (compiling costs ~25 s once).
  quiet() { "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; return "${PIPESTATUS[0]}"; }
  if ! { quiet .venv/bin/python -m pip install --disable-pip-version-check -q "uv==$uv_version" \
         && .venv/bin/uv pip install --python .venv/bin/python -q --compile-bytecode -e ".[book,test]"; }; then
    echo "[setup] the install with uv $uv_version failed: installing with pip instead (a few minutes)"
    quiet .venv/bin/python -m pip install --disable-pip-version-check -q -e ".[book,test]"
  fi
  echo "$wanted" > "$stamp"
fi
.venv/bin/python -m pip check --disable-pip-version-check > /dev/null || .venv/bin/python -m pip check
