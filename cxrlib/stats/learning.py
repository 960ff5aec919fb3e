"""Did the model learn? A trained model checked against chance, before anything reads its numbers.

A result is a lesson only if the model learned. Two signs of learning are checked, each against the
level that a model *without information about the image* reaches:

* **The validation metric against its chance level.** AUROC's chance level is 0.5 (a score that ignores
  the image ranks a positive above a negative half of the time). The check asks for the whole
  confidence interval above it (``ci_low > chance``): an estimate above 0.5 whose interval covers 0.5
  is not evidence of learning.
* **The final training loss against the no-information loss.** The no-information loss is the lowest
  loss a *constant* prediction can reach on the training targets (:func:`no_information_loss`): the
  base-rate entropy for an unweighted (binary or multi-label) cross-entropy, ``ln 2`` for a balanced
  binary one, ``ln C`` for document 000's class-weighted softmax, and ``2 (1 - p) ln 2`` per label for
  document 001's BCE with ``pos_weight = negatives / positives``. For contrastive losses the level is
  the loss of embeddings whose similarities are all equal: ``ln(2B - 1)`` for SimCLR's NT-Xent with the
  batch ``B`` the run had, ``ln(K + 1)`` for MoCo with a queue of ``K``
  (:func:`contrastive_no_information_loss`). A final loss within ``margin`` (relative) of that level
  means the model predicts no better than the base rates, whatever its other numbers say.

:func:`check_learning` combines what a run has (either check alone is enough to fail a model; a missing
part is reported as not checked) into a :class:`LearningCheck`, which run folders record
(``learning.json``, :data:`cxrlib.core.runs.LEARNING`, :meth:`LearningCheck.to_dict`), captions state (:meth:`LearningCheck.sentence`)
and the build summary lists when it failed.

:func:`auroc_intervals_below_chance` reads a results table the other way round: it finds the AUROC
intervals that lie wholly below chance (a ranking reversed beyond the test set's noise), which the build
summary lists for every run, so that no such interval reaches the book unexplained.

No torch: the inputs are numbers, arrays and tables.
"""
from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from cxrlib.core.runs import read_learning_records

__all__ = [
    "LearningCheck",
    "auroc_intervals_below_chance",
    "binary_no_information_loss",
    "check_learning",
    "contrastive_no_information_loss",
    "no_information_loss",
    "read_learning_checks",
]

#: How close (relative) to the no-information loss a final loss may come and still count as "at chance":
#: 5 %, so that the ResNet-18 grid rows that ended at 0.683-0.693 against ln 2 = 0.693 (1.5 % below)
#: count as not learned, while a model that learned anything of a rare label moves further.
DEFAULT_MARGIN = 0.05


def _entropy_of_constant(mass: np.ndarray) -> float:
    """``min_q sum_c mass_c * (-ln q_c)`` over distributions ``q``: reached at ``q = mass / sum(mass)``."""
    mass = np.asarray(mass, dtype=float)
    if mass.ndim != 1 or mass.size < 2:
        raise ValueError(f"need the weighted counts of at least two outcomes, got {mass!r}")
    if (mass < 0).any() or not np.isfinite(mass).all():
        raise ValueError(f"weighted counts must be finite and >= 0, got {mass!r}")
    total = mass.sum()
    if total <= 0:
        raise ValueError("no training example: the no-information loss is undefined")
    present = mass > 0
    q = mass[present] / total
    return float(-(mass[present] * np.log(q)).sum())


