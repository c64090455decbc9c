import numpy as np
import pytest

from muaudit.models import load_checkpoint
from muaudit.pool.store import pool_lock
from tests.kit import error_line, run


def test_every_command_has_help():
    for cmd in (["pool", "build"], ["pool", "info"], ["pool", "merge"], ["train"]):
        r = run(*cmd, "--help")
        assert r.exit_code == 0 and "Usage:" in r.output


def test_pool_build_info_and_merge(tiny_recipe, tmp_path):
    recipe = tiny_recipe(n_models=4)
    r = run("pool", "build", recipe, "--out", tmp_path / "p", "--shard", "0/2")
    assert r.exit_code == 0, r.output
    assert "models done   2/4" in r.output
    r = run("pool", "build", recipe, "--out", tmp_path / "p", "--shard", "1/2")
    r = run("pool", "merge", tmp_path / "m", tmp_path / "p" / "shard-0-of-2.h5", tmp_path / "p" / "shard-1-of-2.h5")
    assert r.exit_code == 0 and "models done   4/4" in r.output
    r = run("pool", "info", tmp_path / "m", "--json")
    assert r.exit_code == 0 and '"exactly_half": true' in r.output


@pytest.mark.parametrize("body, error", [
    ("[model]\narch = 'vgg'", "Error: unknown architecture 'vgg'; valid: cnn, fastnet, mlp, resnet18, wrn"),
    ("[dataset]\nname = 'svhn'", "Error: unknown dataset 'svhn'; valid: breast_cancer, cifar10, cifar100, csv, digits, fashion-mnist, h5, mnist, npz, synthetic, wine"),
    ("[pool]\nengine = 'fast'", "Error: Expected `engine` in ('auto', 'sequential', 'ensemble'), got 'fast'"),
    ("[model]\narch = 'mlp'\ndepth = 3", "Error: unknown option 'depth' for architecture 'mlp'; valid: hidden"),
    ("[train]\nepochs = 2.5", "Error: Expected `epochs` an integer in [0, 100000], got 2.5"),
    ("[dataset]\nname = 'mnist'", "Error: this dataset is read from local files: set `path` to their folder"),
    ("[pool\n", "Error: recipe {recipe} is not valid TOML (Expected ']' at the end of a table declaration (at line 1, column 6))"),
])
def test_bad_recipes(tmp_path, body, error):
    recipe = tmp_path / "bad.toml"
    recipe.write_text(body + "\n[train]\nepochs = 1\n" if "[train]" not in body and "[pool\n" != body else body)
    r = run("pool", "build", recipe, "--out", tmp_path / "out")
    assert error_line(r) == error.format(recipe=recipe)


def test_missing_recipe_and_pool(tmp_path):
    assert error_line(run("pool", "build", tmp_path / "nope.toml")).startswith(f"Error: recipe {tmp_path / 'nope.toml'} does not exist: not a file, and not a packaged recipe (cifar10-fast, ")
    assert error_line(run("pool", "info", tmp_path / "nope")).startswith(f"Error: no pool at {tmp_path / 'nope'}; build one")


def test_corrupt_pool(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "pool.h5").write_bytes(b"\x89HDF garbage")
    line = error_line(run("pool", "info", tmp_path / "p"))
    assert line.startswith(f"Error: pool {tmp_path / 'p' / 'pool.h5'} is corrupt or not a muaudit pool") and line.endswith("rebuild it")


def test_locked_pool(tiny_recipe, tmp_path):
    with pool_lock(tmp_path / "p" / "pool.h5"):
        line = error_line(run("pool", "build", tiny_recipe(), "--out", tmp_path / "p"))
    assert line.startswith(f"Error: pool {tmp_path / 'p' / 'pool.h5'} is locked by another build (pid ")


def test_bad_shard(tiny_recipe, tmp_path):
    assert error_line(run("pool", "build", tiny_recipe(), "--shard", "2/2")) == "Error: Expected --shard k/n with 0 <= k < n, got '2/2'"
    assert error_line(run("pool", "build", tiny_recipe(), "--shard", "a")) == "Error: Expected --shard k/n (e.g. 0/4), got 'a'"


@pytest.mark.parametrize("arr, error", [
    (np.array([1.0, 2.0]), " holds float64 values (first: 1.0 at position 0); expected integer positions"),
    (np.array([4, -1]), ": entry -1 at position 1 is negative"),
    (np.array([1, 1347]), ": entry 1347 at position 1 is >= n_train = 1347"),
    (np.array([5, 6, 5]), ": entry 5 at position 2 is a duplicate"),
    (np.array([], np.int64), " is empty"),
    (np.zeros((2, 2), np.int64), " must be 1-D, got shape (2, 2)"),
    (np.array([1, "a"], dtype=object), " holds pickled objects (dtype object); refusing to unpickle it"),
])
def test_bad_index_files(tiny_recipe, tmp_path, arr, error):
    idx = tmp_path / "idx.npy"
    np.save(idx, arr, allow_pickle=True)
    assert error_line(run("pool", "build", tiny_recipe(), "--forget", idx, "--out", tmp_path / "p")) == f"Error: forget file {idx}{error}"
    assert error_line(run("train", tiny_recipe(), "--exclude", idx, "--out", tmp_path / "c.pt")) == f"Error: exclude file {idx}{error}"


def test_index_file_not_npy(tiny_recipe, tmp_path):
    txt = tmp_path / "idx.txt"
    txt.write_text("1 2 3")
    assert error_line(run("train", tiny_recipe(), "--exclude", txt, "--out", tmp_path / "c.pt")) == \
        f"Error: exclude file {txt} is not a .npy file; save indices with numpy.save"
    missing = tmp_path / "none.npy"
    assert error_line(run("train", tiny_recipe(), "--exclude", missing, "--out", tmp_path / "c.pt")) == \
        f"Error: exclude file {missing} does not exist"


def test_train_original_and_retrained(tiny_recipe, tmp_path):
    forget = np.arange(0, 1347, 10)
    np.save(tmp_path / "forget.npy", forget)
    r = run("train", tiny_recipe(), "--out", tmp_path / "orig.pt")
    assert r.exit_code == 0 and "trained on 1347 examples" in r.output
    r = run("train", tiny_recipe(), "--out", tmp_path / "re.pt", "--exclude", tmp_path / "forget.npy", "--seed", "1")
    assert r.exit_code == 0 and f"trained on {1347 - len(forget)} examples" in r.output
    _, meta = load_checkpoint(tmp_path / "re.pt")
    assert not set(meta["train_idx"]) & set(forget.tolist()) and meta["seed"] == 1 and meta["arch"] == "mlp"
