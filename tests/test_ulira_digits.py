"""U-LiRA end to end on digits: a pool with unlearned shadows, the method evaluation's three anchors
(retrain indistinguishable, original flagged, a weak GA in between), `muaudit ulira`, `muaudit lira
--method`, and every bad input's exact Error line.

The pool: 16 MLP shadows (hidden 128, Adam 3e-3, 40 epochs) with forget_fraction 0.5, so that each
example has about 4 other shadows that unlearned it and every target ~450 forgotten examples.
Measured on the shared 2-core machine with one torch thread: the fixture (build + 3 evaluations)
7 s idle / 17 s at load average ~5, this module without the slow test 20 s / 55 s; AUC retrain
0.502 [0.493, 0.509], GA 0.751 [0.744, 0.758], original 0.832 [0.826, 0.838]. With forget_fraction
0.1 the same 16 shadows give the original only AUC 0.558 [0.540, 0.577] (about one other unlearned
shadow per example), too close to 0.5 to place GA in between. All three U-LiRA test files together:
61 s idle including the slow test (21 s), about 2.5 min at load average ~5.
"""

import json

import numpy as np
import pytest

from muaudit.audit.ulira import evaluate_ulira
from muaudit.jobs.ulira import run_ulira, shadow_families, unlearned_group
from muaudit.models import save_checkpoint
from muaudit.pool import Pool, build_pool, load_spec
from muaudit.training.single import train_target
from muaudit.unlearning import run_unlearning
from muaudit.jobs.unlearn import split_data
from tests.kit import error_line, run

RECIPE = """
[dataset]
name = "digits"
[model]
arch = "mlp"
hidden = [128]
[train]
optimizer = "adam"
lr = 3e-3
weight_decay = 0.0
epochs = 40
batch_size = 128
[pool]
n_models = {n_models}
seed = {seed}
engine = "ensemble"
ensemble_size = 16
"""
ENTRIES = """
[[unlearn]]
method = "original"
forget_fraction = 0.5
[[unlearn]]
method = "retrain"
forget_fraction = 0.5
retrain = true
[[unlearn]]
method = "ga"
forget_fraction = 0.5
config = {{ epochs = 3, lr = 0.05 }}
"""


pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]  # a 16-shadow U-LiRA pool; tiny models: see tests/conftest.py


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    d = tmp_path_factory.mktemp("ulira")
    (d / "r.toml").write_text(RECIPE.format(n_models=16, seed=0) + ENTRIES.format())
    spec = load_spec(d / "r.toml")
    build_pool(spec, d / "pool")
    return d, spec


@pytest.fixture(scope="module")
def evaluations(pool):
    d, _ = pool
    p = Pool(d / "pool")
    return {m: evaluate_ulira(shadow_families(p, unlearned_group(p, m), "retrain", "phi")[0], n_bootstrap=300)[0]
            for m in ("retrain", "original", "ga")}


def test_retrain_evaluated_as_a_method_is_indistinguishable(evaluations):
    r = evaluations["retrain"]
    assert r["auc_ci"][0] <= 0.5 <= r["auc_ci"][1]
    assert r["ulira_accuracy"]["ci"][0] <= 0.5 <= r["ulira_accuracy"]["ci"][1]  # measured 0.498 [0.490, 0.506]
    assert r["verdict"] == "consistent with retraining"
    assert r["power_control"]["auc_ci"][0] > 0.7  # the control (original) is caught: measured 0.832 [0.761, 0.895]


def test_original_is_flagged(evaluations):
    r = evaluations["original"]
    assert r["verdict"] == "not unlearned" and r["auc_ci"][0] > 0.7  # measured 0.832 [0.761, 0.895] (two-way intervals)
    assert r["tpr_at_fpr"]["0.01"]["tpr"] > 0.05


def test_weak_gradient_ascent_lands_in_between(evaluations):
    ga, retrain, original = (evaluations[m] for m in ("ga", "retrain", "original"))
    assert ga["verdict"] == "not unlearned"
    # measured: retrain 0.502 [0.495, 0.509], GA 0.751 [0.658, 0.829], original 0.832 [0.761, 0.895]; the
    # two-way (example x target) intervals over 16 targets are too wide to separate GA from the original
    assert retrain["auc_ci"][1] < ga["auc_ci"][0] and ga["auc"] < original["auc"] - 0.04


def test_ulira_cli_writes_the_lira_results_keys(pool):
    d, _ = pool
    r = run("ulira", "--pool", d / "pool", "--method", "ga", "--reference", "same-method", "--statistic", "correct",
            "--targets", "4", "--out", d / "cli", "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    for key in ("verdict", "auc", "auc_ci", "balanced_accuracy", "tpr_at_fpr", "p_value", "epsilon_lower_bound",
                "power_control", "n_forget", "n_nonmembers", "config", "inputs", "ulira_accuracy", "per_example"):
        assert key in res
    assert len(res["targets"]) == 4 and res["attack_config"]["reference"] == "same-method"
    for f in ("results.json", "scores.npz", "roc.png", "roc_loglog.png", "scores_hist.png"):
        assert (d / "cli" / f).is_file()
    z = np.load(d / "cli" / "scores.npz")
    assert np.isfinite(z["scores"]).all() and z["labels"].sum() == res["n_forget"]
    pm = res["population_mia"]
    assert set(pm) == {"unlearned", "original"} and 0 <= pm["unlearned"]["indiscernibility"] <= 1  # no retrain read
    r = run("report", d / "cli", "--html")
    assert r.exit_code == 0 and "U-LiRA accuracy" in r.output
    page = (d / "cli" / "report.html").read_text()
    assert "Power control: original (never unlearned) vs reference" in page and "data:image/png;base64," in page


