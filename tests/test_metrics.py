"""Metrics against scikit-learn / statsmodels / scipy, and the rules on hand-made cases."""

import json

import numpy as np
import pytest
from scipy.stats import beta
from sklearn.metrics import roc_auc_score, roc_curve
from statsmodels.stats.proportion import proportion_confint

from muaudit.errors import ConfigError, DataError
from muaudit.metrics import (auc, balanced_accuracy, bootstrap_auc_ci, clopper_pearson, epsilon_from_counts,
                             epsilon_lower_bound, roc, summarize, tpr_at_fpr)


def random_case(seed, n=400, ties=False):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    s = rng.normal(size=n) + 0.8 * y
    return (np.round(s, 1) if ties else s), y


@pytest.mark.parametrize("seed,ties", [(0, False), (1, True), (2, True)])
def test_roc_auc_match_sklearn(seed, ties):
    s, y = random_case(seed, ties=ties)
    fpr, tpr, thr = roc(y, s)
    ref = roc_curve(y, s, drop_intermediate=False)
    for a, b in zip((fpr, tpr, thr), ref):
        np.testing.assert_array_equal(a, b)
    assert auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def brute_force_rates(s, y):
    """TPR and FPR of "member if score >= t" for every distinct t, plus the empty rule."""
    ts = np.r_[np.inf, np.unique(s)]
    tpr = np.array([(s[y] >= t).mean() for t in ts])
    fpr = np.array([(s[~y] >= t).mean() for t in ts])
    return tpr, fpr


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_balanced_accuracy_and_tpr_at_fpr_match_brute_force(seed):
    s, y = random_case(seed, ties=seed > 0)
    tpr, fpr = brute_force_rates(s, y)
    assert balanced_accuracy(y, s) == pytest.approx(np.max(1 - (fpr + 1 - tpr) / 2))
    for alpha in (0.01, 0.05, 0.1, 0.3):
        r = tpr_at_fpr(y, s, alpha)
        assert r.measurable
        assert r.tpr == pytest.approx(tpr[fpr <= alpha].max())
        assert r.fpr <= alpha


def test_tpr_at_fpr_hand_cases():
    # non-members 0..9, members at 9.5 (above all) and 4.5, 4.6 (above 5 of the negatives)
    s = np.r_[np.arange(10.0), 9.5, 4.5, 4.6]
    y = np.r_[np.zeros(10, bool), np.ones(3, bool)]
    # FPR 0.1 allows exactly one negative (9.0) above the threshold: only the 9.5 member is caught
    r = tpr_at_fpr(y, s, 0.1)
    assert (r.tpr, r.fpr, r.n_true_positives) == (pytest.approx(1 / 3), 0.0, 1)
    # FPR 0.5 reaches threshold 4.5: all members, 5 negatives (5..9) -> FPR exactly 0.5
    r = tpr_at_fpr(y, s, 0.5)
    assert (r.tpr, r.fpr) == (1.0, 0.5)
    # FPR 0.49: no interpolation above alpha -> threshold 9.5 or 5.0, TPR 1/3
    assert tpr_at_fpr(y, s, 0.49).tpr == pytest.approx(1 / 3)
    # a tie straddling the budget: negatives and a member share score 7 -> that threshold costs FPR 0.3
    s2, y2 = np.r_[np.arange(10.0), 7.0], np.r_[np.zeros(10, bool), True]
    assert tpr_at_fpr(y2, s2, 0.2).tpr == 0.0
    assert tpr_at_fpr(y2, s2, 0.3).tpr == 1.0


def test_tpr_at_fpr_unmeasurable_below_one_over_n_neg():
    s, y = random_case(0, n=150)
    n_neg = int((~y).sum())
    low = tpr_at_fpr(y, s, 0.99 / n_neg)
    assert not low.measurable and low.tpr is None and low.fpr is None
    assert tpr_at_fpr(y, s, 1.0 / n_neg).measurable


def test_clopper_pearson_matches_statsmodels_and_beta_quantiles():
    k, n = np.array([0, 1, 7, 20, 20]), np.array([20, 20, 20, 20, 50])
    lo, hi = clopper_pearson(k, n, level=0.9)
    ref = proportion_confint(k, n, alpha=0.1, method="beta")
    np.testing.assert_allclose(lo, ref[0])
    np.testing.assert_allclose(hi, ref[1])
    inner = (k > 0) & (k < n)
    np.testing.assert_allclose(lo[inner], beta.ppf(0.05, k[inner], n[inner] - k[inner] + 1))
    np.testing.assert_allclose(hi[inner], beta.ppf(0.95, k[inner] + 1, n[inner] - k[inner]))
    assert hi[0] == pytest.approx(1 - 0.05 ** (1 / 20))