def no_information_loss(counts: Sequence[float], *, weights: Sequence[float] | None = None,
                        normalize: str = "count") -> float:
    """The lowest loss of a constant prediction under a (class-weighted) softmax cross-entropy.

    ``counts``: training examples per class ``n_c``; ``weights``: the loss weight ``W_c`` of each class
    (``None``: unweighted). ``normalize``: ``"count"`` divides the weighted sum by the number of
    examples (Keras' ``class_weight``), ``"weights"`` by the sum of the weights of the examples
    (PyTorch's ``CrossEntropyLoss(weight=W)``); see :mod:`cxrlib.training.losses`. Unweighted, this is
    the entropy of the class distribution; with document 000's ``W_c = n / (C n_c)`` it is ``ln C``.
    """
    n = np.asarray(counts, dtype=float)
    w = np.ones_like(n) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != n.shape:
        raise ValueError(f"{len(w)} weights for {len(n)} classes")
    norms = {"count": n.sum(), "weights": (w * n).sum()}
    if normalize not in norms:
        raise ValueError(f"normalize must be one of {sorted(norms)}, got {normalize!r}")
    return _entropy_of_constant(w * n) / float(norms[normalize])


def binary_no_information_loss(y_true, *, pos_weight: Sequence[float] | float | None = None) -> float:
    """The lowest loss of a constant prediction under the sigmoid BCE of an N x L (or N) 0/1 target
    matrix, averaged over labels as PyTorch's ``BCEWithLogitsLoss(pos_weight=...)`` does (mean over
    every element). Unweighted: the mean base-rate entropy ``H(p_l)``; with ``pos_weight`` ``(n - n_l) /
    n_l`` (document 001): ``2 (1 - p_l) ln 2`` per label."""
    y = np.asarray(y_true, dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] == 0:
        raise ValueError(f"targets must be N x L with N > 0, got shape {y.shape}")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("targets must be 0 or 1 (mask unknown labels before this check)")
    positives = y.sum(axis=0)
    negatives = y.shape[0] - positives
    pw = np.ones(y.shape[1]) if pos_weight is None else np.broadcast_to(
        np.asarray(pos_weight, dtype=float), (y.shape[1],))
    per_label = [_entropy_of_constant(np.array([pw[k] * positives[k], negatives[k]])) / y.shape[0]
                 for k in range(y.shape[1])]
    return float(np.mean(per_label))


def contrastive_no_information_loss(candidates: int) -> float:
    """``ln(candidates)``: the InfoNCE loss when every candidate is equally similar. SimCLR's NT-Xent
    has ``2B - 1`` candidates for a batch of ``B`` images, MoCo ``K + 1`` with a queue of ``K``."""
    if int(candidates) < 2:
        raise ValueError(f"a contrastive loss needs at least two candidates, got {candidates}")
    return float(math.log(int(candidates)))


@dataclass(frozen=True)
class LearningCheck:
    """The verdict on one trained model (see the module docstring for the rule).

    ``learned`` is True only when every part that was checked passed and at least one part was checked.
    ``reasons`` lists, in words, each part that failed or could not be checked."""

    learned: bool
    metric: str | None = None
    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    chance: float | None = None
    final_loss: float | None = None
    no_information_loss: float | None = None
    margin: float = DEFAULT_MARGIN
    what: str = "model"
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def metric_checked(self) -> bool:
        return self.ci_low is not None

    @property
    def loss_checked(self) -> bool:
        return self.final_loss is not None and self.no_information_loss is not None

    @property
    def label(self) -> str:
        """``"learned"`` or ``"did not learn"`` (``"not checked"`` when nothing could be checked)."""
        if not (self.metric_checked or self.loss_checked):
            return "not checked"
        return "learned" if self.learned else "did not learn"

    def sentence(self) -> str:
        """One sentence for a caption: the verdict and the numbers it rests on."""
        parts = []
        if self.metric_checked:
            side = "above" if self.ci_low > self.chance else "not above"
            parts.append(f"validation {self.metric} {self.estimate:.3f} (95 % CI {self.ci_low:.3f} to "
                         f"{self.ci_high:.3f}), {side} chance {self.chance:g}")
        if self.loss_checked:
            side = "below" if self.final_loss < self.no_information_loss * (1 - self.margin) else "not below"
            parts.append(f"final training loss {self.final_loss:.3f}, {side} the no-information loss "
                         f"{self.no_information_loss:.3f}")
        if not parts:
            return f"Did the {self.what} learn? Not checked: " + "; ".join(self.reasons) + "."
        verdict = "yes" if self.learned else "NO, its numbers are not interpreted"
        return f"Did the {self.what} learn? {verdict}: " + "; ".join(parts) + "."

    def markdown(self) -> str:
        """The sentence for a chapter: plain when the model learned, a MyST warning otherwise (the numbers
        of a model that did not learn are a pipeline demo, never a lesson)."""
        if self.learned:
            return self.sentence()
        return (":::{warning}\n" + self.sentence() + " Its numbers below only show that the pipeline runs "
                "(a pipeline demo); this chapter draws no conclusion from them.\n:::")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["reasons"] = list(self.reasons)
        data["label"] = self.label
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> LearningCheck:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        values["reasons"] = tuple(values.get("reasons", ()))
        return cls(**values)