def test_lira_with_a_known_method(pool):
    d, spec = pool
    ds = spec.load_dataset()
    forget = np.arange(0, 1347, 10)
    np.save(d / "forget.npy", forget)
    model, meta = train_target(spec, ds, random_state=5)
    f, r, _, retain = split_data(ds, np.asarray(meta["train_idx"]), forget)
    save_checkpoint(d / "ga.pt", run_unlearning("ga", model, f, r, config={"epochs": 3, "lr": 0.05}).model,
                    {**meta, "train_idx": retain.tolist()})
    r = run("lira", "--target", d / "ga.pt", "--forget", d / "forget.npy", "--pool", d / "pool", "--method", "ga",
            "--out", d / "lira-ga", "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["attack"] == "ulira" and res["method"] == "ga" and res["config"]["method"] == "ga"
    assert res["verdict"] in ("not unlearned", "consistent with retraining", "inconclusive")
    assert res["unlearned_shadows_per_forget_example"][1] >= 2 and res["power_control"]["n_pos"] == 1347 - 135
    base = ["lira", "--target", d / "ga.pt", "--forget", d / "forget.npy", "--pool", d / "pool", "--method"]
    assert error_line(run(*base, "msg")) == (
        f"Error: pool {d / 'pool' / 'pool.h5'} has no unlearned shadows of method 'msg'; its methods: ga, original, "
        "retrain (add an [[unlearn]] entry with method = \"msg\" to the recipe and resume the build)")
    assert error_line(run(*base, "ga", "--attack", "rmia")) == "Error: Expected --attack online with --method (U-LiRA), got 'rmia'"


def test_ulira_errors(pool, tiny_recipe, tmp_path):
    d, _ = pool
    base = ["ulira", "--pool", d / "pool", "--method"]
    assert error_line(run(*base, "nope")) == (
        "Error: unknown unlearning method 'nope'; valid: bt, cf-k, cfw, ct, eu-k, fcs, ff, ft, ga, gd, iu, kde, msg, ng+, "
        "ngd, original, prmq, retrain, rni, salun, scrub, srl, ssd")
    assert error_line(run(*base, "scrub")).startswith(
        f"Error: pool {d / 'pool' / 'pool.h5'} has no unlearned shadows of method 'scrub'; its methods: ga, original, retrain")
    assert error_line(run(*base, "ga", "--reference", "exact")) == \
        "Error: Invalid value for '--reference': 'exact' is not one of 'retrain', 'out', 'same-method'."
    assert error_line(run(*base, "ga", "--statistic", "loss")) == \
        "Error: Invalid value for '--statistic': 'loss' is not one of 'phi', 'correct'."
    plain = tiny_recipe(extra='\n[[unlearn]]\nmethod = "ft"\nconfig = { epochs = 1 }\n')
    build_pool(load_spec(plain), tmp_path / "p")
    assert error_line(run("ulira", "--pool", tmp_path / "p", "--method", "ft")) == (
        f"Error: pool {tmp_path / 'p' / 'pool.h5'} has no exact retrains for 'ft'; add `retrain = true` to its "
        "[[unlearn]] entry and resume the build, or pass --reference out")
    r = run("ulira", "--pool", tmp_path / "p", "--method", "ft", "--reference", "out", "--out", tmp_path / "o")
    assert r.exit_code == 0, r.output


@pytest.mark.slow
def test_forget_aware_pool_end_to_end(tmp_path):
    """32 shadows, a fixed 10% forget set IN for half of them (16 unlearned shadows per forgotten
    example). Measured: AUC retrain 0.504 [0.487, 0.522], original 0.687 [0.672, 0.704], GA (3 epochs,
    lr 0.05) 0.674; the whole test 21 s idle, 68 s at load average ~5."""
    entries = ENTRIES.replace("forget_fraction = 0.5", 'forget = "pool"').format()
    (tmp_path / "r.toml").write_text(RECIPE.format(n_models=32, seed=1) + entries)
    forget = np.sort(np.random.default_rng(0).choice(1347, 135, replace=False))
    np.save(tmp_path / "forget.npy", forget)
    r = run("pool", "build", tmp_path / "r.toml", "--out", tmp_path / "pool", "--forget", tmp_path / "forget.npy")
    assert r.exit_code == 0 and "unlearned/ga  32/32 done" in r.output, r.output
    res = {m: run_ulira(pool=tmp_path / "pool", method=m, out=tmp_path / m)[0] for m in ("retrain", "original", "ga")}
    assert res["retrain"]["verdict"] == "consistent with retraining"
    assert res["original"]["verdict"] == res["ga"]["verdict"] == "not unlearned"
    assert len(res["original"]["targets"]) == 16  # only the shadows that trained on F have something to forget
    spec = load_spec(tmp_path / "r.toml")
    ds = spec.load_dataset()
    model, meta = train_target(spec, ds, random_state=7)
    save_checkpoint(tmp_path / "orig.pt", model, meta)
    r = run("lira", "--target", tmp_path / "orig.pt", "--forget", tmp_path / "forget.npy", "--pool", tmp_path / "pool",
            "--method", "original", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["unlearned_shadows_per_forget_example"] == [16, 16, 16] and out["verdict"] == "not unlearned"
    assert Pool(tmp_path / "pool").forget.sum() == 135
