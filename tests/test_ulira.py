"""U-LiRA on synthetic shadow families with a known unlearning residue: scores, the leave-one-out
method evaluation and its verdict rules, the target audit with a known method, and bad input."""

import warnings

import numpy as np
import pytest
from scipy.stats import kstest

from muaudit.attacks.ulira import ShadowFamilies, ULiRA, ULiRAConfig, UnlearningSignals, ulira_statistic
from muaudit.audit.ulira import (audit_unlearned_target, evaluate_ulira, held_out_accuracy,
                                              population_mia, auc_evidence)
from muaudit.audit.decision import decide
from muaudit.errors import ConfigError, DataError
from muaudit.metrics import StatisticsWarning


def families(*, residue=1.0, gap=2.0, M=16, N=600, rho=0.5, noise=1.0, seed=0, same_method_shift=0.0):
    """Shadows where training on x adds ``gap`` to phi(x). The unlearned model of shadow m keeps
    ``residue * gap`` on its forget set F_m (1 = no unlearning, 0 = exact), retrains have none."""
    rng = np.random.default_rng(seed)
    keep = rng.random((M, N)).argsort(axis=0) < M // 2
    forget = keep & (rng.random((M, N)) < rho)
    base_mean = rng.normal(0, 1.5, N)[None] + gap * keep
    draw = lambda mean: (mean + rng.normal(0, noise, (M, N)))[..., None]  # noqa: E731
    unl_mean = base_mean - (1 - residue) * gap * forget + same_method_shift
    return ShadowFamilies(draw(base_mean), keep, draw(unl_mean), forget, draw(base_mean - gap * forget))


def evaluate(fam, **kw):
    kw.setdefault("n_bootstrap", 200)
    return evaluate_ulira(fam, **kw)[0]


def test_ulira_scores_unlearned_like_examples_higher():
    rng = np.random.default_rng(1)
    forget = rng.random((16, 200)) < 0.4
    ref = UnlearningSignals(rng.normal(size=(16, 200)) + 2 * forget, forget, rng.normal(size=(16, 200)),
                            np.ones((16, 200), bool))
    att = ULiRA().fit(ref)
    assert att.variance_ == "fixed" and att.center_ == "median"
    s = att.score(np.r_[np.full(100, 2.0), np.zeros(100)])
    assert s.shape == (200,) and s[:100].min() > s[100:].max()
    z = att.calibrated_score(rng.normal(size=200))  # a target that never saw any x: -log U(0, 1)
    assert kstest(np.exp(-z), "uniform").pvalue > 0.01


def test_direction_follows_the_unlearned_shadows():
    # over-unlearning: the method pushes phi BELOW the never-seen reference; lower phi = "unlearned"
    rng = np.random.default_rng(2)
    forget = np.ones((16, 50), bool)
    att = ULiRA().fit(UnlearningSignals(rng.normal(size=(16, 50)) - 3, forget, rng.normal(size=(16, 50)), forget))
    assert (att.calibrated_score(np.full(50, -3.0)) > att.calibrated_score(np.full(50, 3.0))).all()


def test_retrain_as_a_method_is_indistinguishable():
    r = evaluate(families(residue=0.0))
    lo, hi = r["auc_ci"]
    acc_lo, acc_hi = r["ulira_accuracy"]["ci"]
    assert lo <= 0.5 <= hi and acc_lo <= 0.5 <= acc_hi  # measured AUC 0.512 [0.495, 0.527], accuracy 0.502
    assert r["verdict"] == "consistent with retraining" and r["power_control"]["auc_ci"][0] > 0.8


def test_no_unlearning_is_flagged_and_a_partial_one_lands_between():
    full, half = evaluate(families(residue=1.0)), evaluate(families(residue=0.5))
    assert full["verdict"] == half["verdict"] == "not unlearned"
    assert 0.5 < half["auc_ci"][0] and half["auc_ci"][1] < full["auc_ci"][0]  # measured 0.710 < 0.899
    assert abs(full["auc"] - full["power_control"]["auc"]) < 0.02  # no unlearning = the control (other noise)


