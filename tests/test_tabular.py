"""Tabular data: the ``csv`` loader (encoding with training-split statistics, splits, missing values),
the bundled ``breast_cancer`` / ``wine`` tables, bad CSVs as one ``Error:`` line each, and an
end-to-end audit on a pool built from a CSV."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from muaudit.cli.main import cli
from muaudit.data import TEST, TRAIN, load_dataset
from muaudit.errors import DataError

pytestmark = pytest.mark.usefixtures("one_thread")


def _write(path, header, rows):
    path.write_text(",".join(header) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def test_numeric_standardised_and_categorical_one_hot_with_training_statistics(tmp_path):
    rows = [(1.0, "red", 0, "train"), (3.0, "blue", 1, "train"), (5.0, "red", 0, "train"), (7.0, "blue", 1, "train"),
            (100.0, "green", 0, "test"), (9.0, "red", 1, "test")]
    ds = load_dataset("csv", path=str(_write(tmp_path / "t.csv", ["x", "colour", "label", "split"], rows)))
    assert ds.split.tolist() == [TRAIN] * 4 + [TEST] * 2
    pre = ds.info["preprocessing"]
    assert pre["columns"] == ["x", "colour=blue", "colour=red"]  # 'green' is never seen in training
    mean, std = np.mean([1, 3, 5, 7]), np.std([1, 3, 5, 7])  # the training rows only
    assert pre["features"]["x"]["mean"] == pytest.approx(mean) and pre["features"]["x"]["std"] == pytest.approx(std)
    assert np.allclose(ds.X[:, 0], (np.array([1, 3, 5, 7, 100, 9]) - mean) / std)
    assert ds.X[:, 1:].tolist() == [[0, 1], [1, 0], [0, 1], [1, 0], [0, 0], [0, 1]]
    assert pre["features"]["colour"]["unseen_rows"] == 1 and ds.y.tolist() == [0, 1, 0, 1, 0, 1]


def test_stratified_split_is_seeded_and_recorded(tmp_path):
    rng = np.random.default_rng(0)
    p = _write(tmp_path / "t.csv", ["a", "b", "label"],
               [(rng.normal(), rng.normal(), ["x", "y", "z"][i % 3]) for i in range(90)])
    a, b = load_dataset("csv", path=str(p), seed=3), load_dataset("csv", path=str(p), seed=3)
    assert a.fingerprint == b.fingerprint != load_dataset("csv", path=str(p), seed=4).fingerprint
    assert np.bincount(a.y[a.split == TEST]).tolist() == [8, 8, 8]  # round(0.25 * 30) per class
    assert a.info["preprocessing"]["split"] == "stratified" and a.info["preprocessing"]["seed"] == 3
    assert a.info["preprocessing"]["classes"] == ["x", "y", "z"]


def test_missing_values_error_drop_or_mean(tmp_path):
    rows = [(1, "a", 0), ("", "b", 1), (3, "?", 0), (5, "a", 1), (7, "b", 0), (9, "a", 1), (2, "b", 0), (4, "a", 1)]
    p = _write(tmp_path / "m.csv", ["x", "c", "label"], rows)
    with pytest.raises(DataError, match=r"line 3: missing value in column 'x'"):
        load_dataset("csv", path=str(p))
    assert load_dataset("csv", path=str(p), missing="drop").n_samples == 6
    ds = load_dataset("csv", path=str(p), missing="mean")
    feats = ds.info["preprocessing"]["features"]
    train = ds.split == TRAIN
    assert feats["x"]["fill"] == pytest.approx(np.mean([v for (v, _, _), t in zip(rows, train) if v != "" and t]))
    assert feats["c"]["fill"] in ("a", "b") and ds.n_samples == 8


@pytest.mark.parametrize("name, n, d, k", [("breast_cancer", 569, 30, 2), ("wine", 178, 13, 3)])
def test_bundled_tables(name, n, d, k):
    ds = load_dataset(name)
    assert ds.X.shape == (n, d) and ds.n_classes == k
    assert np.allclose(ds.X[ds.split == TRAIN].mean(0), 0, atol=1e-5)
    assert ds.fingerprint == load_dataset(name).fingerprint


def _bad_csvs(d):
    ok_rows = [(i, i % 2) for i in range(20)]
    return {
        "no such column": (_write(d / "nolabel.csv", ["x", "target"], ok_rows), "no label column 'label'"),
        "non-numeric": (_write(d / "nonnum.csv", ["x", "label"], ok_rows[:5] + [("abc", 1)] + ok_rows[5:]),
                        "line 7: 'abc' in numeric column 'x' is not a finite number"),
        "one class": (_write(d / "one.csv", ["x", "label"], [(i, 1) for i in range(10)]), "one class only"),
        "label not in train": (_write(d / "unseen.csv", ["x", "label", "split"],
                                      [(i, i % 2, "train") for i in range(10)] + [(10, 2, "test")]),
                               "label 2 (line 12) is not in the training split"),
        "empty": (_write(d / "empty.csv", [], []), "is empty"),
        "huge line": (d / "huge.csv", "more than 1,048,576: not a table row"),
        "ragged": (_write(d / "ragged.csv", ["x", "label"], ok_rows[:3] + [(1, 0, 5)]), "line 5 has 3 fields"),
        "binary": (d / "bin.csv", "NUL bytes"),
    }


@pytest.mark.parametrize("case", ["no such column", "non-numeric", "one class", "label not in train", "empty",
                                  "huge line", "ragged", "binary"])
def test_bad_csv_is_one_error_line(tmp_path, case):
    (tmp_path / "huge.csv").write_text("x,label\n" + "1" * (2 << 20) + ",0\n")
    (tmp_path / "bin.csv").write_bytes(b"x,label\n1,\x000\n")
    path, message = _bad_csvs(tmp_path)[case]
    recipe = tmp_path / "r.toml"
    recipe.write_text(f"[dataset]\nname = 'csv'\npath = '{path}'\n[model]\narch = 'mlp'\nhidden = [8]\n"
                      "[pool]\nn_models = 2\n")
    res = CliRunner().invoke(cli, ["pool", "build", str(recipe), "--out", str(tmp_path / "pool")])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], res.output


def test_bad_options_are_config_errors(tmp_path):
    p = _write(tmp_path / "t.csv", ["x", "label"], [(i, i % 2) for i in range(10)])
    from muaudit.errors import ConfigError

    for opts, match in [({"missing": "zero"}, "missing"), ({"test_fraction": 1.0}, "test_fraction"),
                        ({"categorical": "x"}, "categorical"), ({"colour": 1}, "unknown option 'colour'")]:
        with pytest.raises(ConfigError, match=match):
            load_dataset("csv", path=str(p), **opts)


@pytest.mark.slow
def test_end_to_end_pool_from_csv_audits_original_and_retrain(tmp_path):
    """Random labels: the models can only memorise, so membership is strongly visible."""
    from muaudit.jobs.lira import run_lira
    from muaudit.jobs.train import run_train
    from muaudit.pool import build_pool, load_spec

    rng = np.random.default_rng(0)
    n = 240
    rows = [tuple(np.round(rng.normal(size=6), 4)) + (["a", "b", "c"][rng.integers(3)], int(rng.integers(2)))
            for _ in range(n)]
    csv = _write(tmp_path / "table.csv", [f"f{i}" for i in range(6)] + ["grp", "label"], rows)
    recipe = tmp_path / "tab.toml"
    recipe.write_text(f"[dataset]\nname = 'csv'\npath = '{csv}'\n[model]\narch = 'mlp'\nhidden = [128]\n"
                      "[train]\noptimizer = 'adam'\nlr = 1e-2\nweight_decay = 0.0\nepochs = 60\nbatch_size = 32\n"
                      "[pool]\nn_models = 16\nseed = 0\nengine = 'ensemble'\nensemble_size = 16\n")
    pool = build_pool(load_spec(recipe), tmp_path / "pool").parent
    info = json.loads(__import__("h5py").File(pool / "pool.h5", "r").attrs["dataset_info"])
    assert info["preprocessing"]["columns"][-3:] == ["grp=a", "grp=b", "grp=c"]
    np.save(tmp_path / "forget.npy", np.arange(0, 60, 2))
    run_train(recipe, tmp_path / "orig.pt", random_state=1)
    run_train(recipe, tmp_path / "retrain.pt", random_state=2, exclude=tmp_path / "forget.npy")
    verdicts = {}
    # 30 forget vs 60 non-members and 16 shadows: the audit can rule out a residual of ~70% of the
    # members' signal (measured 0.61-0.77), not the default 50%; so the pass is asked at 90%
    for name, max_residual in (("orig", 0.5), ("retrain", 0.9)):
        r, _ = run_lira(target=tmp_path / f"{name}.pt", forget=tmp_path / "forget.npy", pool=pool,
                        out=tmp_path / f"audit-{name}", max_residual=max_residual)
        verdicts[name] = (r["verdict"], round(r["auc"], 3), r["power_control"]["power"], r["inconclusive_reasons"])
    assert verdicts["orig"][0] == "not unlearned", verdicts
    assert verdicts["retrain"][0] == "consistent with retraining", verdicts
