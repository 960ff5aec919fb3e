"""Exact binomial intervals and the matched-pair permutation test (cxrlib.stats.proportion), no torch."""
import math

import numpy as np
import pytest
from scipy.stats import beta

from cxrlib.stats.localisation import localisation_scores, localisation_summary
from cxrlib.stats.proportion import binomial_ci, matched_permutation_test


def test_zero_of_three_is_not_the_degenerate_bootstrap_interval():
    ci = binomial_ci(0, 3)
    assert (ci.estimate, ci.ci_low) == (0.0, 0.0)
    assert ci.ci_high == pytest.approx(1 - 0.025 ** (1 / 3), abs=1e-9)  # 0.708: solves (1 - p)^3 = alpha / 2
    assert ci.text() == "0/3 = 0.00 (95 % exact binomial (Clopper-Pearson) CI 0.00 to 0.71)"


@pytest.mark.parametrize("k,n", [(1, 3), (3, 10), (7, 7), (12, 40)])
def test_exact_interval_is_the_beta_quantiles(k, n):
    ci = binomial_ci(k, n, alpha=0.1)
    low = 0.0 if k == 0 else beta.ppf(0.05, k, n - k + 1)
    high = 1.0 if k == n else beta.ppf(0.95, k + 1, n - k)
    assert (ci.ci_low, ci.ci_high) == (pytest.approx(low), pytest.approx(high))
    assert ci.ci_low <= k / n <= ci.ci_high


def test_exact_interval_covers_at_least_its_level():
    n, alpha = 8, 0.05
    grid = np.linspace(0.01, 0.99, 50)
    cis = [binomial_ci(k, n, alpha=alpha) for k in range(n + 1)]
    from scipy.stats import binom

    for p in grid:
        coverage = sum(binom.pmf(k, n, p) for k, ci in enumerate(cis) if ci.ci_low <= p <= ci.ci_high)
        assert coverage >= 1 - alpha - 1e-9


def test_binomial_ci_inputs():
    none = binomial_ci(0, 0)
    assert none.n == 0 and math.isnan(none.estimate) and none.text() == "0/0: no trial"
    assert binomial_ci(2, 10, method="wilson").method == "Wilson score"
    for k, n in [(4, 3), (-1, 3), (1.5, 3)]:
        with pytest.raises(ValueError, match="whole numbers"):
            binomial_ci(k, n)
    with pytest.raises(ValueError, match="unknown method"):
        binomial_ci(1, 3, method="bootstrap")


def test_pointing_game_summary_uses_the_exact_interval():
    miss = np.zeros((16, 16))
    miss[15, 15] = 1.0
    scores = localisation_scores([miss] * 3, [(0, 0, 4, 4)] * 3)
    summary = localisation_summary(scores, n_boot=100, seed=0).set_index("metric")
    hit = summary.loc["pointing game hit rate"]
    assert (hit["estimate"], hit["ci_low"]) == (0.0, 0.0) and hit["ci_high"] == pytest.approx(0.708, abs=1e-3)
    assert hit["interval"].startswith("exact binomial")
    assert summary.loc["energy in box", "interval"].startswith("percentile bootstrap")


def test_matched_permutation_test_finds_matched_pairs_and_not_unrelated_ones():
    rng = np.random.default_rng(0)
    n = 7
    noise = rng.normal(0, 0.1, (n, n))
    matched = noise + np.eye(n) * 0.5 + 0.2  # same item more similar, on top of a shared similarity of 0.2
    result = matched_permutation_test(matched)
    assert result.exact and result.permutations == math.factorial(n)
    assert result.p_value == pytest.approx(1 / math.factorial(n))
    assert result.unmatched == pytest.approx(noise[~np.eye(n, dtype=bool)].mean() + 0.2)
    unrelated = matched_permutation_test(noise + 0.2)
    assert unrelated.p_value > 0.05
    # Monte Carlo above the permutation budget: p-value with the +1 correction, reproducible by seed
    big = rng.normal(0, 0.1, (12, 12)) + np.eye(12)
    mc = matched_permutation_test(big, permutations=999, seed=3)
    assert not mc.exact and mc.p_value == pytest.approx(1 / 1000)
    assert mc == matched_permutation_test(big, permutations=999, seed=3)


def test_matched_permutation_test_with_too_few_items_cannot_reject():
    two = matched_permutation_test(np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert two.p_value == 0.5 and not two.can_reject(0.05)
    assert matched_permutation_test(np.eye(4)).can_reject(0.05)  # 1 / 24
    # a constant map gives NaN correlations: no similarity, not an error
    with_nan = matched_permutation_test(np.array([[1.0, np.nan, 0.1], [0.1, np.nan, 0.0], [0.0, np.nan, 1.0]]))
    assert math.isfinite(with_nan.p_value)
    with pytest.raises(ValueError, match="square"):
        matched_permutation_test(np.ones((2, 3)))
