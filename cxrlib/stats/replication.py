"""Replication over training seeds: the seed spread beside the test-set interval, and when to conclude.

A classroom comparison ("the SSL start beats the random start") carries two kinds of uncertainty:

- **the test set** is a sample: its bootstrap interval (images, or patients where patients repeat) says
  how far the number would move on another test set of the same kind;
- **training** is random (initial weights, batch order, augmentation): retraining with another seed
  moves the number too, and a single run cannot show by how much.

The documents report one training run per configuration with a test-set interval (document 001:
1,000 redraws; document 004: 500), which speaks to the first only. The book replicates every
comparison it concludes from over at least :data:`MIN_SEEDS` training seeds and reports both:

- ``values``: the quantity on the full test set, one per seed (its mean, sd, min and max are the
  *seed spread*);
- ``ci_low`` / ``ci_high``: the percentile interval of the *seed mean* over test-set redraws, every
  seed scored on the same redraws (so the interval of a difference is paired).

**The rule** (:attr:`Replicated.verdict`): the book concludes "above" (or "below") ``null`` only when
both agree: the interval excludes ``null`` *and* every seed lies on the same side of it. Otherwise the
verdict is "inconclusive"; with fewer than :data:`MIN_SEEDS` seeds it is "not replicated" (a smoke or
single-seed run). This rule is ours (a conservative pairing of two checks), not the documents'.

Light: numpy and pandas only; never torch.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxrlib.stats.bootstrap import DOCUMENT_001_REDRAWS, auroc_replicates, percentile_ci, resampling_unit
from cxrlib.stats.checks import check_alpha

__all__ = [
    "MIN_SEEDS",
    "VERDICTS",
    "TABLE_COLUMNS",
    "Replicated",
    "replicated_values",
    "replicated_auroc",
    "replicated_auroc_difference",
    "replication_table",
]

#: Fewest training seeds from which the book draws a conclusion (the project's rule).
MIN_SEEDS = 3
#: What :attr:`Replicated.verdict` can say.
VERDICTS = ("above", "below", "inconclusive", "not replicated")
#: The columns of :func:`replication_table`, also when there is no row (nothing to compare).
TABLE_COLUMNS = ("quantity", "n_seeds", "seeds", "mean", "sd", "min", "max", "ci_low", "ci_high", "null",
                 "resampled", "verdict")


@dataclass(frozen=True)
class Replicated:
    """One quantity measured once per training seed, with the test-set interval of its seed mean.

    ``name`` says what it is (e.g. ``"AUROC(SSL) - AUROC(random)"``); ``null`` is the value that
    means "no effect" (0 for a difference, 0.5 for an AUROC against chance); ``unit`` is what the
    interval resampled (``"image"``, ``"patient"``, or ``"none"`` when no interval was computed).
    """

    name: str
    seeds: tuple[int, ...]
    values: tuple[float, ...]
    ci_low: float
    ci_high: float
    null: float = 0.0
    unit: str = "image"
    alpha: float = 0.05

    def __post_init__(self):
        if len(self.seeds) != len(self.values) or not self.seeds:
            raise ValueError(f"{self.name}: give one value per seed (seeds {self.seeds}, values {self.values})")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"{self.name}: seeds repeat: {self.seeds}")

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def sd(self) -> float:
        """Sample standard deviation over seeds (NaN for one seed)."""
        return float(np.std(self.values, ddof=1)) if self.n_seeds > 1 else math.nan

    @property
    def low(self) -> float:
        return float(np.min(self.values))

    @property
    def high(self) -> float:
        return float(np.max(self.values))

    @property
    def verdict(self) -> str:
        """``"above"`` / ``"below"`` ``null`` when the interval and every seed agree, else
        ``"inconclusive"``; ``"not replicated"`` with fewer than :data:`MIN_SEEDS` seeds."""
        if self.n_seeds < MIN_SEEDS:
            return "not replicated"
        values = np.asarray(self.values)
        if self.ci_low > self.null and np.all(values > self.null):
            return "above"
        if self.ci_high < self.null and np.all(values < self.null):
            return "below"
        return "inconclusive"

    @property
    def concluded(self) -> bool:
        return self.verdict in ("above", "below")

    def spread_text(self, digits: int = 3) -> str:
        """``"0.912 (seeds 0.905 to 0.918, sd 0.007; 95 % CI 0.890 to 0.930 over patients)"``."""
        f = f"{{:.{digits}f}}"
        parts = [f.format(self.mean)]
        if self.n_seeds > 1:
            parts.append(f"({self.n_seeds} seeds {f.format(self.low)} to {f.format(self.high)}, "
                         f"sd {f.format(self.sd)}")
        else:
            parts.append("(1 seed")
        if self.unit != "none" and math.isfinite(self.ci_low):
            level = round(100 * (1 - self.alpha))
            parts[-1] += (f"; {level} % CI of the seed mean {f.format(self.ci_low)} to "
                          f"{f.format(self.ci_high)} over {self.unit}s)")
        else:
            parts[-1] += ")"
        return " ".join(parts)

    def sentence(self, *, above: str, below: str, inconclusive: str | None = None) -> str:
        """A generated sentence that concludes only what :attr:`verdict` allows.

        ``above`` / ``below`` are the claims for each direction (e.g. ``"the SSL start beats the
        random start"``); the numbers follow. An inconclusive or unreplicated result never states
        either claim."""
        numbers = f"{self.name} = {self.spread_text()}"
        verdict = self.verdict
        if verdict == "above":
            return f"{above[:1].upper()}{above[1:]}: {numbers}."
        if verdict == "below":
            return f"{below[:1].upper()}{below[1:]}: {numbers}."
        if verdict == "not replicated":
            return (f"Not replicated ({self.n_seeds} training seed{'s' if self.n_seeds != 1 else ''}, "
                    f"fewer than {MIN_SEEDS}): no conclusion is drawn; {numbers}.")
        default = ("the seeds and the test-set interval do not agree on a direction, so no difference "
                   "is claimed")
        return f"{(inconclusive or default)[:1].upper()}{(inconclusive or default)[1:]}: {numbers}."

    def row(self) -> dict:
        """One table row (the keys are :data:`TABLE_COLUMNS`): name, seeds, mean, sd, min, max, interval,
        unit, verdict."""
        values = (self.name, self.n_seeds, " ".join(map(str, self.seeds)), self.mean, self.sd, self.low, self.high,
                  self.ci_low, self.ci_high, self.null, self.unit, self.verdict)
        return dict(zip(TABLE_COLUMNS, values))


def _by_seed(scores: Mapping[int, object], what: str) -> tuple[tuple[int, ...], list]:
    if not isinstance(scores, Mapping) or not scores:
        raise ValueError(f"{what}: give a mapping training seed -> scores, with at least one seed")
    seeds = tuple(sorted(int(s) for s in scores))
    return seeds, [scores[s] for s in sorted(scores)]


def replicated_values(values: Mapping[int, float], *, ci: tuple[float, float] | None = None,
                      null: float = 0.0, name: str = "value", unit: str = "image",
                      alpha: float = 0.05) -> Replicated:
    """A :class:`Replicated` from values computed elsewhere (one per seed) and, where there is one,
    the interval of their mean (``ci``). Without ``ci`` the verdict is "inconclusive" (or "not
    replicated"): the rule needs both the seeds and a test-set interval."""
    check_alpha(alpha)
    seeds, vals = _by_seed(values, name)
    vals = tuple(float(v) for v in vals)
    if ci is None:
        return Replicated(name, seeds, vals, math.nan, math.nan, null, "none", alpha)
    low, high = (float(c) for c in ci)
    if low > high:
        raise ValueError(f"{name}: ci_low {low} is above ci_high {high}")
    return Replicated(name, seeds, vals, low, high, null, unit, alpha)


def replicated_auroc(y_true, scores: Mapping[int, object], *, null: float = 0.5, name: str = "AUROC",
                     groups=None, n_boot: int = DOCUMENT_001_REDRAWS, seed: int = 0,
                     alpha: float = 0.05) -> Replicated:
    """AUROC of one configuration trained with several seeds (``scores``: seed -> test scores), with
    the bootstrap interval of the seed-mean AUROC (patients with ``groups``). The default ``null``
    0.5 makes the verdict "above chance"."""
    check_alpha(alpha)
    seeds, arrays = _by_seed(scores, name)
    estimates, reps = auroc_replicates(y_true, arrays, n_boot=n_boot, seed=seed, groups=groups)
    low, high = percentile_ci(reps.mean(axis=1), alpha)
    return Replicated(name, seeds, tuple(map(float, estimates)), float(low), float(high), null,
                      resampling_unit(groups), alpha)


def replicated_auroc_difference(y_true, scores_a: Mapping[int, object], scores_b: Mapping[int, object], *,
                                name: str = "AUROC(A) - AUROC(B)", groups=None,
                                n_boot: int = DOCUMENT_001_REDRAWS, seed: int = 0,
                                alpha: float = 0.05) -> Replicated:
    """AUROC(A) - AUROC(B) per training seed on one test set, with the paired bootstrap interval of
    the seed-mean difference (every arm and seed scored on the same redraws; patients with
    ``groups``). Seeds pair by key: both mappings must have the same seeds."""
    check_alpha(alpha)
    seeds_a, arrays_a = _by_seed(scores_a, f"{name} (A)")
    seeds_b, arrays_b = _by_seed(scores_b, f"{name} (B)")
    if seeds_a != seeds_b:
        raise ValueError(f"{name}: arms A and B must share their training seeds, got {seeds_a} and {seeds_b}")
    k = len(seeds_a)
    estimates, reps = auroc_replicates(y_true, arrays_a + arrays_b, n_boot=n_boot, seed=seed, groups=groups)
    diffs = estimates[:k] - estimates[k:]
    low, high = percentile_ci((reps[:, :k] - reps[:, k:]).mean(axis=1), alpha)
    return Replicated(name, seeds_a, tuple(map(float, diffs)), float(low), float(high), 0.0,
                      resampling_unit(groups), alpha)


def replication_table(results: Sequence[Replicated], *, digits: int | None = None) -> pd.DataFrame:
    """One row per :class:`Replicated` (see :meth:`Replicated.row`), ready for an artifact; without results,
    a table of :data:`TABLE_COLUMNS` and no row (its CSV still has a header to read back)."""
    table = pd.DataFrame([r.row() for r in results], columns=list(TABLE_COLUMNS))
    if digits is not None and not table.empty:
        numeric = ["mean", "sd", "min", "max", "ci_low", "ci_high"]
        table[numeric] = table[numeric].round(digits)
    return table

