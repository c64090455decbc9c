"""End-to-end on digits with the default recipe: the demo's two targets get the right verdicts.

This is the acceptance test of `muaudit lira`: an original model trained on the whole training
split is caught (`not unlearned`) on a random 10% forget set, and a model retrained without that
set is `consistent with retraining`, with the power control showing the attack would have caught
a remembered forget set of the same size.
"""

import json
from pathlib import Path

import pytest

from muaudit.jobs.demo import DEFAULT_RECIPE, run_demo



@pytest.fixture(scope="module")
def demo(tmp_path_factory, default_pool):
    """The demo on the default recipe, with its pool built once per session in a temporary folder."""
    out = tmp_path_factory.mktemp("demo")
    return run_demo(recipe=DEFAULT_RECIPE, pool=default_pool, out=out / "results", log=lambda s: None), out


@pytest.mark.slow
def test_original_is_caught(demo):
    res, _ = demo
    r = res["original"]
    # measured (seed 0): p = 4e-4, AUC 0.542 [0.491, 0.596]; the permutation test of the mean
    # log-likelihood ratio decides where the rank-based AUC interval of 135 examples is too wide
    assert r["verdict"] == "not unlearned"
    assert r["p_value"] < 0.01 and r["auc"] > 0.5


@pytest.mark.slow
def test_retrained_is_consistent_with_retraining(demo):
    res, _ = demo
    r = res["retrained"]
    assert r["verdict"] == "consistent with retraining", r["inconclusive_reasons"]
    assert r["auc_ci"][0] <= 0.5 <= r["auc_ci"][1]
    assert r["power_control"]["power"] >= 0.95  # measured 1.00 (power control AUC 0.597)


@pytest.mark.slow
def test_demo_writes_the_report(demo):
    res, out = demo
    page = Path(res["report"]).read_text()
    assert "not unlearned" in page and "consistent with retraining" in page
    saved = json.loads((out / "results" / "original" / "results.json").read_text())
    assert saved["verdict"] == "not unlearned"
