"""`muaudit forget-set`: a forget index file chosen one way, written atomically, described in words."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from muaudit import packaged
from muaudit.cli.main import cli
from muaudit.data.forget_sets import choose_forget, read_positions_csv
from muaudit.errors import ConfigError, DataError
from muaudit.pool import load_spec
from muaudit.pool.recipes import resolve_recipe


@pytest.fixture(scope="module")
def train_labels():
    ds = load_spec(resolve_recipe("digits-mlp")).load_dataset()
    return ds.y[ds.train_idx]


def run(tmp_path, monkeypatch, *args):
    monkeypatch.chdir(tmp_path)
    return CliRunner().invoke(cli, ["forget-set", *map(str, args)])


def test_random_fraction_is_seeded_and_described(tmp_path, monkeypatch, train_labels):
    r = run(tmp_path, monkeypatch, "forget.npy", "--fraction", "0.1", "--seed", "3")
    assert r.exit_code == 0, r.output
    got = np.load(tmp_path / "forget.npy", allow_pickle=False)
    assert got.dtype == np.int64 and len(got) == 135 and len(set(got)) == 135 and got.max() < 1347
    assert np.array_equal(got, choose_forget(train_labels, fraction=0.1, random_state=3))
    assert not np.array_equal(got, choose_forget(train_labels, fraction=0.1, random_state=4))
    counts = np.bincount(train_labels[got], minlength=10)
    assert r.output.splitlines() == [
        "wrote forget.npy: 135 positions of the 1347 in the training split of dataset digits (random 10%, seed 3)",
        "per class: " + ", ".join(f"{c}: {n}" for c, n in enumerate(counts))]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["forget.npy"]  # no temporary left behind


def test_whole_class_count_and_csv(tmp_path, monkeypatch, train_labels):
    r = run(tmp_path, monkeypatch, "c.npy", "--class", "3", "--class", "5", "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    got = np.load(tmp_path / "c.npy")
    assert np.array_equal(got, np.flatnonzero(np.isin(train_labels, [3, 5])))
    assert res["n_forget"] == len(got) and res["class_counts"][3] + res["class_counts"][5] == len(got)
    assert run(tmp_path, monkeypatch, "k.npy", "--count", "7").exit_code == 0
    assert len(np.load(tmp_path / "k.npy")) == 7
    (tmp_path / "p.csv").write_text("id,position\na,9\nb,2\nc,1346\n")
    r = run(tmp_path, monkeypatch, "p.npy", "--csv", "p.csv", "--column", "position")
    assert r.exit_code == 0, r.output
    assert np.load(tmp_path / "p.npy").tolist() == [2, 9, 1346]


@pytest.mark.parametrize("args, message", [
    ((), "Error: choose the forget set one way: --fraction, --count, --class or --csv"),
    (("--count", "5", "--class", "2"), "Error: choose the forget set one way: --fraction, --count, --class or --csv "
                                       "(got --count, --class)"),
    (("--count", "1347"), "Error: Expected `--count` an integer in [1, 1346], got 1347"),
    (("--fraction", "0.0001"), "Error: --fraction 0.0001 of 1347 training examples selects none; give a larger fraction"),
    (("--class", "10"), "Error: class 10 does not exist; the training split has classes 0..9"),
    (("--csv", "bad.csv"), "Error: CSV file bad.csv, line 3: '1.5' is not an integer training-split position"),
    (("--csv", "big.csv"), "Error: forget positions: entry 1347 at position 1 is >= n_train = 1347"),
    (("--count", "3", "--recipe", "nope"), "Error: recipe nope does not exist: not a file, and not a packaged recipe "
                                           f"({', '.join(packaged.names('recipe'))})"),
])
def test_bad_input_is_one_error_line_and_writes_nothing(tmp_path, monkeypatch, args, message):
    (tmp_path / "bad.csv").write_text("position\n4\n1.5\n")
    (tmp_path / "big.csv").write_text("4\n1347\n")
    r = run(tmp_path, monkeypatch, "out.npy", *args)
    assert r.exit_code == 2 and r.output.strip() == message
    assert not (tmp_path / "out.npy").exists()


def test_library_checks():
    y = np.array([0, 1, 1, 0])
    with pytest.raises(ConfigError, match="whole training split"):
        choose_forget(y, classes=[0, 1])
    assert choose_forget(y, positions=[3, 0]).tolist() == [0, 3]


def test_csv_reader(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("7,a\n\n3,b\n")
    assert read_positions_csv(p).tolist() == [7, 3]
    with pytest.raises(DataError, match="has no column 'pos'; columns: 7, a"):
        read_positions_csv(p, column="pos")