def _finite(name: str, value) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return value


def check_learning(*, metric: str = "AUROC", estimate: float | None = None, ci_low: float | None = None,
                   ci_high: float | None = None, chance: float = 0.5, final_loss: float | None = None,
                   no_information: float | None = None, margin: float = DEFAULT_MARGIN,
                   what: str = "model") -> LearningCheck:
    """Check a trained model against chance (see the module docstring).

    The metric part needs ``estimate``, ``ci_low`` and ``ci_high`` (a validation metric and its
    confidence interval, higher is better, e.g. a bootstrap of the validation AUROC); it passes when
    ``ci_low > chance``. The loss part needs ``final_loss`` and ``no_information``; it passes when
    ``final_loss < no_information * (1 - margin)``. A part with a NaN value (e.g. an AUROC undefined
    because the validation set has one class) fails, saying why."""
    if not 0 <= margin < 1:
        raise ValueError(f"margin must be in [0, 1), got {margin}")
    reasons: list[str] = []
    passed: list[bool] = []
    metric_given = [v is not None for v in (estimate, ci_low, ci_high)]
    if any(metric_given) and not all(metric_given):
        raise ValueError("give estimate, ci_low and ci_high together (or none of them)")
    if all(metric_given):
        values = [float(v) for v in (estimate, ci_low, ci_high)]
        if not all(math.isfinite(v) for v in values):
            reasons.append(f"validation {metric} is undefined (NaN): one class only, or no prediction")
            passed.append(False)
            estimate = ci_low = ci_high = None
        else:
            estimate, ci_low, ci_high = values
            if ci_low > ci_high:
                raise ValueError(f"ci_low {ci_low} is above ci_high {ci_high}")
            ok = ci_low > chance
            passed.append(ok)
            if not ok:
                reasons.append(f"the 95 % CI of validation {metric} ({ci_low:.3f} to {ci_high:.3f}) reaches "
                               f"down to chance {chance:g}")
    else:
        reasons.append(f"no validation {metric} with an interval")
    if (final_loss is None) != (no_information is None):
        raise ValueError("give final_loss and no_information together (or neither)")
    if final_loss is not None:
        final_loss = _finite("final_loss", final_loss)
        no_information = _finite("no_information", no_information)
        ok = final_loss < no_information * (1 - margin)
        passed.append(ok)
        if not ok:
            reasons.append(f"the final training loss {final_loss:.3f} is not below the no-information loss "
                           f"{no_information:.3f} (a constant prediction reaches it)")
    else:
        reasons.append("no final training loss with its no-information level")
    learned = bool(passed) and all(passed)
    return LearningCheck(learned=learned, metric=metric, estimate=estimate, ci_low=ci_low, ci_high=ci_high,
                         chance=chance, final_loss=final_loss, no_information_loss=no_information,
                         margin=margin, what=what, reasons=tuple(reasons))


def read_learning_checks(folder: str | os.PathLike) -> dict[str, LearningCheck]:
    """Every ``learning.json`` below ``folder`` (a run folder, or a folder of run folders) as a
    :class:`LearningCheck`, keyed by the path of its folder relative to ``folder`` (``"."`` for ``folder``)."""
    return {where: LearningCheck.from_dict(record) for where, record in read_learning_records(folder).items()}