def test_signal_free_pool_is_inconclusive_never_consistent():
    r = evaluate(families(residue=0.0, gap=0.0))
    assert r["verdict"] == "inconclusive"
    assert "power control does not catch the original" in r["inconclusive_reasons"][0]


@pytest.mark.parametrize("reference", ["out", "same-method"])
def test_other_references(reference):
    ok, bad = evaluate(families(residue=0.0), config=ULiRAConfig(reference=reference)), \
        evaluate(families(residue=1.0), config=ULiRAConfig(reference=reference))
    assert ok["auc_ci"][0] <= 0.5 <= ok["auc_ci"][1] and bad["verdict"] == "not unlearned"
    # negatives are the held-out shadow's never-trained examples, not its forget set
    assert ok["n_nonmembers"] != ok["n_forget"]


def test_same_method_reference_ignores_a_method_wide_shift():
    # the method shifts every output (e.g. lowers confidence everywhere): against base shadows
    # (`out`) that alone is detectable, against the method's own never-seen models it is not
    fam = families(residue=0.0, same_method_shift=-1.0)
    assert evaluate(fam, config=ULiRAConfig(reference="out"))["verdict"] == "not unlearned"
    r = evaluate(fam, config=ULiRAConfig(reference="same-method"))
    assert r["auc_ci"][0] <= 0.5 <= r["auc_ci"][1]


def test_correctness_statistic_is_finite_and_flags_no_unlearning():
    rng = np.random.default_rng(3)
    fam = families(residue=1.0)
    logits = lambda phi: np.stack([phi[..., 0], np.zeros_like(phi[..., 0])], -1)[:, :, None] + rng.normal(0, .01, (1, 1, 1, 2))  # noqa: E731
    labels = np.zeros(fam.base.shape[1], np.int64)
    c = ShadowFamilies(*(ulira_statistic(logits(a), labels[None], "correct") for a in (fam.base,)), fam.keep,
                       ulira_statistic(logits(fam.unlearned), labels[None], "correct"), fam.forget,
                       ulira_statistic(logits(fam.retrain), labels[None], "correct"))
    assert set(np.unique(c.base)) <= {0.0, 1.0}
    r = evaluate(c, config=ULiRAConfig(statistic="correct"))
    assert np.isfinite(r["auc"]) and r["attack_config"]["statistic"] == "correct" and r["verdict"] == "not unlearned"


