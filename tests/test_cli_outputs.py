"""What commands print and show: --json on every command that prints results, progress on stderr
(a bar on a terminal, log lines elsewhere), and the packaged recipes resolved by name from any directory."""

import io
import json

import numpy as np
import pytest

from muaudit.cli.common import ProgressBar, progress_bar
from muaudit.jobs.train import run_train
from muaudit.jobs.unlearn import unlearn_checkpoint
from muaudit.pool import load_spec
from muaudit import packaged
from muaudit.pool.recipes import default_pool_dir, packaged_recipes, resolve_recipe
from tests.kit import run

pytestmark = pytest.mark.usefixtures("one_thread")


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_a_bar_on_a_terminal_and_log_lines_elsewhere():
    from muaudit.progress import LogLines

    assert isinstance(progress_bar("x", io.StringIO()), LogLines)  # tests/test_progress_log.py
    stream = Tty()
    bar = progress_bar("training", stream)
    assert isinstance(bar, ProgressBar)
    for done in (1, 2, 3):
        bar(done, 3)
    assert "training" in stream.getvalue() and "3/3" in stream.getvalue()
    counter = Tty()
    bar = ProgressBar("unlearning", counter)
    bar(1234, 0)  # total not known ahead: a running count, redrawn at most every 0.2 s
    bar(2345, 0)
    bar.close()  # ends on the final count
    assert counter.getvalue() == "\runlearning: 1,234\runlearning: 2,345\n"


def test_training_and_unlearning_report_progress(tiny_recipe, tmp_path):
    calls = []
    r = run_train(tiny_recipe(epochs=3), tmp_path / "m.pt", progress=lambda *a: calls.append(a))
    assert calls == [(1, 3), (2, 3), (3, 3)] and r["n_train"] == 1347
    np.save(tmp_path / "f.npy", np.arange(0, 1347, 10))
    calls = []
    unlearn_checkpoint("ft", tmp_path / "m.pt", tmp_path / "f.npy", tmp_path / "u.pt", overrides={"epochs": 2},
                       progress=lambda *a: calls.append(a))
    done = [d for d, _ in calls]
    assert done == sorted(done) and done[-1] == 2 * (1347 - 135) and {t for _, t in calls} == {0}
    calls = []
    unlearn_checkpoint("ft", tmp_path / "m.pt", tmp_path / "f.npy", tmp_path / "u.pt", budget=0.5,
                       progress=lambda *a: calls.append(a))
    assert {t for _, t in calls} == {int(0.5 * 3 * 1347)} and calls[-1][0] <= calls[-1][1]


def test_json_on_pool_build_merge_train_and_unlearn(tiny_recipe, tmp_path):
    recipe = tiny_recipe(n_models=4)
    shards = []
    for k in (0, 1):
        r = run("pool", "build", recipe, "--out", tmp_path / "p", "--shard", f"{k}/2", "--json")
        assert r.exit_code == 0, r.output
        s = json.loads(r.output)
        assert (s["n_done"], s["n_models"]) == (2, 4)
        shards.append(s["path"])
    r = run("pool", "merge", tmp_path / "m", *shards, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["n_done"] == 4
    r = run("train", recipe, "--out", tmp_path / "t.pt", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["out"] == str(tmp_path / "t.pt")
    np.save(tmp_path / "f.npy", np.arange(0, 1347, 10))
    r = run("unlearn", "--method", "ft", "--model", tmp_path / "t.pt", "--forget", tmp_path / "f.npy",
            "--out", tmp_path / "u.pt", "--set", "epochs=1", "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["method"] == "ft" and set(res["after"]) == {"retain", "forget", "test"}


def test_packaged_recipes_resolve_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert packaged_recipes() == ["cifar10-fast", "cifar10-resnet18", "cifar10-wrn16-4", "digits-cnn",
                                  "digits-mlp", "digits-mlp-ulira", "wine-mlp"]
    path = resolve_recipe("digits-mlp")
    assert path.parent == packaged.RECIPES_DIR and resolve_recipe("digits-mlp.toml") == path
    assert load_spec(path).n_models == 64 and default_pool_dir(path).as_posix() == "shadow_models/digits-mlp"
    (tmp_path / "mine.toml").write_text("")
    assert resolve_recipe("mine.toml").as_posix() == "mine.toml" and default_pool_dir(tmp_path / "mine.toml") == tmp_path / "mine"
    r = run("pool", "build", "shadow_models/digits-mlp.toml")  # the checkout's path, from an empty folder
    assert r.exit_code == 2 and r.output.strip() == ("Error: recipe shadow_models/digits-mlp.toml does not exist: not a "
                                                     "file, and not a packaged recipe (cifar10-fast, cifar10-resnet18, cifar10-wrn16-4, digits-cnn, digits-mlp, digits-mlp-ulira, wine-mlp)")
    r = run("pool", "build", "nope")
    assert r.exit_code == 2 and r.output.strip() == \
        "Error: recipe nope does not exist: not a file, and not a packaged recipe (cifar10-fast, cifar10-resnet18, cifar10-wrn16-4, digits-cnn, digits-mlp, digits-mlp-ulira, wine-mlp)"


@pytest.mark.slow  # measured: 7 s CPU, the demo (the fast loop, docs/development.md)
def test_demo_and_pool_build_by_name_from_another_directory(tiny_recipe, tmp_path, monkeypatch):
    """`muaudit pool build digits-mlp` and `muaudit demo` away from the repository, with the packaged
    recipe swapped for a tiny one (the real one trains 64 models)."""
    package = tmp_path / "package"
    package.mkdir()
    (package / "digits-mlp.toml").write_text(tiny_recipe(n_models=4).read_text())
    monkeypatch.setattr(packaged, "RECIPES_DIR", package)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    r = run("pool", "build", "digits-mlp", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["path"] == "shadow_models/digits-mlp/pool.h5"
    r = run("demo", "--out", "res", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)  # the log lines go to stderr with --json
    assert "training the original target ..." in r.stderr
    assert out["report"] == "res/report.html" and (elsewhere / "res" / "report.html").is_file()
    assert {"original", "retrained", "ft-unlearned"} <= set(out) and out["original"]["config"]["n_shadows"] == 4
    assert sorted(p.name for p in (elsewhere / "shadow_models").iterdir()) == ["digits-mlp"]
