"""The benchmark's U-LiRA column on a tiny recipe (an MLP with 64 hidden units, 16 shadows):
the column, its intervals and protocol, the retrain / original sanity checks on a random and a
class-wise setting (its own forget-aware pool), a resume that does not rebuild the pools, the
report, and bad `[ulira]` tables."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

pytest.importorskip("optuna")

from muaudit.cli.main import cli  # noqa: E402
from muaudit.jobs.benchmark import run_benchmark  # noqa: E402

RECIPE = """[dataset]
name = "digits"
[model]
arch = "mlp"
hidden = [64]
[train]
optimizer = "adam"
lr = 3e-3
epochs = 30
batch_size = 64
[pool]
n_models = 16
engine = "sequential"
"""
SPEC = """recipe = "tiny.toml"
methods = ["original", "retrain", "ga"]
seeds = [0]
[search]
trials = 1
[[forget]]
name = "random10"
fraction = 0.1
[[forget]]
name = "class3"
kind = "class"
classes = [3]
{ulira}
"""


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("bulira")
    (d / "tiny.toml").write_text(RECIPE)
    (d / "spec.toml").write_text(SPEC.format(ulira='[ulira]\npool = "tiny.toml"'))
    try:
        res = run_benchmark(d / "spec.toml", d / "out")
    finally:
        torch.set_num_threads(threads)
    return d, res


def rows(res, forget="random10"):
    return {r["method"]: r for r in res["benchmark"]["rows"] if r["forget"] == forget}


@pytest.mark.slow  # the module's benchmark run (a U-LiRA pool per setting)
def test_column_with_intervals_and_protocol(bench):
    d, res = bench
    got = rows(res)
    for r in got.values():
        for k in ("ulira_auc", "ulira_accuracy"):
            assert r[k]["low"] < r[k]["mean"] < r[k]["high"] and r[k]["n"] == 16
        assert r["ulira_protocol"].startswith("U-LiRA (Hayes et al. 2024): reference=retrain, statistic=phi, "
                                              "variance=fixed (auto:")
        assert "16 held-out targets of 16 shadows" in r["ulira_protocol"] and "not per seed" in r["ulira_protocol"]
    assert len({r["ulira_entry"] for r in got.values()}) == 3
    pools = {p["key"]: p for p in res["benchmark"]["ulira"]["pools"]}
    assert pools["random"]["pool"] == str(d / "out" / "ulira" / "pool")
    assert pools["class-class3"]["pool"] == str(d / "out" / "ulira" / "class-class3" / "pool")
    assert "U-LiRA AUC [95% CI]" in res["benchmark"]["markdown"] and "U-LiRA AUC on random10" in res["benchmark"]["summary"]
    with open(d / "out" / "table.csv") as fh:
        table = list(csv.DictReader(fh))
    assert {"ulira_auc", "ulira_auc_low", "ulira_accuracy_high", "ulira_verdict", "ulira_protocol"} <= set(table[0])


@pytest.mark.slow  # the module's benchmark run (a U-LiRA pool per setting)
def test_retrain_near_chance_original_and_ga_caught(bench):
    """Measured on this pool: retrain (a second retrain from another seed) AUC 0.505 [0.485, 0.524];
    original 0.586 [0.568, 0.608]; GA at its one trial's config 0.575 [0.556, 0.595]."""
    got = rows(bench[1])
    r, o, g = got["retrain"]["ulira_auc"], got["original"]["ulira_auc"], got["ga"]["ulira_auc"]
    assert r["low"] <= 0.5 <= r["high"] and abs(r["mean"] - 0.5) < 0.03
    assert got["retrain"]["ulira_verdict"] == "consistent with retraining"
    assert o["low"] > r["high"] and g["low"] > r["high"]
    assert got["ga"]["ulira_verdict"] == "not unlearned"


@pytest.mark.slow  # the module's benchmark run (a U-LiRA pool per setting)
def test_classwise_setting_has_its_forget_aware_pool(bench):
    """Class 3 forgotten by the 8 shadows that trained on it. Measured: retrain 0.487 [0.463, 0.510],
    GA 0.994, original 1.000 (a model that still knows the class is told apart at once)."""
    got = rows(bench[1], "class3")
    r, o, g = got["retrain"]["ulira_auc"], got["original"]["ulira_auc"], got["ga"]["ulira_auc"]
    assert r["low"] <= 0.5 <= r["high"] and got["retrain"]["ulira_verdict"] == "consistent with retraining"
    assert o["mean"] > 0.95 and g["low"] > r["high"]
    assert "8 held-out targets of 16 shadows, those that trained on classes [3]" in got["ga"]["ulira_protocol"]


@pytest.mark.slow  # the module's benchmark run (a U-LiRA pool per setting)
def test_written_recipes_rebuild_the_same_pools(bench):
    from muaudit.pool.reader import Pool
    from muaudit.pool.spec import load_spec

    d, res = bench
    for p in res["benchmark"]["ulira"]["pools"]:
        spec = load_spec(p["recipe"])
        assert json.loads(spec.to_json()) == Pool(p["pool"] + "/pool.h5").spec
        assert sorted(e.name for e in spec.unlearn) == p["entries"] and all(e.retrain for e in spec.unlearn)
    assert (d / "out" / "ulira" / "class-class3" / "forget.npy").is_file()


