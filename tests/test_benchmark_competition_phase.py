"""The benchmark's competition phase end to end on a tiny digits MLP: columns, the retrain-vs-retrain
ceiling, a deterministic method scoring 0, resume without retraining, and bad `[competition]` input."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("optuna")

from muaudit.benchmark import competition_phase  # noqa: E402
from muaudit.benchmark.competition import competition_score  # noqa: E402
from muaudit.cli.main import cli  # noqa: E402
from muaudit.jobs.benchmark import run_benchmark  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
K = 8

RECIPE = """[dataset]
name = "digits"
[model]
arch = "mlp"
hidden = [32]
[train]
optimizer = "adam"
lr = 1e-2
epochs = 30
batch_size = 128
schedule = "constant"
[pool]
n_models = 8
engine = "ensemble"
ensemble_size = 8
"""

SPEC = """{top}
recipe = "tiny.toml"
methods = ["retrain", "ga"]
seeds = [0]
metrics = {metrics}
[search]
trials = 1
{competition}
[[forget]]
name = "random10"
kind = "random"
fraction = 0.1
"""


def write_spec(folder, metrics='["accuracy", "rte", "competition"]', competition=f"[competition]\nmodels = {K}", top=""):
    (folder / "tiny.toml").write_text(RECIPE)
    path = folder / "spec.toml"
    path.write_text(SPEC.format(metrics=metrics, competition=competition, top=top))
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("competition")
    spec = write_spec(folder)
    res = run_benchmark(spec, folder / "out")
    return spec, folder / "out", res


def rows_of(res):
    return {r["method"]: r for r in res["benchmark"]["rows"]}


@pytest.mark.slow  # measured: 5 s CPU, a benchmark run (the fast loop, docs/development.md)
def test_competition_columns_in_results_table_and_report(tiny, tmp_path):
    _, out, res = tiny
    rows = rows_of(res)
    for r in rows.values():
        c = r["competition"]
        assert c["n_models"] == K and c["n_examples"] == 135 and c["diverged_runs"] == 0
        assert c["forget_quality_low"] <= c["forget_quality"] <= c["forget_quality_high"]
        assert c["final_score"] == pytest.approx(c["forget_quality"] * c["retain_ratio"] * c["test_ratio"])
    comp = res["benchmark"]["competition"]
    assert comp["models"] == K and comp["ceiling"] == {"random10": rows["retrain"]["competition"]["forget_quality"]}
    assert "Competition score, forget random10: best ga" in res["benchmark"]["summary"]
    head = (out / "table.csv").read_text().splitlines()[0].split(",")
    assert [c for c in head if c.startswith("competition_")] == [f"competition_{k}" for k in competition_phase.CSV_COLUMNS]
    assert len(list((out / "models" / "competition-random10").glob("retrain-s*.pt"))) == K
    assert len(list((out / "competition" / "ga" / "random10").glob("k*.json"))) == K
    page = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["report", str(out), "--html", "--out", str(page)])
    assert result.exit_code == 0 and "random10 retrain" in page.read_text() and "models per side" in page.read_text()


@pytest.mark.slow  # measured: 4.9 s CPU with the module's benchmark run (the fast loop, docs/development.md)
def test_retrain_reaches_the_ceiling_and_ga_scores_lower(tiny):
    """Retrain vs retrain is two samples of one distribution: its F is the most a method can get at
    this K, and it matches identical synthetic distributions. GA here runs one full batch per epoch
    (batch 256 > 135 forget examples): deterministic, its K runs are one point, so every example
    gets the cap and F = 0.

    Measured (K = 8, 135 examples): retrain F 0.179; identical normal samples F 0.187-0.199 over
    5 seeds; GA F 0.000 (median epsilon 50). Margins: 0.07 around the synthetic value (the
    ceiling also depends on the statistic's spread: 0.11-0.20 for normal samples of sd 0.3-3 at
    K = 32, docs/benchmark.md), 0.1 to GA."""
    rows = rows_of(tiny[2])
    rng = np.random.default_rng(0)
    synthetic = competition_score(rng.normal(size=(K, 135)), rng.normal(size=(K, 135)))["forget_quality"]
    retrain, ga = rows["retrain"]["competition"], rows["ga"]["competition"]
    assert abs(retrain["forget_quality"] - synthetic) < 0.07
    assert retrain["forget_quality"] - ga["forget_quality"] > 0.1
    assert ga["epsilon_median"] == 50.0 and ga["final_score"] < retrain["final_score"]


@pytest.mark.slow  # needs the module's benchmark run (the fast loop, docs/development.md)
def test_resume_reuses_the_retrains_and_runs(tiny, monkeypatch):
    spec, out, res = tiny
    stamps = {p: p.stat().st_mtime_ns for p in (out / "models" / "competition-random10").iterdir()}

    def forbidden(*args, **kwargs):
        raise AssertionError("trained again")

    import muaudit.training as training

    monkeypatch.setattr(training, "train_models", forbidden)
    monkeypatch.setattr(competition_phase, "unlearn_task", forbidden)
    again = run_benchmark(spec, out, resume=True)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    for m in ("retrain", "ga"):
        assert rows_of(again)[m]["competition"] == rows_of(res)[m]["competition"]


def test_spec_without_the_metric_has_no_competition(tmp_path):
    from muaudit.benchmark.spec import load_benchmark_spec

    spec = load_benchmark_spec(write_spec(tmp_path, metrics='["accuracy"]', competition=""))
    assert spec.competition is None and "competition" not in spec.to_dict()
    spec = load_benchmark_spec(write_spec(tmp_path, competition=""))
    assert spec.competition.models == competition_phase.DEFAULT_MODELS and spec.to_dict()["competition"]["seed"] == 0


@pytest.mark.parametrize("metrics, table, message", [
    ('["accuracy"]', "[competition]\nmodels = 8", '[competition] is set but `metrics` does not list "competition"'),
    ('["accuracy", "competition"]', "[competition]\nmodels = 2", "Expected `[competition] models` an integer in [3, 9999], got 2"),
    ('["accuracy", "competition"]', "[competition]\nmodel = 8", "unknown [competition] key 'model'; valid: models, seed, bootstrap"),
    ('["accuracy", "competition"]', "[competition]\nseed = 1180591620717411303424",
     "Expected `[competition] seed` an integer in [0, 4294967295], got 1180591620717411303424"),
    ('["accuracy", "competition"]', "", "[competition] must be a table"),
])
def test_bad_competition_input_is_one_error_line(tmp_path, metrics, table, message):
    spec = write_spec(tmp_path, metrics, table, top="" if table else "competition = 3")
    result = CliRunner().invoke(cli, ["benchmark", str(spec), "--out", str(tmp_path / "o")])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and lines == [f"Error: {message}"], result.output
