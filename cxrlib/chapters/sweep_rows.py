"""Notebook 13 (classroom sweep): the grid's rows replicated over training seeds and compared by paired
differences on the same test images.

Document 000 reports one run per row of its Tables 2-6 and marks the best row by test AUC; rows whose
intervals overlap are *not* thereby equal, nor are rows whose intervals do not overlap thereby
different (the difference of two AUROCs on the same test images has its own, narrower, interval). The
book therefore compares rows through :func:`cxrlib.stats.replicated_auroc_difference` (paired bootstrap
over patients, every seed and row scored on the same redraws) and concludes only under
:attr:`cxrlib.stats.Replicated.verdict` (>= 3 seeds, the interval and every seed agree). A row with a
seed whose model failed the "did it learn?" check (``learning.json`` of its run folder) is marked and
left out of every comparison.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from cxrlib.core.runs import LEARNING, read_json, read_table
from cxrlib.images.tasks import get_task
from cxrlib.stats.replication import Replicated, replicated_auroc, replicated_auroc_difference
from cxrlib.training import sweeps

SEED_AXIS = "seed"


@dataclass
class SweepRows:
    """The finished trials of a sweep grouped into rows (``rows`` axes), one trial per training seed."""

    rows: tuple[str, ...]
    trials: pd.DataFrame  # one per trial: the row axes, seed, learned ("learned"/"did not learn"), trial key
    y: object  # test labels (positive class), in image_id order
    groups: object  # patient of each test image
    n_test: int = 0  # test images common to every trial (the paired comparisons' test set)
    scores: dict[tuple, dict[int, object]] = field(default_factory=dict)  # row -> seed -> test scores

    def learned(self, row: tuple) -> bool:
        """Whether every seed of ``row`` passed the "did it learn?" check."""
        labels = self.trials.loc[self._mask(row), "learned"]
        return bool(len(labels)) and bool((labels == "learned").all())

    def _mask(self, row: tuple):
        mask = pd.Series(True, index=self.trials.index)
        for axis, value in zip(self.rows, row):
            mask &= self.trials[axis].astype(str) == str(value)
        return mask

    def name(self, row: tuple) -> str:
        return ", ".join(f"{axis} {value}" for axis, value in zip(self.rows, row))


def collect(study, sweep: sweeps.Sweep, rows: Sequence[str]) -> SweepRows:
    """Every finished trial's test predictions and learning check, grouped by the ``rows`` axes (the
    remaining axis ``seed`` replicates a row). Test images are matched by ``image_id`` across trials."""
    task = get_task(sweep.fixed["task"])
    positive = task.positive_class
    records, predictions = [], {}
    for key, point, run_dir, _value in sweeps.finished_trials(study, sweep):
        seed = int(point.get(SEED_AXIS, sweep.fixed.get(SEED_AXIS, 0)))
        check = read_json(run_dir / LEARNING) if (run_dir / LEARNING).exists() else {}
        records.append({**{axis: point[axis] for axis in rows}, SEED_AXIS: seed,
                        "learned": check.get("label", "not checked"), "trial_key": key})
        predictions[key] = read_table(run_dir, "predictions_test").sort_values("image_id").reset_index(drop=True)
    trials = pd.DataFrame(records)
    # paired comparisons need the same test images in every trial (a test subset drawn per seed differs)
    common = set.intersection(*(set(frame["image_id"]) for frame in predictions.values())) if predictions else set()
    first = next(iter(predictions.values()), pd.DataFrame(columns=["image_id", positive, "patient_id"]))
    first = first[first["image_id"].isin(common)]
    result = SweepRows(tuple(rows), trials, first[positive].to_numpy(), first["patient_id"].to_numpy(),
                       n_test=len(common))
    if len(set(result.y)) < 2:  # no AUROC on one class (e.g. smoke subsets drawn per seed)
        return result
    for record in records:
        frame = predictions[record["trial_key"]]
        frame = frame[frame["image_id"].isin(common)].reset_index(drop=True)
        row = tuple(record[axis] for axis in rows)
        result.scores.setdefault(row, {})[record[SEED_AXIS]] = frame[f"prob_{positive}"].to_numpy()
    return result


def row_aurocs(data: SweepRows, *, n_boot: int, seed: int = 0) -> list[Replicated]:
    """Test AUROC of every row over its seeds (patient bootstrap of the seed mean), in grid order."""
    return [replicated_auroc(data.y, scores, groups=data.groups, n_boot=n_boot, seed=seed,
                             name=f"{data.name(row)}: test AUROC")
            for row, scores in data.scores.items()]


def row_differences(data: SweepRows, reference: dict, *, n_boot: int, seed: int = 0) -> list[Replicated]:
    """AUROC(row) - AUROC(reference row of the same other axes) for every row that learned, paired by seed
    and by test image. ``reference``: the axis values that define the reference (e.g. ``{"unfrozen_blocks": 0}``)."""
    out = []
    for row, scores in data.scores.items():
        values = dict(zip(data.rows, row))
        ref = tuple(reference.get(axis, values[axis]) for axis in data.rows)
        ref = next((r for r in data.scores if tuple(map(str, r)) == tuple(map(str, ref))), None)
        if ref is None or ref == row or not (data.learned(row) and data.learned(ref)):
            continue
        common = sorted(set(scores) & set(data.scores[ref]))
        out.append(replicated_auroc_difference(
            data.y, {s: scores[s] for s in common}, {s: data.scores[ref][s] for s in common},
            groups=data.groups, n_boot=n_boot, seed=seed, name=f"{data.name(row)} minus {data.name(ref)}"))
    return out


def learning_table(data: SweepRows) -> pd.DataFrame:
    """One line per row: seeds, how many learned, and whether the row is interpreted."""
    rows = []
    for row in dict.fromkeys(tuple(r) for r in data.trials[list(data.rows)].itertuples(index=False)):
        labels = data.trials.loc[data._mask(row), "learned"]
        rows.append({**dict(zip(data.rows, row)), "seeds": len(labels), "learned": int((labels == "learned").sum()),
                     "interpreted": "yes" if data.learned(row) else "NO: a seed did not learn (pipeline demo)"})
    return pd.DataFrame(rows)


def starts(study, sweep: sweeps.Sweep) -> dict[str, str]:
    """What each backbone of the sweep started from (``weights.json`` of its trials; one line per distinct
    start, so a backbone whose trials started differently says so)."""
    from cxrlib.models import WeightsInfo
    from cxrlib.training.finetune import weights_label

    found: dict[str, list[str]] = {}
    for _key, point, run_dir, _value in sweeps.finished_trials(study, sweep):
        label = weights_label(WeightsInfo(**read_json(run_dir / "weights.json")))
        labels = found.setdefault(str(point.get("backbone", sweep.fixed.get("backbone"))), [])
        if label not in labels:
            labels.append(label)
    return {backbone: " | ".join(labels) for backbone, labels in found.items()}


def plot_rows(data: SweepRows, aurocs: Sequence[Replicated], *, title: str = "", axis: str = "unfrozen_blocks"):
    """Test AUROC against ``axis`` per backbone: seed mean with the interval of the seed mean, every seed as
    a dot; a row that did not learn is drawn hollow."""
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6, 3.6))
    by_row = dict(zip(data.scores, aurocs))
    others = [a for a in data.rows if a != axis]
    for group in dict.fromkeys(tuple(row[data.rows.index(a)] for a in others) for row in data.scores):
        members = [row for row in data.scores if tuple(row[data.rows.index(a)] for a in others) == group]
        x = np.arange(len(members))
        labels = [str(row[data.rows.index(axis)]) for row in members]
        means = np.array([by_row[row].mean for row in members])
        line, = ax.plot(x, means, "-", label=", ".join(map(str, group)) or None)
        for i, row in enumerate(members):
            r = by_row[row]
            face = line.get_color() if data.learned(row) else "white"
            ax.plot([i], [r.mean], "o", mfc=face, mec=line.get_color(), ms=7)
            if np.isfinite(r.ci_low):
                ax.plot([i, i], [r.ci_low, r.ci_high], "-", color=line.get_color(), lw=1.5)
            ax.plot(np.full(r.n_seeds, i + 0.12), r.values, ".", color="0.5", ms=4)
        ax.set_xticks(x, labels)
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_xlabel(axis.replace("_", " "))
    ax.set_ylabel("test AUROC")
    if others:
        ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def difference_sentences(differences: Sequence[Replicated]) -> str:
    """One generated sentence per paired difference, concluding only what its verdict allows."""
    return "\n".join(f"- {d.sentence(above=f'{d.name}: the first is better', below=f'{d.name}: the first is worse')}"
                     for d in differences) or "No pair of rows that both learned: no comparison is drawn."


__all__ = ["SweepRows", "collect", "row_aurocs", "row_differences", "learning_table", "starts", "plot_rows",
           "difference_sentences"]
