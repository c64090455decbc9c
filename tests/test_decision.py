"""The one verdict rule: four words, the residual as a pass condition, over-unlearning, null rates."""

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.stats import binom

from muaudit.attacks.synthetic import synthetic_pool
from muaudit.audit import assess_scores, audit_target
from muaudit.audit.decision import VERDICTS, Evidence, apply_decision, decide
from muaudit.audit.ulira import auc_evidence
from muaudit.cli.main import cli
from muaudit.errors import ConfigError
from muaudit.report.view import VERDICT_CLASSES


def test_every_verdict_word_has_a_report_class():
    assert set(VERDICT_CLASSES) == set(VERDICTS)
    assert len(VERDICTS) == 4 and "over-unlearned" in VERDICTS


@pytest.mark.parametrize("residual, verdict", [(0.2, "consistent with retraining"), (0.5, "consistent with retraining"),
                                               (0.51, "inconclusive"), (0.95, "inconclusive"), (None, "inconclusive")])
def test_the_residual_decides_the_pass(residual, verdict):
    e = Evidence(p_value=0.4, p_value_lower=0.6, alpha=0.01, residual=residual, power=1.0, power_lower=1.0)
    d = decide(e)
    assert d["verdict"] == verdict
    if verdict == "inconclusive":
        assert any("remembered" in r for r in d["reasons"]), d["reasons"]


def test_rejections_need_no_power_and_blockers_forbid_only_the_pass():
    weak = dict(residual=None, power=0.1, blockers=("the target failed the compatibility check",))
    assert decide(Evidence(p_value=0.001, alpha=0.01, **weak))["verdict"] == "not unlearned"
    assert decide(Evidence(p_value=0.9, p_value_lower=0.001, alpha=0.01, **weak))["verdict"] == "over-unlearned"
    d = decide(Evidence(p_value=0.5, p_value_lower=0.5, alpha=0.01, residual=0.1, power=1.0, power_lower=1.0,
                        blockers=("the target failed the compatibility check",)))
    assert d["verdict"] == "inconclusive" and d["reasons"] == ["the target failed the compatibility check"]


def test_lower_side_without_power_is_no_pass():
    d = decide(Evidence(p_value=0.5, p_value_lower=0.5, alpha=0.01, residual=0.2, power=1.0, power_lower=0.3))
    assert d["verdict"] == "inconclusive" and "over-unlearning" in d["reasons"][0]


def test_decided_once():
    r = apply_decision({}, Evidence(p_value=0.001, alpha=0.01))
    with pytest.raises(RuntimeError, match="decide once"):
        apply_decision(r, Evidence(p_value=0.5, alpha=0.01))


@pytest.mark.parametrize("value", [0, -0.1, 1.5, float("nan"), "x"])
def test_max_residual_range(value):
    with pytest.raises(ConfigError, match="Expected `max_residual` in"):
        decide(Evidence(p_value=0.5, alpha=0.01, max_residual=value))


def test_planted_cases_get_their_verdicts():
    """Closed-form Gaussians: members +2 sd, forget set remembered / forgotten / pushed below (-2 sd)."""
    rng = np.random.default_rng(1)
    F, NM, R = np.arange(60), np.arange(60, 360), np.arange(360, 660)
    base = lambda f: np.r_[f, rng.normal(0, 1, 300), rng.normal(2, 1, 300)]  # noqa: E731
    got = {name: assess_scores(base(rng.normal(mu, 1, 60)), F, NM, R, n_power_draws=50)
           for name, mu in (("remembered", 2.0), ("forgotten", 0.0), ("over", -2.0))}
    assert got["remembered"]["verdict"] == "not unlearned"
    assert got["forgotten"]["verdict"] == "consistent with retraining"
    assert got["forgotten"]["power_control"]["min_detectable_residual"] <= 0.5
    assert got["over"]["verdict"] == "over-unlearned"
    assert "would have caught" in got["forgotten"]["decision"]["rules_out"]
    # a weak member signal (+0.3 sd): nothing rejects, and the residual is too large to pass
    weak = assess_scores(np.r_[rng.normal(0, 1, 360), rng.normal(0.3, 1, 300)], F, NM, R, n_power_draws=50)
    assert weak["verdict"] == "inconclusive", weak["decision"]


@pytest.mark.slow
def test_synthetic_null_false_verdict_rates_at_most_alpha():
    """200 retrained targets (forget set never trained) on one synthetic pool: false ``not unlearned``
    and false ``over-unlearned`` each at most alpha = 0.01, up to the binomial 99.9% quantile
    (measured: 3 and 1 of 200)."""
    n, alpha = 300, 0.01
    pool = synthetic_pool(n_models=16, n_samples=n, random_state=3)
    trained = np.arange(n) < 150
    counts = {"not unlearned": 0, "over-unlearned": 0}
    for rep in range(200):
        rng = np.random.default_rng(rep)
        forget = np.sort(rng.choice(150, 30, replace=False))
        target = pool.draw(trained & ~np.isin(np.arange(n), forget), random_state=10_000 + rep)
        res = audit_target(target, pool.phi, pool.keep, forget=forget, nonmembers=np.arange(150, n), alpha=alpha,
                           n_bootstrap=10, decide=False).results
        counts["not unlearned"] += res["p_value"] < alpha
        counts["over-unlearned"] += res["p_value_lower"] < alpha
    limit = binom.ppf(0.999, 200, alpha)  # 7
    assert counts["not unlearned"] <= limit and counts["over-unlearned"] <= limit, counts


def test_ulira_auc_evidence_rules():
    control = {"auc": 0.9, "auc_ci": [0.85, 0.95]}
    assert decide(auc_evidence({"auc": 0.7, "auc_ci": [0.65, 0.75]}, control, alpha=0.01))["verdict"] == "not unlearned"
    assert decide(auc_evidence({"auc": 0.3, "auc_ci": [0.25, 0.35]}, control, alpha=0.01))["verdict"] == "over-unlearned"
    assert decide(auc_evidence({"auc": 0.5, "auc_ci": [0.45, 0.55]}, control, alpha=0.01))["verdict"] == \
        "consistent with retraining"
    wide = decide(auc_evidence({"auc": 0.5, "auc_ci": [0.2, 0.8]}, control, alpha=0.01))
    assert wide["verdict"] == "inconclusive"


@pytest.mark.parametrize("command", [["lira", "--target", "t.pt", "--forget", "f.npy"],
                                     ["mia", "--target", "t.pt", "--forget", "f.npy"],
                                     ["ulira", "--method", "ga"]])
@pytest.mark.parametrize("option, value, message", [
    ("--max-residual", "0", "Expected `max_residual` in (0, 1], got 0.0"),
    ("--max-residual", "1.5", "Expected `max_residual` in (0, 1], got 1.5"),
    ("--alpha", "1", "Expected `alpha` in (0, 1), got 1.0")])
def test_cli_thresholds_are_checked(command, option, value, message):
    result = CliRunner().invoke(cli, command + [option, value])
    assert result.exit_code == 2
    assert message in result.output


def test_every_schema_property_is_documented():
    from pathlib import Path

    from muaudit.report.schema import schema_properties

    page = (Path(__file__).resolve().parents[1] / "docs" / "results.md").read_text()
    missing = [p for p in schema_properties() if f"`{p}`" not in page and f"`{p.split('.')[-1]}`" not in page]
    assert missing == []