def test_bootstrap_auc_ci_equals_naive_bootstrap_and_is_seeded():
    s, y = random_case(3, n=200, ties=True)
    pos, neg = s[y], s[~y]
    rng = np.random.default_rng(7)
    naive = []
    for _ in range(60):
        p, q = pos[rng.integers(0, pos.size, pos.size)], neg[rng.integers(0, neg.size, neg.size)]
        naive.append(roc_auc_score(np.r_[np.ones(p.size), np.zeros(q.size)], np.r_[p, q]))
    expected = np.quantile(naive, [0.025, 0.975])
    got = bootstrap_auc_ci(y, s, n_bootstrap=60, random_state=7)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    assert got == bootstrap_auc_ci(y, s, n_bootstrap=60, random_state=7)
    assert got[0] < auc(y, s) < got[1]


def test_epsilon_from_counts_formula_and_zeros():
    delta, n_neg, n_pos = 1e-5, 400, 300
    fpr_hi = proportion_confint(3, n_neg, alpha=0.05, method="beta")[1]
    fnr_hi = proportion_confint(40, n_pos, alpha=0.05, method="beta")[1]
    expected = max(np.log((1 - delta - fpr_hi) / fnr_hi), np.log((1 - delta - fnr_hi) / fpr_hi), 0)
    assert float(epsilon_from_counts(3, 40, n_neg, n_pos)) == pytest.approx(expected)
    edge = epsilon_from_counts(np.array([0, n_neg, 0]), np.array([0, 0, n_pos]), n_neg, n_pos)
    assert np.isfinite(edge).all() and (edge >= 0).all()
    u_neg, u_pos = 1 - 0.025 ** (1 / n_neg), 1 - 0.025 ** (1 / n_pos)  # CP upper bounds of 0 errors
    assert edge[0] == pytest.approx(max(np.log((1 - delta - u_neg) / u_pos), np.log((1 - delta - u_pos) / u_neg)))
    assert edge[1] == 0 and edge[2] == 0  # every non-member (member) misclassified: no evidence


def test_epsilon_lower_bound_random_vs_separable():
    for seed in range(5):
        rng = np.random.default_rng(seed)
        s, y = rng.normal(size=1000), rng.random(1000) < 0.5
        eps = epsilon_lower_bound(y, s, random_state=seed)
        assert eps == 0.0  # measured: 0.0 for seeds 0-4 (CP bounds keep chance attacks at zero)
    s = np.r_[np.full(1000, 1.0), np.zeros(1000)]
    eps = epsilon_lower_bound(s > 0.5, s)
    # 500 + 500 held-out examples, no errors: log((1 - 1e-5 - u) / u) with u = 1 - 0.025^(1/500)
    u = 1 - 0.025 ** (1 / 500)
    assert eps == pytest.approx(np.log((1 - 1e-5 - u) / u))
    assert 4.8 < eps < 5.0


def test_epsilon_lower_bound_tiny_input_warns_and_returns_zero():
    with pytest.warns(UserWarning, match="epsilon lower bound needs"):
        assert epsilon_lower_bound([0, 1, 0], [0.2, 0.9, 0.1]) == 0.0


def test_summarize_block_is_json_ready():
    s, y = random_case(4, n=3000)
    block = summarize(y, s, n_bootstrap=200)
    json.dumps(block, allow_nan=False)
    assert set(block) == {"auc", "auc_ci", "balanced_accuracy", "balanced_accuracy_ci", "tpr_at_fpr",
                          "epsilon_lower_bound", "n_pos", "n_neg", "level"}
    assert list(block["tpr_at_fpr"]) == ["0.001", "0.01", "0.1"]
    assert block["auc"] == pytest.approx(roc_auc_score(y, s))
    assert block["auc_ci"][0] < block["auc"] < block["auc_ci"][1]
    entry = block["tpr_at_fpr"]["0.01"]
    r = tpr_at_fpr(y, s, 0.01)
    lo, hi = proportion_confint(r.n_true_positives, r.n_pos, alpha=0.05, method="beta")
    assert entry == {"tpr": r.tpr, "ci": [lo, hi], "fpr": r.fpr, "measurable": True}
    lo, hi = block["balanced_accuracy_ci"]
    assert lo < block["balanced_accuracy"] < hi
    assert (block["n_pos"], block["n_neg"]) == (int(y.sum()), int((~y).sum()))


def test_summarize_marks_unmeasurable_fprs():
    s, y = random_case(5, n=300)
    entry = summarize(y, s, n_bootstrap=50)["tpr_at_fpr"]["0.001"]
    assert entry == {"tpr": None, "ci": None, "fpr": None, "measurable": False}


