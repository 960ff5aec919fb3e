"""Input checks shared by the statistics modules: the level ``alpha``, the number of bootstrap redraws, and
the patient (cluster) id per image.

Each check raises ``ValueError`` naming the parameter and what it should be, before any work is done.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def check_alpha(alpha: float) -> float:
    """``alpha`` must lie strictly between 0 and 1 (0.05 for a 95% interval); returned unchanged."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (0.05 for a 95% interval), got {alpha}")
    return alpha


def check_n_boot(n_boot) -> int:
    """``n_boot`` must be a whole number of redraws, at least 1 (checked before any work is done)."""
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a whole number of bootstrap redraws, at least 1 (document 001 "
                         f"uses 1000, document 004 500), got {n_boot!r}")
    return int(n_boot)


def check_boot_args(n_boot, alpha: float) -> int:
    """:func:`check_alpha` and :func:`check_n_boot` together; returns ``n_boot`` as an ``int``."""
    check_alpha(alpha)
    return check_n_boot(n_boot)


def group_codes(groups, n_items: int) -> np.ndarray:
    """One integer code per image for ``groups`` (a patient id per image), 0 .. P - 1 in order of first
    appearance; ``ValueError`` when the length is not ``n_items`` or an id is missing."""
    codes, _ = pd.factorize(pd.Series(np.asarray(groups)), use_na_sentinel=True)
    if codes.shape != (n_items,):
        raise ValueError(f"groups has {codes.shape[0]} entries for {n_items} images")
    if (codes < 0).any():
        raise ValueError("groups (patient ids) contain missing values")
    return codes
