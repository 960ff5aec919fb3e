"""Where the repository is: its root, and the book's folder of generated run folders.

The one definition for every module that reads the repository's files (notebooks, parameter files, sweep
files, the book's sources). ``cxrlib`` runs from a source checkout (installed editable by
``scripts/setup.sh``), so the root is two folders above this file.
"""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # cxrlib/core/repo.py -> the repository
GENERATED = Path("book") / "_generated"  # run folders of the book's runs, relative to the repository