@pytest.mark.parametrize("call,error,message", [
    (lambda: tpr_at_fpr([0, 1], [0.1, 0.2], 1.5), ConfigError, "Expected `alpha` in (0, 1), got 1.5"),
    (lambda: summarize([0, 1], [0.1, 0.2], level=0), ConfigError, "Expected `level` in (0, 1), got 0"),
    (lambda: auc([1, 1], [0.1, 0.2]), DataError, "Expected both members and non-members"),
    (lambda: auc([0, 1], [0.1, np.nan]), DataError, "`y_score` has a non-finite value nan at index 1"),
    (lambda: auc([0, 1], [0.1, 0.2, 0.3]), DataError, "Expected `y_true` and `y_score` of one shape"),
    (lambda: auc([0, 2], [0.1, 0.2]), DataError, "Expected `y_true` to be bool or 0/1 (1 = member)"),
    (lambda: auc([0.1, 0.2], [False, True]), DataError, "labels come first, then scores: (y_true, y_score)"),
    (lambda: bootstrap_auc_ci([0, 1], [0.1, 0.2], n_bootstrap=0), ConfigError, "Expected `n_bootstrap`"),
])
def test_bad_input_errors(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value)


def _clustered_null(r):
    """80 examples, each scored 8 times (2 positive, 6 negative cases) with an example-level bias
    per side drawn from one law: AUC 0.5 in expectation, cases of one example correlated."""
    rng = np.random.default_rng(r)
    ex = np.repeat(np.arange(80), 8)
    y = np.tile(np.r_[np.ones(2, bool), np.zeros(6, bool)], 80)
    u, v = rng.normal(0, 1, 80), rng.normal(0, 1, 80)
    return np.where(y, u[ex], v[ex]) + rng.normal(0, 0.5, ex.size), y, ex


@pytest.mark.slow  # measured: 1.9 s CPU (the fast loop, docs/development.md)
def test_cluster_bootstrap_keeps_its_coverage_when_cases_share_an_example():
    # measured over these 100 draws: the case bootstrap misses 0.5 in 25 (nominal 5), the cluster one in 2
    miss_cases = miss_clusters = 0
    for r in range(100):
        s, y, ex = _clustered_null(r)
        lo, hi = bootstrap_auc_ci(y, s, n_bootstrap=200, random_state=r)
        miss_cases += not lo <= 0.5 <= hi
        lo, hi = bootstrap_auc_ci(y, s, n_bootstrap=200, random_state=r, groups=ex)
        miss_clusters += not lo <= 0.5 <= hi
    assert miss_cases >= 12 and miss_clusters <= 8


def test_cluster_bootstrap_with_singleton_groups_is_the_case_bootstrap():
    rng = np.random.default_rng(0)
    s, y = np.r_[rng.normal(1, 1, 200), rng.normal(0, 1, 200)], np.arange(400) < 200
    a = bootstrap_auc_ci(y, s, n_bootstrap=2000)
    b = bootstrap_auc_ci(y, s, n_bootstrap=2000, groups=np.arange(400))
    assert abs(a[0] - b[0]) < 0.01 and abs(a[1] - b[1]) < 0.01  # measured 0.002 / 0.001 apart
    with pytest.raises(DataError):
        bootstrap_auc_ci(y, s, groups=np.arange(3))


@pytest.mark.slow  # measured: 3.4 s CPU (the fast loop, docs/development.md)
def test_two_way_cluster_bootstrap_covers_crossed_example_and_model_effects():
    # 60 examples x 16 models, an effect per example and per model on each side (null: AUC 0.5).
    # Measured over these 100 draws: resampling examples only misses 0.5 in 25 (nominal 5), both in 8.
    miss_examples = miss_both = 0
    for r in range(100):
        rng = np.random.default_rng(r)
        ex, model = np.tile(np.arange(60), 16), np.repeat(np.arange(16), 60)
        y = rng.random(ex.size) < 0.5
        u, v = rng.normal(0, 1, (60, 2)), rng.normal(0, 0.5, (16, 2))
        s = u[ex, y.astype(int)] + v[model, y.astype(int)] + rng.normal(0, 0.5, ex.size)
        lo, hi = bootstrap_auc_ci(y, s, n_bootstrap=200, random_state=r, groups=ex)
        miss_examples += not lo <= 0.5 <= hi
        lo, hi = bootstrap_auc_ci(y, s, n_bootstrap=200, random_state=r, groups=np.stack([ex, model]))
        miss_both += not lo <= 0.5 <= hi
    assert miss_examples >= 15 and miss_both <= 12


def test_every_metric_takes_y_true_then_y_score():
    import inspect

    import muaudit.metrics as metrics
    from muaudit.metrics.roc import roc_curve as roc_curve_checked

    takes_both = [getattr(metrics, n) for n in metrics.__all__ if inspect.isfunction(getattr(metrics, n))] + [roc_curve_checked]
    orders = {f.__name__: list(inspect.signature(f).parameters)[:2] for f in takes_both
              if {"y_true", "y_score", "scores", "labels", "s", "y"} & set(inspect.signature(f).parameters)}
    assert len(orders) == 9 and all(o == ["y_true", "y_score"] for o in orders.values()), orders