def test_held_out_accuracy_is_unbiased_under_the_null():
    rng = np.random.default_rng(4)
    s = {"scores": rng.normal(size=4000), "labels": (np.arange(4000) // 8) % 2 == 0, "target": np.arange(4000) % 8}
    acc = held_out_accuracy(s)
    assert acc["ci"][0] <= 0.5 <= acc["ci"][1] and abs(acc["accuracy"] - 0.5) < 0.03


def test_per_example_and_results_keys():
    r = evaluate(families(residue=1.0), n_targets=4)
    assert len(r["targets"]) == 4 and len(r["per_target_auc"]) == 4
    ex = r["per_example"]
    assert ex["log_lr_unlearned"]["q50"] > ex["log_lr_reference"]["q50"]
    assert 0 <= ex["examples_mean_posterior_above_half"] <= 1 and ex["n_examples"] > 0
    for key in ("auc", "auc_ci", "balanced_accuracy", "tpr_at_fpr", "p_value", "epsilon_lower_bound",
                "power_control", "n_forget", "n_nonmembers", "verdict", "inconclusive_reasons", "power"):
        assert key in r


def test_verdict_rules():
    control_ok, control_bad = {"auc": 0.75, "auc_ci": [0.7, 0.8]}, {"auc": 0.5, "auc_ci": [0.45, 0.55]}
    rule = lambda block, control: decide(auc_evidence(block, control, alpha=0.01))  # noqa: E731
    assert rule({"auc": 0.6, "auc_ci": [0.56, 0.64]}, control_bad)["verdict"] == "not unlearned"
    ok = rule({"auc": 0.505, "auc_ci": [0.48, 0.53]}, control_ok)
    assert ok["verdict"] == "consistent with retraining" and ok["reasons"] == []
    assert rule({"auc": 0.425, "auc_ci": [0.40, 0.45]}, control_ok)["verdict"] == "over-unlearned"
    bad = rule({"auc": 0.505, "auc_ci": [0.48, 0.53]}, control_bad)
    assert bad["verdict"] == "inconclusive" and "does not catch the original" in bad["reasons"][0]


def test_population_mia_on_forget_vs_nonmembers():
    rng = np.random.default_rng(5)
    loss = np.abs(rng.normal(size=(3, 400)))
    forget = np.zeros((3, 400), bool)
    forget[:, :100] = True
    out = population_mia(loss, forget, ~forget)
    assert out["n_models"] == 3 and out["indiscernibility"] > 0.8 and 0.4 < out["loss_auc"] < 0.6
    loss[:, :100] = 0.0  # forget set memorised: zero loss
    assert population_mia(loss, forget, ~forget)["loss_auc"] == 1.0


def test_target_audit_with_a_known_method():
    # forget-aware: F is unlearned (residue 0.5 of the gap 2) by every shadow that trained on it
    fam = families(M=32, N=1000, rho=0.0)
    F, NM, R = np.arange(0, 100), np.arange(500, 1000), np.arange(100, 500)
    forget_m = fam.keep & np.isin(np.arange(1000), F)[None]
    unl = fam.base - 1.0 * forget_m[..., None]
    out_center = np.nanmean(np.where(fam.keep, np.nan, fam.base[..., 0]), axis=0)
    rng = np.random.default_rng(6)

    def target(residue):  # a target that kept `residue` of the gap on F, all of it on R
        return out_center + rng.normal(0, 1.0, 1000) + 2.0 * np.isin(np.arange(1000), R) + 2.0 * residue * (np.arange(1000) < 100)

    args = dict(forget=F, nonmembers=NM, members=R, n_bootstrap=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticsWarning)
        caught = audit_unlearned_target(target(0.5), fam.base, fam.keep, unl, forget_m, **args).results
        clean = audit_unlearned_target(target(0.0), fam.base, fam.keep, unl, forget_m, **args).results
    assert caught["verdict"] == "not unlearned" and caught["unlearned_shadows_per_forget_example"][1] == 16
    assert clean["verdict"] == "consistent with retraining", clean["inconclusive_reasons"]
    assert clean["power_control"]["power"] >= 0.95 and clean["attack"] == "ulira"


@pytest.mark.parametrize("build, error, message", [
    (lambda: ULiRAConfig(reference="exact"), ConfigError, "Expected `reference` in ('retrain', 'out', 'same-method'), got 'exact'"),
    (lambda: ULiRAConfig(statistic="loss"), ConfigError, "Expected `statistic` in ('phi', 'correct'), got 'loss'"),
    (lambda: ULiRA(bogus=1), ConfigError, "unknown option 'bogus' for attack 'ulira'"),
    (lambda: ULiRA().score(np.zeros(3)), ConfigError, "ULiRA is not fitted"),
    (lambda: ULiRA().fit(np.zeros((2, 3))), DataError, "ULiRA.fit expects UnlearningSignals, got ndarray"),
    (lambda: UnlearningSignals(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 3), bool)),
     DataError, "Expected bool `in_mask` of shape (2, 3), got float64 (2, 3)"),
    (lambda: UnlearningSignals(np.full((2, 3), np.nan), np.zeros((2, 3), bool), np.zeros((2, 3)), np.zeros((2, 3), bool)),
     DataError, "in_signals"),
    (lambda: ShadowFamilies(np.zeros((2, 3)), np.zeros((2, 3), bool), np.zeros((2, 3)), np.ones((2, 3), bool)),
     DataError, "Expected every forget set inside its shadow's training set"),
    (lambda: families(residue=0.0).__class__(np.zeros((2, 3)), np.ones((2, 3), bool), np.zeros((2, 3)),
                                             np.ones((2, 3), bool)).reference_side("retrain"),
     DataError, "reference 'retrain' needs exact retrains"),
])
def test_bad_input(build, error, message):
    with pytest.raises(error) as info:
        build()
    assert message in str(info.value)