@pytest.mark.slow  # the module's benchmark run (a U-LiRA pool per setting)
def test_resume_does_not_rebuild_the_pool(bench):
    d, res = bench
    pools = [d / "out" / "ulira" / "pool" / "pool.h5", d / "out" / "ulira" / "class-class3" / "pool" / "pool.h5"]
    before = [(p.stat().st_mtime_ns, p.stat().st_size) for p in pools]
    again = run_benchmark(d / "spec.toml", d / "out", resume=True)
    assert [(p.stat().st_mtime_ns, p.stat().st_size) for p in pools] == before
    assert [r["ulira_auc"] for r in again["benchmark"]["rows"]] == [r["ulira_auc"] for r in res["benchmark"]["rows"]]


@pytest.mark.slow  # the module's benchmark run (a U-LiRA pool per setting)
def test_changed_config_is_a_new_entry_of_the_same_pool(bench, tmp_path):
    """``--resume --trials 3`` moves GA to another configuration (measured: its best of 3 trials):
    a new entry is added to the built pool, reusing the base shadows' weights (not retrained) and
    the stored retrains; the unchanged entries keep their evaluations."""
    import shutil

    from muaudit.pool.reader import Pool

    d, res = bench
    out = tmp_path / "out"
    shutil.copytree(d / "out", out)
    weights = {p.name: p.stat().st_mtime_ns for p in (out / "ulira" / "pool" / "weights").iterdir()}
    again = run_benchmark(d / "spec.toml", out, resume=True, trials=3)
    old, new = rows(res), rows(again)
    assert new["ga"]["ulira_entry"] != old["ga"]["ulira_entry"]
    assert new["retrain"]["ulira_auc"] == old["retrain"]["ulira_auc"]
    assert {p.name: p.stat().st_mtime_ns for p in (out / "ulira" / "pool" / "weights").iterdir()} == weights
    pool = Pool(out / "ulira" / "pool" / "pool.h5")
    assert {old["ga"]["ulira_entry"], new["ga"]["ulira_entry"]} <= set(pool.unlearned)
    assert pool.unlearned[new["ga"]["ulira_entry"]].done.all()


@pytest.mark.slow  # the module's benchmark run (a U-LiRA pool per setting)
def test_a_built_pool_folder_is_used_in_place(bench, tmp_path):
    """``pool = DIR``: the benchmark's random-setting entries go into that pool; built ones are not
    rebuilt (the class-wise setting gets its own forget-aware pool in the new folder)."""
    import shutil

    d, res = bench
    shutil.copytree(d / "out" / "models", tmp_path / "out" / "models")  # the same originals and retrains
    pool = d / "out" / "ulira" / "pool" / "pool.h5"
    before = pool.stat().st_mtime_ns
    (tmp_path / "tiny.toml").write_text(RECIPE)
    (tmp_path / "spec.toml").write_text(SPEC.format(ulira=f'[ulira]\npool = "{pool.parent}"'))
    got = run_benchmark(tmp_path / "spec.toml", tmp_path / "out")
    assert pool.stat().st_mtime_ns == before
    assert got["benchmark"]["ulira"]["pools"][0] == {**res["benchmark"]["ulira"]["pools"][0], "recipe": str(
        tmp_path / "out" / "ulira" / "tiny.toml")}
    assert [r["ulira_auc"] for r in rows(got).values()] == [r["ulira_auc"] for r in rows(res).values()]


@pytest.mark.slow  # the module's benchmark run (a U-LiRA pool per setting)
def test_report_shows_the_column(bench, tmp_path):
    d, _ = bench
    result = CliRunner().invoke(cli, ["report", str(d / "out"), "--html", "--out", str(tmp_path / "r.html")])
    page = (tmp_path / "r.html").read_text()
    assert result.exit_code == 0 and "U-LiRA (per method, not per seed)" in page and "reference=retrain" in page


@pytest.mark.parametrize("ulira, metrics, message", [
    ('[ulira]\npool = "digits-mlp"', "", "differs from the benchmark's recipe in [model]"),
    ('[ulira]\npool = "nothing-here"', "", "neither a pool recipe nor a built pool folder"),
    ('[ulira]\npool = "tiny.toml"\nreference = "x"', "", "reference"),
    ('[ulira]\npool = "tiny.toml"\nsize = 3', "", "unknown [ulira] key 'size'"),
    ('[ulira]\npool = "tiny.toml"\nmodels = 7', "", "an even integer"),
    ("", '\nmetrics = ["accuracy", "ulira"]', "metric `ulira` needs a [ulira] table"),
    ('[ulira]\npool = "tiny.toml"', '\nmetrics = ["accuracy"]', "lacks \"ulira\""),
])
def test_bad_ulira_tables(tmp_path, ulira, metrics, message):
    (tmp_path / "tiny.toml").write_text(RECIPE)
    (tmp_path / "spec.toml").write_text(SPEC.format(ulira=ulira).replace('seeds = [0]', 'seeds = [0]' + metrics))
    result = CliRunner().invoke(cli, ["benchmark", str(tmp_path / "spec.toml"), "--out", str(tmp_path / "o")])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0], result.output
