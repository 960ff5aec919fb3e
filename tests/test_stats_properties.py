"""Property tests (hypothesis): AUROC and DeLong against their pairwise definitions in exact
rational arithmetic, on inputs with heavy ties, infinities, signed zeros and subnormals."""
from fractions import Fraction

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.stats import norm, rankdata

from cxrlib.stats import metrics as M
from cxrlib import stats as S

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

HARD_VALUES = [-np.inf, -1e308, -1.0, -5e-324, -0.0, 0.0, 5e-324, 1e-310, 0.5, 1.0, 1e308, np.inf]
score_value = st.one_of(
    st.sampled_from(HARD_VALUES),  # extremes, signed zeros, subnormals: many ties
    st.integers(-3, 3).map(float),  # heavy ties
    st.floats(allow_nan=False, allow_infinity=True, width=64),
)


@st.composite
def task(draw, min_per_class=1, n_classifiers=1):
    n = draw(st.integers(2 * min_per_class, 24))
    y = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    assume(min_per_class <= sum(y) <= n - min_per_class)
    scores = [draw(st.lists(score_value, min_size=n, max_size=n)) for _ in range(n_classifiers)]
    return np.array(y), [np.array(s) for s in scores]


def psi(a, b) -> Fraction:
    return Fraction(1) if a > b else Fraction(1, 2) if a == b else Fraction(0)


def exact_delong(y, scores):
    """DeLong et al. (1988) in rational arithmetic: AUCs and the covariance matrix S10/m + S01/n."""
    pos = [i for i in range(len(y)) if y[i]]
    neg = [j for j in range(len(y)) if not y[j]]
    m, n = len(pos), len(neg)
    v10 = [[sum(psi(s[i], s[j]) for j in neg) / n for i in pos] for s in scores]
    v01 = [[sum(psi(s[i], s[j]) for i in pos) / m for j in neg] for s in scores]
    aucs = [sum(v) / m for v in v10]
    k = len(scores)

    def cov(v, size):
        return [[sum((v[r][t] - aucs[r]) * (v[c][t] - aucs[c]) for t in range(size)) / (size - 1)
                 for c in range(k)] for r in range(k)]

    c10, c01 = cov(v10, m), cov(v01, n)
    return aucs, [[c10[r][c] / m + c01[r][c] / n for c in range(k)] for r in range(k)]


@SETTINGS
@given(task())
def test_auroc_equals_pairwise_definition_exactly(data):
    y, (s,) = data
    pairs = [psi(a, b) for a in s[y] for b in s[~y]]
    assert M.auroc(y, s) == float(sum(pairs) / len(pairs))


@SETTINGS
@given(task(min_per_class=2))
def test_delong_variance_equals_exact_pairwise_computation(data):
    y, (s,) = data
    aucs, cov = exact_delong(y, [s])
    r = S.delong(y, s) if aucs[0] not in (0, 1) and len(set(s.tolist())) > 1 else _quiet_delong(y, s)
    assert r.auc == float(aucs[0])
    assert r.variance == float(cov[0][0])  # both exact: the same correctly rounded float


def _quiet_delong(y, s):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", S.DegenerateAUCWarning)
        return S.delong(y, s)


@SETTINGS
@given(task(min_per_class=2, n_classifiers=2))
def test_delong_test_equals_exact_pairwise_computation(data):
    y, (a, b) = data
    aucs, cov = exact_delong(y, [a, b])
    t = S.delong_test(y, a, b)
    var = cov[0][0] + cov[1][1] - 2 * cov[0][1]
    assert t.difference == float(aucs[0] - aucs[1])
    assert t.variance == float(var)
    assert t.covariance == float(cov[0][1])
    if var == 0:
        assert t.z == (0.0 if aucs[0] == aucs[1] else np.sign(float(aucs[0] - aucs[1])) * np.inf)
    else:
        assert np.isclose(t.z, float(aucs[0] - aucs[1]) / float(var) ** 0.5, rtol=1e-12, atol=0)
    # two-sided normal p-value of that Z (1 when Z = 0, 0 when |Z| is infinite)
    assert np.isclose(t.p_value, 1.0 if t.z == 0 else min(1.0, 2 * norm.sf(abs(t.z))), rtol=1e-12, atol=0)


@SETTINGS
@given(task(min_per_class=2))
def test_rank_identical_classifiers_give_z0_p1(data):
    y, (s,) = data
    t = S.delong_test(y, s, rankdata(s))  # same order and ties, different values
    assert (t.difference, t.variance, t.z, t.p_value) == (0.0, 0.0, 0.0, 1.0)


@SETTINGS
@given(task(), st.integers(0, 2**32 - 1))
def test_bootstrap_replicates_equal_auroc_of_the_redrawn_sample(data, seed):
    y, (s,) = data
    res = S.bootstrap_auroc(y, s, ["x"], n_boot=4, seed=seed, averages=())
    counts = np.vstack(list(S.redraw_counts(len(y), 4, seed)))
    for b, row in enumerate(counts):
        idx = np.repeat(np.arange(len(y)), row)
        got = res.replicates["x"][b]
        if y[idx].all() or not y[idx].any():
            assert np.isnan(got)
        else:
            assert got == M.auroc(y[idx], s[idx])


@SETTINGS
@given(task())
def test_roc_curve_area_equals_auroc(data):
    y, (s,) = data
    curve = M.roc_curve(y, s)
    assert np.isclose(np.trapezoid(curve.tpr, curve.fpr), M.auroc(y, s), rtol=0, atol=1e-12)
    assert np.all(np.diff(curve.tpr) >= 0) and np.all(np.diff(curve.fpr) >= 0)


@SETTINGS
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=40))
def test_kappa_equals_its_definition(pairs):
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    n = len(pairs)
    po = Fraction(int(np.sum(a == b)), n)
    pe = Fraction(int(a.sum()) * int(b.sum()) + int((~a).sum()) * int((~b).sum()), n * n)
    k = M.cohen_kappa(a, b)
    if pe == 1:
        assert np.isnan(k)
    else:
        assert k == float((po - pe) / (1 - pe))
