"""``muaudit methods`` and ``muaudit unlearn`` through click's CliRunner."""

from __future__ import annotations

import json

import numpy as np
import pytest

from muaudit.models import load_checkpoint, read_checkpoint, save_checkpoint
from muaudit.pool.spec import PoolSpec
from muaudit.training.single import train_target
from muaudit.unlearning import method_names
from tests.kit import error_line, run


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: see tests/conftest.py


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A digits MLP trained on every training position but 0..9, and index files."""
    d = tmp_path_factory.mktemp("unlearn")
    spec = PoolSpec.from_dict({"dataset": {"name": "digits"}, "model": {"arch": "mlp", "hidden": [32]},
                               "train": {"optimizer": "adam", "lr": 3e-3, "epochs": 5, "weight_decay": 0}}, name="t")
    model, meta = train_target(spec, spec.load_dataset(), exclude=np.arange(10), random_state=0)
    save_checkpoint(d / "orig.pt", model, meta)
    np.save(d / "forget.npy", np.arange(20, 140))
    np.save(d / "outside.npy", np.array([30, 3, 40]))
    np.save(d / "too_big.npy", np.array([5000]))
    meta_bad = {**meta, "dataset_fingerprint": "0" * 64}
    save_checkpoint(d / "other_data.pt", model, meta_bad)
    return d


def unlearn(files, *extra, method="ft", forget="forget.npy"):
    return run("unlearn", "--method", method, "--model", files / "orig.pt", "--forget", files / forget,
               "--out", files / "out.pt", *extra)


def test_commands_have_help():
    for cmd in (["methods"], ["unlearn"]):
        r = run(*cmd, "--help")
        assert r.exit_code == 0 and "Usage:" in r.output


def test_methods_lists_every_method_with_description_and_source():
    r = run("methods")
    assert r.exit_code == 0
    names = [line.split()[0] for line in r.output.splitlines() if not line.startswith(" ")]
    assert names == method_names() and len(names) == 23
    assert r.output.count("source: ") == 23
    rows = json.loads(run("methods", "--json").output)
    ng = next(row for row in rows if row["name"] == "ng+")
    assert ng["defaults"]["alpha"] == 0.95 and ng["touches"] == ["forget", "retain"]


def test_unlearn_writes_a_checkpoint_with_the_record(files):
    r = unlearn(files, "--set", "epochs=2", "--set", "lr=0.01", "--seed", "3")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith("ft: ") and "sample-gradients" in lines[0] and "of the original training" in lines[0]
    assert lines[1].startswith("before  retain ") and lines[2].startswith("after   retain ") and "test" in lines[2]
    assert lines[3] == f"wrote {files / 'out.pt'}"
    model, meta = load_checkpoint(files / "out.pt")
    rec = meta["unlearning"]
    assert rec["method"] == "ft" and rec["config"]["epochs"] == 2 and rec["config"]["lr"] == 0.01
    assert rec["forget_idx"] == list(range(20, 140)) and rec["seed"] == 3
    assert rec["cost"]["sample_gradients"] == 2 * (1347 - 10 - 120) and rec["cost"]["seconds"] > 0
    assert meta["train_idx"] == [i for i in range(10, 1347) if not 20 <= i < 140]
    assert set(rec["accuracy"]) == {"retain", "forget", "test"}


def test_retrain_uses_the_checkpoint_recipe_and_budget_caps_it(files):
    r = unlearn(files, "--budget", "0.5", method="retrain")
    assert r.exit_code == 0, r.output
    assert "(stopped at the budget)" in r.output.splitlines()[0]
    _, meta = read_checkpoint(files / "out.pt")
    rec = meta["unlearning"]
    assert rec["config"]["optimizer"] == "adam" and rec["config"]["epochs"] == 5 and rec["budget"] == 0.5
    assert rec["cost"]["sample_gradients"] <= 0.5 * 5 * 1337 and rec["cost"]["truncated"]


def test_chained_unlearning_keeps_history(files):
    assert unlearn(files, "--set", "epochs=1").exit_code == 0
    r = run("unlearn", "--method", "ga", "--model", files / "out.pt", "--forget", files / "forget.npy",
            "--out", files / "twice.pt")
    assert r.exit_code == 2 and "is not in the model's training set" in r.output  # already forgotten
    np.save(files / "more.npy", np.array([200, 201]))
    r = run("unlearn", "--method", "ga", "--model", files / "out.pt", "--forget", files / "more.npy",
            "--out", files / "twice.pt", "--set", "epochs=1")
    assert r.exit_code == 0, r.output
    _, meta = read_checkpoint(files / "twice.pt")
    assert meta["unlearning"]["method"] == "ga" and meta["unlearning_history"][0]["method"] == "ft"


@pytest.mark.parametrize("args, method, forget, error", [
    ((), "nope", "forget.npy",
     "Error: unknown unlearning method 'nope'; valid: " + ", ".join(sorted(method_names()))),
    (("--set", "lrr=1"), "ft", "forget.npy",
     "Error: unknown option 'lrr' for unlearning method 'ft'; valid: lr, momentum, weight_decay, epochs, batch_size"),
    (("--set", "lr=abc"), "ft", "forget.npy", "Error: Expected `lr` a number, got 'abc'"),
    (("--set", "lr=-1"), "ft", "forget.npy", "Error: Expected `lr` > 0, got -1"),
    (("--set", "epochs=2.5"), "ga", "forget.npy", "Error: Expected `epochs` an integer, got 2.5"),
    (("--set", "alpha=1.5"), "ng+", "forget.npy", "Error: Expected `alpha` in [0, 1], got 1.5"),
    (("--set", "optimizer=rmsprop"), "retrain", "forget.npy", "Error: Expected `optimizer` in ('sgd', 'adam'), got 'rmsprop'"),
    (("--set", "lr"), "ft", "forget.npy", "Error: Expected --set key=value, got 'lr'"),
    (("--budget", "-0.5"), "ft", "forget.npy", "Error: Expected `budget` > 0 (a fraction of the original training), got -0.5"),
])
def test_bad_options_are_one_error_line(files, args, method, forget, error):
    assert error_line(unlearn(files, *args, method=method, forget=forget)) == error


def test_forget_indices_outside_the_training_set(files):
    assert error_line(unlearn(files, forget="outside.npy")) == (
        f"Error: forget file {files / 'outside.npy'}: entry 3 at position 1 is not in the model's training set "
        "(the checkpoint's train_idx)")
    assert error_line(unlearn(files, forget="too_big.npy")) == (
        f"Error: forget file {files / 'too_big.npy'}: entry 5000 at position 0 is >= n_train = 1347")


def test_bad_model_files(files):
    r = run("unlearn", "--method", "ft", "--model", files / "missing.pt", "--forget", files / "forget.npy",
            "--out", files / "o.pt")
    assert error_line(r) == f"Error: checkpoint {files / 'missing.pt'} does not exist"
    r = run("unlearn", "--method", "ft", "--model", files / "other_data.pt", "--forget", files / "forget.npy",
            "--out", files / "o.pt")
    assert error_line(r).startswith(f"Error: {files / 'other_data.pt'} was trained on digits with fingerprint 000000000000")
