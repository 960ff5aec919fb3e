"""Multiplicity adjustment of a family of p-values: Benjamini–Hochberg's false discovery rate, document 001's
choice ("multiplicity-adjusted p-values by the false discovery rate", family-wise alpha 0.05)."""
from __future__ import annotations

import numpy as np


def fdr_bh(p_values) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (statsmodels ``multipletests(method="fdr_bh")``),
    document 001's multiplicity adjustment. NaN entries stay NaN and do not count in the family."""
    from statsmodels.stats.multitest import (
        multipletests,  # heavy import, only when needed
    )

    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="fdr_bh")[1]
    return out
