"""Benchmark: fast DeLong (Sun & Xu 2014 midranks) vs the direct O(m*n) pairwise computation.

Workload: n = 20,000 images. Default data: the first 20,000 images of the CheXNet test list
with the label that has the most positives (Infiltration), scored by the real CheXNet-reproduction
probabilities (classifier A) and by the same probabilities rounded to two decimals (classifier B,
a coarsened model with heavy ties). ``--synthetic`` uses balanced random data instead
(10,000 positives x 10,000 negatives, the worst case for the pairwise method), and says so.

Both methods compute the same things, in this one process: the AUCs of A and B, DeLong's
variance of each, their covariance, and the paired test's Z (``cxrlib.stats.delong_test`` and
``cxrlib.stats.delong`` for the fast path; the direct path evaluates the kernel psi(x_i, y_j) for
all m*n (positive, negative) pairs, in blocks, to get DeLong's structural components V10 and V01).
Each is timed ``--repeats`` times, median reported. The printed ratio is direct / fast.

    .venv/bin/python benchmarks/bench_delong.py [--n 20000] [--synthetic] [--repeats 3]
"""
from __future__ import annotations

import argparse
import math

import numpy as np
import pandas as pd

from cxrlib.stats import delong_auc as stats
from timing import timed  # benchmarks/timing.py (scripts run from this folder)


def load_real(n):
    from cxrlib.data.root import require_file

    preds = pd.read_csv(require_file("chexnet-predictions", "preds.csv")).set_index("Image Index")
    truth = pd.read_csv(require_file("nih-chexnet-split", "test_list.txt"), sep=r"\s+",
                        header=None).iloc[:n]
    y = truth[4].to_numpy().astype(bool)  # column 4 = Infiltration (CheXNet label order)
    a = preds.loc[truth[0], "prob_Infiltration"].to_numpy()
    return y, a, np.round(a, 2), "real CheXNet probabilities (A) and A rounded to 0.01 (B), Infiltration"


def load_synthetic(n, seed=0):
    rng = np.random.default_rng(seed)
    y = np.zeros(n, bool)
    y[: n // 2] = True
    a = rng.normal(y * 1.0, 1.0)
    b = a + rng.normal(0, 0.5, n)
    return y, a, b, "SYNTHETIC balanced random scores (not real data)"


def direct(y, scores, block=512):
    """AUCs, covariance matrix and Z from the O(m*n) kernel (DeLong et al. 1988, Section 3)."""
    pos, neg = [s[y] for s in scores], [s[~y] for s in scores]
    m, n = int(y.sum()), int((~y).sum())
    v10 = np.zeros((len(scores), m))
    v01 = np.zeros((len(scores), n))
    for k in range(len(scores)):
        for start in range(0, m, block):
            x = pos[k][start:start + block, None]
            psi = (x > neg[k][None, :]).astype(np.float64)
            psi += 0.5 * (x == neg[k][None, :])
            v10[k, start:start + block] = psi.sum(axis=1) / n
            v01[k] += psi.sum(axis=0)
    v01 /= m
    aucs = v10.mean(axis=1)
    cov = np.cov(v10) / m + np.cov(v01) / n
    z = (aucs[0] - aucs[1]) / math.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    return aucs, cov, z


def fast(y, a, b):
    test = stats.delong_test(y, a, b)
    return (np.array([test.auc_a, test.auc_b]),
            np.array([stats.delong(y, a).variance, stats.delong(y, b).variance, test.covariance]),
            test.z)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--synthetic", action="store_true")
    args = parser.parse_args()

    y, a, b, source = load_synthetic(args.n) if args.synthetic else load_real(args.n)
    m, n = int(y.sum()), int((~y).sum())
    print(f"data: {source}: n = {y.size:,} ({m:,} positives x {n:,} negatives = "
          f"{m * n:,} pairs per classifier)")

    t_fast, _, (f_auc, f_var, f_z) = timed(lambda: fast(y, a, b), args.repeats)
    t_direct, _, (d_auc, d_cov, d_z) = timed(lambda: direct(y, [a, b]), args.repeats)
    d_var = np.array([d_cov[0, 0], d_cov[1, 1], d_cov[0, 1]])
    print(f"fast DeLong (delong_test + 2 x delong): median {t_fast * 1000:.1f} ms")
    print(f"direct O(m*n) pairwise DeLong:          median {t_direct * 1000:.1f} ms")
    print(f"AUC A, B: fast {f_auc[0]:.12f}, {f_auc[1]:.12f}; direct {d_auc[0]:.12f}, {d_auc[1]:.12f}")
    print(f"max relative difference: AUC {np.max(np.abs(f_auc - d_auc) / d_auc):.1e}, "
          f"variances/covariance {np.max(np.abs(f_var - d_var) / np.abs(d_var)):.1e}, "
          f"Z {abs(f_z - d_z) / abs(d_z):.1e} (Z = {f_z:.6f})")
    print(f"RATIO direct / fast: {t_direct / t_fast:.0f}x")


if __name__ == "__main__":
    main()