_AUROC_WORDS = re.compile(r"auc|auroc", re.IGNORECASE)
_DIFFERENCE_WORDS = re.compile(r"diff|delta|gain|\s-\s|\u2212", re.IGNORECASE)
_UPPER_END = re.compile(r"(?P<sep>[ _]?)(?P<end>high|upper)$", re.IGNORECASE)
_LOWER_OF = {"high": "low", "upper": "lower"}
_ROW_NAMES = ("metric", "quantity")
#: Stems that name how an interval was computed, not what it is of (``ci_high``, ``boot_ci_high``).
_PLAIN_STEMS = frozenset({"", "boot", "bootstrap", "delong", "clustered", "percentile", "wilson", "exact"})


def _matching_case(word: str, like: str) -> str:
    return word.upper() if like.isupper() else word.capitalize() if like[:1].isupper() else word


def _names_auroc(text: str) -> bool:
    return bool(_AUROC_WORDS.search(text)) and not _DIFFERENCE_WORDS.search(text)


def auroc_intervals_below_chance(table, *, chance: float = 0.5) -> list[str]:
    """The AUROC confidence intervals of ``table`` (a results table as the book writes it) that lie wholly
    below ``chance``: one line per interval, ``"<first cell of the row>: <low column>..<high column> =
    [low, high]"``.

    An interval is a pair of columns ``<stem>low`` / ``<stem>high`` (or ``lower`` / ``upper``; the
    separator a space or ``_``). It is an AUROC interval when its stem (less a trailing ``ci``) names AUROC
    (``auc_ci_high``, ``auroc_expert_high``, ``Test AUC CI high``), or, for a plain stem that only says how
    the interval was computed (``ci_high``, ``boot_ci_high``, ``CI high``), when the row's ``metric`` /
    ``quantity`` cell names AUROC, or else when the table has an AUROC column and no difference column.
    Another metric's interval (``spe_ci_high``) is not one, nor is a difference of two AUROCs (a name
    holding "diff", "delta", "gain" or " - "), whose chance level is 0, not 0.5.
    """
    import pandas as pd

    frame = pd.DataFrame(table)
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    has_difference = any(_DIFFERENCE_WORDS.search(c) for c in columns)
    has_auroc = any(_names_auroc(c) and not _UPPER_END.search(c) and not re.search(r"low(er)?$", c, re.I)
                    for c in columns)
    row_name = next((c for c in _ROW_NAMES if c in columns), None)
    found = []
    for high in columns:
        end = _UPPER_END.search(high)
        if not end:
            continue
        low = high[:end.start("end")] + _matching_case(_LOWER_OF[end["end"].lower()], end["end"])
        if low not in columns:
            continue
        stem = re.sub(r"[ _]?ci$", "", high[:end.start()], flags=re.IGNORECASE)
        if _DIFFERENCE_WORDS.search(stem):
            continue
        if _AUROC_WORDS.search(stem):
            rows = pd.Series(True, index=frame.index)
        elif stem.lower() not in _PLAIN_STEMS:  # another metric's interval (acc_ci_high, spe_ci_high)
            continue
        elif row_name is not None:
            rows = frame[row_name].astype(str).map(_names_auroc)
        else:
            rows = pd.Series(has_auroc and not has_difference, index=frame.index)
        lows = pd.to_numeric(frame[low], errors="coerce")
        highs = pd.to_numeric(frame[high], errors="coerce")
        below = rows & (highs < chance) & (lows <= highs)
        for index in frame.index[below.to_numpy()]:
            where = str(frame.loc[index, columns[0]])
            if row_name is not None and row_name != columns[0]:
                where += f", {frame.loc[index, row_name]}"
            found.append(f"{where}: {low}..{high} = [{lows[index]:.3f}, {highs[index]:.3f}]")
    return found
