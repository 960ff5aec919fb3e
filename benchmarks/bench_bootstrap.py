"""Benchmark: vectorised bootstrap of per-label AUROC vs a loop of scikit-learn's roc_auc_score.

Workload (the issue's target): 1,000 redraws x 14 labels x 22,433 images, i.e. the real
CheXNet-reproduction probabilities on the CheXNet test list (``nih-cxr14/chexnet-densenet121-preds``
joined with ``nih-cxr14/chexnet-split/test_list.txt``). ``--synthetic`` uses random data of the
same shape instead (and says so).

Measured in this one process, on the same redraws (``cxrlib.stats.redraw_counts``, same seed):

1. ``cxrlib.stats.bootstrap_auroc`` with the default ``n_jobs=1`` and with one thread per core
   (``n_jobs=-1``), ``--repeats`` times each, median reported; also the patient (cluster) variant.
2. The loop: for each redraw, index the images and call ``sklearn.metrics.roc_auc_score`` once
   per label. It costs about 0.1 s per redraw, so by default only ``--sklearn-redraws`` (50) of
   the 1,000 redraws are timed and the time is scaled linearly to 1,000 (each redraw is an
   independent, identical amount of work); ``--sklearn-redraws 1000`` times the whole loop.
   The two results are compared on the timed redraws.

The printed ratio is (sklearn loop time for all redraws) / (vectorised time, default n_jobs=1).
Targets from the issue: ratio >= 30 and vectorised time <= 3 s on 2 cores.

    .venv/bin/python benchmarks/bench_bootstrap.py [--n-boot 1000] [--sklearn-redraws 50]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from cxrlib.stats import bootstrap as stats
from timing import timed  # benchmarks/timing.py (scripts run from this folder)

NIH_LABELS = ["Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule",
              "Pneumonia", "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis",
              "Pleural_Thickening", "Hernia"]


def load_real():
    from cxrlib.data.nih import patient_of_image
    from cxrlib.data.root import require_file

    preds = pd.read_csv(require_file("chexnet-predictions", "preds.csv")).set_index("Image Index")
    truth = pd.read_csv(require_file("nih-chexnet-split", "test_list.txt"), sep=r"\s+",
                        header=None, names=["Image Index", *NIH_LABELS])
    preds = preds.loc[truth["Image Index"], [f"prob_{name}" for name in NIH_LABELS]]
    patients = truth["Image Index"].map(patient_of_image).to_numpy()
    return (truth[NIH_LABELS].to_numpy(), preds.to_numpy(), patients,
            "real CheXNet-reproduction probabilities on the CheXNet test list")


def load_synthetic(n_images=22_433, n_labels=14, seed=0):
    rng = np.random.default_rng(seed)
    prevalence = np.linspace(0.002, 0.18, n_labels)
    y = rng.random((n_images, n_labels)) < prevalence
    s = rng.normal(y * 1.2, 1.0).astype(np.float32)
    patients = rng.integers(0, n_images // 4, n_images)
    return y, s, patients, "SYNTHETIC random labels and scores (not real data)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--sklearn-redraws", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--synthetic", action="store_true")
    args = parser.parse_args()

    y, s, patients, source = load_synthetic() if args.synthetic else load_real()
    n_images, n_labels = y.shape
    print(f"data: {source}: {n_images:,} images x {n_labels} labels, "
          f"{len(np.unique(patients)):,} patients")
    print(f"machine: {os.cpu_count()} logical CPUs")

    def fast(n_jobs=None, groups=None):
        return stats.bootstrap_auroc(y, s, n_boot=args.n_boot, seed=args.seed, averages=(),
                                     n_jobs=n_jobs, groups=groups)

    t_default, all_default, result = timed(lambda: fast(), args.repeats)
    t_threads, all_threads, _ = timed(lambda: fast(n_jobs=-1), args.repeats)
    t_patient, _, _ = timed(lambda: fast(groups=patients), args.repeats)
    fmt = ", ".join
    print(f"vectorised bootstrap_auroc, {args.n_boot} redraws, default n_jobs=1: median "
          f"{t_default:.3f} s (runs: {fmt(f'{t:.3f}' for t in all_default)})")
    print(f"vectorised bootstrap_auroc, {args.n_boot} redraws, n_jobs=-1 "
          f"({stats._n_jobs(-1)} threads): median {t_threads:.3f} s "
          f"(runs: {fmt(f'{t:.3f}' for t in all_threads)})")
    print(f"vectorised patient (cluster) bootstrap, {args.n_boot} redraws, n_jobs=1: "
          f"median {t_patient:.3f} s")

    k = min(args.sklearn_redraws, args.n_boot)
    counts = np.vstack(list(stats.redraw_counts(n_images, k, args.seed)))
    items = np.arange(n_images)
    loop = np.full((k, n_labels), np.nan)
    start = time.perf_counter()
    for b, row in enumerate(counts):
        idx = np.repeat(items, row)
        yb, sb = y[idx], s[idx]
        for j in range(n_labels):
            loop[b, j] = roc_auc_score(yb[:, j], sb[:, j])
    t_loop_measured = time.perf_counter() - start
    t_loop = t_loop_measured * args.n_boot / k
    how = "measured" if k == args.n_boot else f"{k} redraws measured in {t_loop_measured:.2f} s, " \
        f"scaled linearly to {args.n_boot}"
    print(f"loop of sklearn.metrics.roc_auc_score ({k * n_labels:,} calls): {t_loop:.2f} s "
          f"for {args.n_boot} redraws ({how})")
    diff = np.nanmax(np.abs(result.replicates.to_numpy()[:k] - loop))
    print(f"max |vectorised - sklearn| over the {k} common redraws: {diff:.2e}")

    ratio = t_loop / t_default
    print(f"RATIO sklearn loop / vectorised (n_jobs=1): {ratio:.1f}x "
          f"(target >= 30x: {'met' if ratio >= 30 else 'NOT met'}); "
          f"vectorised time {t_default:.2f} s (target <= 3 s: "
          f"{'met' if t_default <= 3 else 'NOT met'})")
    print(f"RATIO sklearn loop / vectorised (n_jobs=-1): {t_loop / t_threads:.1f}x")


if __name__ == "__main__":
    main()
