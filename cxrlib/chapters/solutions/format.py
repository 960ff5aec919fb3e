"""What the answers share: the row type of :data:`~cxrlib.chapters.solutions.ANSWERS`, the inputs of a run
resolved on this machine, the closing source line, and the few phrasings several notebooks' answers use.

Run folders are read through :mod:`cxrlib.core.runs` (:func:`~cxrlib.core.runs.read_table`,
:func:`~cxrlib.core.runs.run_params`) and tables are rendered by :func:`~cxrlib.core.runs.markdown_table`,
like every table of the book.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cxrlib.core.runs import folder_anchors, input_path, read_table, run_params, shown_path
from cxrlib.data.root import data_root


@dataclass(frozen=True)
class Answer:
    key: str
    runs: tuple[str, ...]  # run folders below book/_generated/ that the answer reads
    compute: Callable[[dict[str, Path]], str]


def run_input(folder: Path, name: str) -> Path:
    """The input ``name`` that the run in ``folder`` recorded, where it is on this machine (this machine's
    data root, the installed packages, the checkout holding ``folder``); the recorded absolute path only for
    an input outside all of them (or recorded before inputs had locations)."""
    return input_path(folder, name, data_root=data_root())


def shown_input(folder: Path, name: str) -> str:
    """How an answer names an input of the run: by its location, never by a machine's folders."""
    return shown_path(run_input(folder, name), folder_anchors(folder, data_root=data_root()))


def source(*folders: Path) -> str:
    parts = []
    for folder in folders:
        params = run_params(folder)
        parts.append(f"`{folder.name}` (profile {params.get('profile')}, seed {params.get('seed')})")
    return "*Computed from the run folder" + ("s " if len(parts) > 1 else " ") + " and ".join(parts) + ".*"


def probe_rows(folder: Path, task: str | None = None) -> pd.DataFrame:
    """Notebook 06's linear-probe table (``d002_table3``), all tasks or one."""
    table = read_table(folder, "d002_table3")
    return table if task is None else table[table["task"] == task]


def variant_row(table: pd.DataFrame, variant: str):
    """The row of ``table`` whose ``variant`` column is ``variant`` (notebooks 09 and 10)."""
    return table[table["variant"] == variant].iloc[0]


def intervals_overlap(a, b, low: str = "ci_low", high: str = "ci_high") -> bool:
    """Whether the intervals ``[low, high]`` of rows ``a`` and ``b`` share a point."""
    return bool(a[high] >= b[low] and b[high] >= a[low])


def interval(row, low: str = "boot_ci_low", high: str = "boot_ci_high") -> str:
    return f"[{row[low]:+.3f}, {row[high]:+.3f}]"


def settled(row, low: str = "boot_ci_low", high: str = "boot_ci_high") -> str:
    return "excludes 0" if row[low] > 0 or row[high] < 0 else "contains 0"
