"""``muaudit poison`` through click's CliRunner: exact ``Error:`` lines, and one small real run."""

from __future__ import annotations

import json

import pytest

from muaudit.unlearning import method_names
from tests.kit import error_line, run


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: see tests/conftest.py


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    p = tmp_path_factory.mktemp("poison") / "tiny.toml"
    p.write_text('[dataset]\nname = "digits"\n[model]\narch = "mlp"\nhidden = [64]\n'
                 '[train]\noptimizer = "adam"\nlr = 3e-3\nepochs = 10\nweight_decay = 0.0\n')
    return p


def poison(recipe, *extra, attack="gaussian", method="gd"):
    return run("poison", attack, "--recipe", recipe, "--method", method, *extra)


def test_poison_has_help():
    result = run("poison", "--help")
    assert result.exit_code == 0 and "--budget" in result.output and "gradient-matching" in result.output


@pytest.mark.parametrize("extra, attack, method, expected", [
    (["--fraction", "1.5"], "gaussian", "gd", "Error: Expected `fraction` in (0, 1), got 1.5"),
    (["--fraction", "0"], "backdoor", "gd", "Error: Expected `fraction` in (0, 1), got 0.0"),
    (["--eps", "-1"], "gaussian", "gd", "Error: Expected `eps_p` > 0, got -1.0"),
    (["--eps", "0"], "gaussian", "gd", "Error: Expected `eps_p` > 0, got 0.0"),
    (["--eps", "0"], "gradient-matching", "gd", "Error: Expected `eps` > 0, got 0.0"),
    ([], "poisson", "gd", "Error: unknown poisoning attack 'poisson'; valid: backdoor, gaussian, gradient-canceling, "
                          "gradient-matching, interclass, label-flip"),
    ([], "gaussian", "forget-it", f"Error: unknown unlearning method 'forget-it'; valid: {', '.join(method_names())}"),
    (["--eps", "0.5"], "label-flip", "gd", "Error: poisoning attack 'label-flip' has no noise or perturbation size; drop --eps"),
    (["--attack-set", "colour=1"], "backdoor", "gd",
     "Error: unknown option 'colour' for poisoning attack 'backdoor'; valid: fraction, target, patch, value"),
    (["--attack-set", "target=12"], "backdoor", "gd", "Error: Expected `target` in [0, 9], got 12"),
    (["--attack-set", "n_targets=11"], "gradient-matching", "gd",
     "Error: Expected `n_targets` <= 10 (one adversarial class each), got 11"),
    (["--set", "lr=-1"], "gaussian", "gd", "Error: Expected `lr` > 0, got -1"),
    (["--seeds", "0"], "gaussian", "gd", "Error: Expected `seeds` an integer in [1, 1000], got 0"),
    (["--budget", "0"], "gaussian", "gd", "Error: Expected `budget` > 0 (a fraction of the original training), got 0.0"),
    (["--alpha", "2"], "gaussian", "gd", "Error: Expected `alpha` in (0, 1), got 2.0"),
])
def test_bad_inputs_are_one_error_line(recipe, extra, attack, method, expected):
    assert error_line(poison(recipe, *extra, attack=attack, method=method)) == expected


def test_missing_recipe_is_one_error_line(tmp_path):
    assert error_line(poison(tmp_path / "none.toml")).startswith(f"Error: recipe {tmp_path / 'none.toml'} does not exist: not a file, and not a packaged recipe (cifar10-fast, ")


def test_a_small_run_writes_results_figures_and_report(recipe, tmp_path):
    out = tmp_path / "res"
    result = poison(recipe, "--seeds", "2", "--budget", "0.1", "--fraction", "0.1", "--out", out, attack="backdoor")
    assert result.exit_code == 0, result.output
    assert "efficacy" in result.output.lower() and "Loss-MIA TPR at 1% FPR" in result.output
    r = json.loads((out / "results.json").read_text())
    assert r["kind"] == "poison" and r["attack"] == "backdoor" and r["method"] == "gd"
    assert r["verdict"] in ("not unlearned", "over-unlearned", "consistent with retraining", "inconclusive")
    assert r["power"]["powered"] and r["models"]["original"]["metric"] > 0.5
    assert r["cost"]["fraction_of_training"] <= 0.1 and r["config"]["budget"] == 0.1
    assert set(r["sections"]) == {"Poisoning efficacy", "Power of the test", "Loss-threshold MIA on the same forget set",
                                  "Unlearning cost"}
    for name in ("scores.npz", "poison_seed0.npz", "poison_seed1.npz", "poison_metric.png", "report.html"):
        assert (out / name).is_file(), name
    html = (out / "report.html").read_text()
    assert "Poisoning efficacy" in html and "Power of the test" in html


@pytest.mark.slow  # measured: a poisoning run in a subprocess: 117 s at load 22 (the fast loop, docs/development.md)
def test_json_output_of_a_gaussian_run(recipe, tmp_path):
    result = poison(recipe, "--seeds", "1", "--json", "--out", tmp_path / "g", method="original")
    assert result.exit_code == 0, result.output
    r = json.loads(result.output)
    assert r["efficacy"]["value"] == 0 and r["power"]["original_vs_null"]["n"] == 67
    assert (tmp_path / "g" / "roc.png").is_file() and (tmp_path / "g" / "scores_hist.png").is_file()
