"""Hostile and careless input, one table: every case is a CLI call that must end with exit code 2,
exactly one ``Error:`` line, no traceback, no input file changed, no stray file written, and no
code run (the marker file a hostile factory would create never appears). See docs/security.md.

Pools damaged on purpose (hostile ``pool.h5`` files, full disks) are tested with the store.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.kit import TINY_RECIPE as RECIPE
from tests.kit import copy_kit, one_error, run, snapshot

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: see tests/conftest.py

N_TRAIN = 1347  # digits' training split


@dataclass
class Kit:
    """Files a careless or hostile user starts from (built once per module, never modified)."""

    root: Path
    recipe: Path  # tiny digits MLP recipe
    model: Path  # muaudit checkpoint trained on every training example
    raw: Path  # the same weights as a raw state_dict
    script: Path  # the same model as TorchScript
    forget: Path  # training positions 0..19
    pool: Path  # a finished 2-model pool of the recipe, with one U-LiRA entry
    results: Path  # a results folder (muaudit mia)


@pytest.fixture(scope="module")
def kit(tmp_path_factory, cli_kit_base) -> Kit:
    d = copy_kit(cli_kit_base, tmp_path_factory.mktemp("kit"))
    k = Kit(d, d / "tiny.toml", d / "model.pt", d / "raw.pt", d / "script.pt", d / "forget.npy", d / "pool",
            d / "results")
    obj = torch.load(k.model, weights_only=True)
    torch.save(obj["state_dict"], k.raw)
    from muaudit.models import load_checkpoint

    torch.jit.save(torch.jit.script(load_checkpoint(k.model)[0]), str(k.script))
    return k


# --- builders of hostile files ---------------------------------------------------------------------

MARKER = "MARKER"  # created in the working directory if a hostile factory ever runs
EVIL = {"arch": "os:system", "command": f"touch {MARKER}"}


def write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data) if isinstance(data, bytes) else path.write_text(data)
    return path


def recipe_with(d: Path, old: str, new: str, name: str = "r.toml") -> Path:
    assert old in RECIPE
    return write(d / name, RECIPE.replace(old, new, 1))


def evil_recipe(d: Path) -> Path:
    return recipe_with(d, 'arch = "mlp"\nhidden = [8]', f'arch = "os:system"\ncommand = "touch {MARKER}"')


def checkpoint_with(k: Kit, d: Path, **meta) -> Path:
    obj = torch.load(k.model, weights_only=True)
    obj["meta"].update(meta)
    torch.save(obj, d / "bad.pt")
    return d / "bad.pt"


def evil_checkpoint(k: Kit, d: Path) -> Path:
    return checkpoint_with(k, d, arch=EVIL["arch"], arch_kwargs={"command": EVIL["command"]})


def evil_pool(k: Kit, d: Path) -> Path:
    """A copy of the kit's pool whose stored recipe names ``os:system`` as its architecture, with its
    content checksum recomputed (an attacker who knows the format): the factory check must still hold."""
    import shutil

    import h5py

    from muaudit.pool.digest import CONTENT_ATTR, root_parts

    shutil.copytree(k.pool, d / "pool")
    with h5py.File(d / "pool" / "pool.h5", "r+") as f:
        spec = json.loads(f.attrs["spec"])
        spec["model"] = dict(EVIL)
        f.attrs["spec"] = json.dumps(spec, sort_keys=True)
        if CONTENT_ATTR in f.attrs:
            stored = json.loads(f.attrs[CONTENT_ATTR])
            stored["spec"] = root_parts(f)["spec"]
            f.attrs[CONTENT_ATTR] = json.dumps(stored, sort_keys=True)
    return d / "pool"


class Evil:
    """Unpickling this runs ``touch MARKER``: muaudit must refuse it before anything runs."""

    def __reduce__(self):
        return os.system, (f"touch {MARKER}",)


def evil_pickle_checkpoint(d: Path) -> Path:
    torch.save({"state_dict": Evil(), "meta": {}}, d / "evil.pt")
    return d / "evil.pt"


def evil_npy(d: Path, name: str) -> Path:
    np.save(d / name, np.array([Evil()], dtype=object), allow_pickle=True)
    return d / name


def nan_checkpoint(k: Kit, d: Path) -> Path:
    obj = torch.load(k.model, weights_only=True)
    next(iter(obj["state_dict"].values()))[0] = float("nan")
    torch.save(obj, d / "nan.pt")
    return d / "nan.pt"


def npy_claiming(d: Path, shape, name="claim.npy") -> Path:
    """An .npy whose header claims ``shape`` int64 entries but holds 8 bytes of data."""
    from numpy.lib import format as npformat

    with open(d / name, "wb") as f:
        npformat.write_array_header_1_0(f, {"descr": "<i8", "fortran_order": False, "shape": shape})
        f.write(b"\0" * 8)
    return d / name


def empty_reason_torchscript(d: Path) -> Path:
    """A zip that looks like a TorchScript archive (``code/`` entries) but holds nothing loadable."""
    with zipfile.ZipFile(d / "ts.pt", "w") as z:
        z.writestr("ts/code/__torch__.py", "")
        z.writestr("ts/constants.pkl", b"")
    return d / "ts.pt"


def saved(path: Path, arr) -> Path:
    np.save(path, arr)
    return path


def npz_named(path: Path, **arrays) -> Path:
    """An .npz archive under any name (e.g. one ending in .npy)."""
    with open(path, "wb") as f:
        np.savez(f, **(arrays or {"a": np.arange(3)}))
    return path


def made_dir(path: Path) -> Path:
    path.mkdir()
    return path


def dataset_recipe(d: Path, data: Path) -> Path:
    """The tiny recipe reading the npz dataset at ``data``."""
    return recipe_with(d, 'name = "digits"', f'name = "npz"\npath = "{data}"')


def npz_dataset_recipe(d: Path, **arrays) -> Path:
    return dataset_recipe(d, npz_named(d / "data.npz", **arrays))


def symlink_loop(d: Path) -> Path:
    os.symlink(d / "loop", d / "loop")
    return d / "loop"


def regular_file(d: Path) -> Path:
    return write(d / "file", "I am a file")


READ_ONLY = Path("/sys/muaudit-fuzz")  # not writable even by root (sysfs)


def mia(k, d, *extra, target=None, forget=None):
    return ["mia", "--target", target or k.model, "--forget", forget or k.forget, "--out", d / "o", *extra]


def lira(k, d, *extra, target=None, pool=None, forget=None):
    return ["lira", "--target", target or k.model, "--forget", forget or k.forget, "--pool", pool or k.pool,
            "--out", d / "o", *extra]


def unlearn(k, d, *extra, model=None, forget=None, out=None):
    return ["unlearn", "--method", "ft", "--model", model or k.model, "--forget", forget or k.forget,
            "--out", out or d / "u.pt", "--set", "epochs=1", *extra]


def train(k, d, *extra, recipe=None, out=None):
    return ["train", recipe or k.recipe, "--out", out or d / "t.pt", *extra]


def build(k, d, recipe, *extra):
    return ["pool", "build", recipe, "--out", d / "p", *extra]


def poison(k, d, *extra, recipe=None):
    return ["poison", "gaussian", "--recipe", recipe or k.recipe, "--method", "ft", "--seeds", "1",
            "--out", d / "o", *extra]


# --- the table: (id, argv builder, text the Error line must contain) -----------------------------------

CASES = [
    # 1. no code from any file: every place a file can name an architecture
    ("arch-recipe-pool-build", lambda k, d: build(k, d, evil_recipe(d)), "names the model factory 'os:system'"),
    ("arch-recipe-train", lambda k, d: train(k, d, recipe=evil_recipe(d)), "pass --arch os:system if you trust it"),
    ("arch-recipe-poison", lambda k, d: poison(k, d, recipe=evil_recipe(d)), "names the model factory 'os:system'"),
    ("arch-recipe-other-arch", lambda k, d: train(k, d, "--arch", "cnn"), "differs from the [model] arch 'mlp'"),
    ("arch-pool-spec-lira", lambda k, d: lira(k, d, target=k.raw, pool=evil_pool(k, d)), "names the model factory 'os:system'"),
    ("arch-pool-spec-mia", lambda k, d: mia(k, d, "--pool", evil_pool(k, d), target=k.raw), "names the model factory 'os:system'"),
    ("arch-meta-lira", lambda k, d: lira(k, d, target=evil_checkpoint(k, d)), "names the model factory 'os:system'"),
    ("arch-meta-mia", lambda k, d: mia(k, d, target=evil_checkpoint(k, d)), "names the model factory 'os:system'"),
    ("arch-meta-unlearn", lambda k, d: unlearn(k, d, model=evil_checkpoint(k, d)), "names the model factory 'os:system'"),
    ("arch-meta-not-a-string", lambda k, d: mia(k, d, target=checkpoint_with(k, d, arch=["mlp"])), "names no architecture"),
    # 2. option and recipe values, range-checked where parsed, the same in every command
    *[(f"mia-alpha-{a}", lambda k, d, a=a: mia(k, d, "--alpha", a), "Expected `alpha` in (0, 1), got ")
      for a in ("2", "-1", "0", "1", "nan")],
    ("lira-alpha", lambda k, d: lira(k, d, "--alpha", "1.5"), "Expected `alpha` in (0, 1), got 1.5"),
    ("poison-alpha", lambda k, d: poison(k, d, "--alpha", "inf"), "Expected `alpha` in (0, 1), got inf"),
    ("poison-threads-0", lambda k, d: poison(k, d, "--threads", "0"), "Expected `threads` to be an integer >= 1, got 0"),
    ("poison-threads-neg", lambda k, d: poison(k, d, "--threads", "-3"), "Expected `threads` to be an integer >= 1, got -3"),
    ("poison-seeds-0", lambda k, d: poison(k, d, "--seeds", "0"), "Expected `seeds` an integer in [1, 1000], got 0"),
    ("poison-seeds-huge", lambda k, d: poison(k, d, "--seeds", str(10**19)), "Expected `seeds` an integer in [1, 1000]"),
    ("poison-fraction", lambda k, d: poison(k, d, "--fraction", "2"), "Expected `fraction` in (0, 1), got 2.0"),
    ("poison-eps-nan", lambda k, d: poison(k, d, "--eps", "nan"), "Expected `eps_p` a number, got nan"),
    ("poison-eps-inf", lambda k, d: poison(k, d, "--eps", "inf"), "Expected `eps_p`"),
    ("unlearn-budget", lambda k, d: unlearn(k, d, "--budget", "-1"), "Expected `budget` > 0 (a fraction of the original training), got -1.0"),
    ("unlearn-budget-inf", lambda k, d: unlearn(k, d, "--budget", "inf"), "Expected `budget` > 0 (a fraction of the original training), got inf"),
    *[(f"seed-{s}", lambda k, d, s=s: train(k, d, "--seed", s), "Expected `seed` an integer in [0, 4294967295]")
      for s in ("-1", str(2**32))],
    ("seed-not-an-integer", lambda k, d: train(k, d, "--seed", "1e20"), "Invalid value for '--seed': '1e20' is not a valid integer"),
    ("unlearn-seed", lambda k, d: unlearn(k, d, "--seed", "-1"), "Expected `seed` an integer in [0, 4294967295], got -1"),
    ("demo-seed", lambda k, d: ["demo", "--seed", "-5", "--out", d / "o"], "Expected `seed` an integer in [0, 4294967295], got -5"),
    ("device-cuda", lambda k, d: train(k, d, "--device", "cuda" if not torch.cuda.is_available() else "cuda:99"),
     "CUDA is not available in this torch build" if not torch.backends.cuda.is_built() else "visible CUDA device"),
    ("device-bogus", lambda k, d: unlearn(k, d, "--device", "bogus"), "unknown torch device 'bogus'"),
    ("device-bogus-build", lambda k, d: build(k, d, k.recipe, "--device", "tpu"), "torch device 'tpu'"),
    ("ulira-targets-0", lambda k, d: ["ulira", "--pool", k.pool, "--method", "ft", "--targets", "0"], "Expected `n_targets` to be an integer >= 1, got 0"),
    ("ulira-targets-neg", lambda k, d: ["ulira", "--pool", k.pool, "--method", "ft", "--targets", "-1"], "Expected `n_targets` to be an integer >= 1, got -1"),
    ("evaluate-targets-0", lambda k, d: ["pool", "evaluate", k.pool, "--targets", "0"], "Expected `n_targets` to be an integer >= 1, got 0"),
    ("build-models-0", lambda k, d: build(k, d, k.recipe, "--models", "0"), "Expected `n_models` to be an integer >= 2, got 0"),
    *[(f"recipe-hidden-{i}", lambda k, d, v=v: train(k, d, recipe=recipe_with(d, "hidden = [8]", f"hidden = {v}")),
       "Expected `hidden` a list of integers in [1, 65536]")
      for i, v in enumerate(('"512"', "[1.5]", "[0]", "[-5]", "[true]", "8"))],
    ("recipe-seed-neg", lambda k, d: build(k, d, recipe_with(d, "seed = 3", "seed = -1")), "Expected `seed` an integer in [0, 2**32)"),
    ("recipe-seed-big", lambda k, d: build(k, d, recipe_with(d, "seed = 3", f"seed = {2**32}")), "Expected `seed` an integer in [0, 2**32)"),
    ("recipe-n-models-huge", lambda k, d: build(k, d, recipe_with(d, "n_models = 2", "n_models = 100000000000")),
     "Expected `n_models` an even integer in [2, 65536]"),
    ("recipe-batch-size-huge", lambda k, d: train(k, d, recipe=recipe_with(d, "batch_size = 256", "batch_size = 100000000")),
     "Expected `batch_size` an integer in [1, 1048576]"),
    ("recipe-epochs-huge", lambda k, d: train(k, d, recipe=recipe_with(d, "epochs = 1", "epochs = 100000000000")),
     "Expected `epochs` an integer in [0, 100000]"),
    ("recipe-synthetic-n-classes", lambda k, d: train(k, d, recipe=recipe_with(d, 'name = "digits"', 'name = "synthetic"\nn_classes = "x"')),
     "Expected `n_classes` an integer in [2, 1048576], got 'x'"),
    ("recipe-cnn-channels", lambda k, d: train(k, d, recipe=recipe_with(d, 'arch = "mlp"\nhidden = [8]', 'arch = "cnn"\nchannels = "abc"')),
     "Expected `channels` a list of integers"),
    ("recipe-unlearn-name-dot", lambda k, d: build(k, d, write(d / "r.toml", RECIPE + '[[unlearn]]\nmethod = "ft"\nname = "."\n')),
     "Expected [[unlearn]] `name` of letters"),
    ("npz-dataset-empty", lambda k, d: train(k, d, recipe=npz_dataset_recipe(d, x=np.zeros((0, 4)), y=np.zeros(0, int))),
     "with N >= 1"),
    ("npz-dataset-huge-label", lambda k, d: train(k, d, recipe=npz_dataset_recipe(d, x=np.zeros((4, 4)), y=np.array([0, 1, 2, 10**9]))),
     "label 1000000000 at row 3 is not in [0, 1048576)"),
    ("npz-dataset-is-text", lambda k, d: train(k, d, recipe=dataset_recipe(d, write(d / "x.npz", "a,b\n1,2\n"))),
     "not an .npz archive"),
    ("npz-dataset-is-npy", lambda k, d: train(k, d, recipe=dataset_recipe(d, saved(d / "a.npy", np.arange(3)))),
     "single .npy array"),
    ("train-exclude-everything", lambda k, d: train(k, d, "--exclude", saved(d / "all.npy", np.arange(N_TRAIN))),
     "leaves out all 1347 training examples"),
    # 3. files: checkpoints, logits, index files, results, recipes
    ("checkpoint-empty", lambda k, d: mia(k, d, target=write(d / "e.pt", b"")), "is empty"),
    ("checkpoint-text", lambda k, d: lira(k, d, target=write(d / "t.pt", "hello, I am text\n")), "is not a PyTorch file"),
    ("checkpoint-random-zip", lambda k, d: unlearn(k, d, model=write(d / "z.pt", b"PK\x03\x04" + os.urandom(200))), "is not a readable PyTorch file"),
    ("checkpoint-meta-input-shape", lambda k, d: mia(k, d, target=checkpoint_with(k, d, input_shape="abc")), "'input_shape' must be 1 to 4 integers"),
    ("checkpoint-meta-n-classes", lambda k, d: lira(k, d, target=checkpoint_with(k, d, n_classes=-1)), "'n_classes' must be an integer in [2,"),
    ("checkpoint-meta-train-idx", lambda k, d: unlearn(k, d, model=checkpoint_with(k, d, train_idx=[1e12, -3])), "meta 'train_idx' holds float64"),
    ("mia-forget-too-small", lambda k, d: mia(k, d, forget=saved(d / "f.npy", np.arange(5))), "got 5 and 450"),
    ("checkpoint-meta-train-idx-mia", lambda k, d: mia(k, d, target=checkpoint_with(k, d, train_idx=[5, -3])), "meta 'train_idx': entry -3"),
    ("checkpoint-meta-arch-kwargs", lambda k, d: mia(k, d, target=checkpoint_with(k, d, arch_kwargs={"hidden": "512"})), "Expected `hidden`"),
    ("torchscript-to-unlearn", lambda k, d: unlearn(k, d, model=k.script), "is a TorchScript archive, not a muaudit checkpoint"),
    ("torchscript-empty-reason", lambda k, d: lira(k, d, target=empty_reason_torchscript(d)), "is not a loadable TorchScript archive ("),
    ("target-directory", lambda k, d: lira(k, d, target=d), "is a directory, not a file"),
    ("forget-directory", lambda k, d: mia(k, d, forget=made_dir(d / "f.npy")), "is a directory, not a file"),
    ("forget-header-1e10", lambda k, d: mia(k, d, forget=npy_claiming(d, (10**10,))), "is truncated: its header claims"),
    ("forget-npz-as-npy", lambda k, d: unlearn(k, d, forget=npz_named(d / "f.npy")), "is an .npz archive"),
    ("logits-npz-as-npy", lambda k, d: lira(k, d, target=npz_named(d / "l.npy")), "is an .npz archive"),
    ("logits-empty-file", lambda k, d: lira(k, d, target=write(d / "l.npy", b"")), "is empty"),
    ("logits-no-rows", lambda k, d: lira(k, d, target=saved(d / "l.npy", np.zeros((0, 10), np.float32))),
     "must be float [N, C] or [N, V, C]"),
    ("logits-header-huge", lambda k, d: lira(k, d, target=npy_claiming(d, (10**6, 10**5), "l.npy")), "is truncated"),
    ("results-not-json", lambda k, d: ["report", write(d / "r" / "results.json", "{not json").parent], "is not valid JSON"),
    ("results-json-list", lambda k, d: ["report", write(d / "r" / "results.json", "[1, 2]").parent], "is not a muaudit results file"),
    ("results-json-bad-values", lambda k, d: ["report", write(d / "r" / "results.json", json.dumps({"kind": 3, "verdict": [1]})).parent],
     "is not a muaudit results file"),
    ("results-missing", lambda k, d: ["report", d], "is not a muaudit results folder"),
    ("recipe-no-extension", lambda k, d: build(k, d, write(d / "recipe", RECIPE)), "is not a .toml file"),
    ("recipe-directory", lambda k, d: train(k, d, recipe=d), "is a directory"),
    ("recipe-binary", lambda k, d: train(k, d, recipe=write(d / "r.toml", b"\xff\xfe\x00junk")), "is not valid TOML"),
    # already handled before issue 11, kept in the table so they stay handled
    ("pickle-checkpoint", lambda k, d: lira(k, d, target=evil_pickle_checkpoint(d)), "refusing to unpickle it"),
    ("pickle-checkpoint-unlearn", lambda k, d: unlearn(k, d, model=evil_pickle_checkpoint(d)), "refusing to unpickle it"),
    ("pickle-forget", lambda k, d: mia(k, d, forget=evil_npy(d, "f.npy")), "refusing to unpickle it"),
    ("pickle-logits", lambda k, d: lira(k, d, target=evil_npy(d, "l.npy")), "refusing to unpickle it"),
    ("forget-out-of-range", lambda k, d: mia(k, d, forget=saved(d / "f.npy", np.array([3, 5000]))), "entry 5000 at position 1 is >= n_train"),
    ("forget-floats", lambda k, d: unlearn(k, d, forget=saved(d / "f.npy", np.array([0.5]))), "holds float64 values"),
    ("forget-duplicates", lambda k, d: lira(k, d, forget=saved(d / "f.npy", np.array([1, 1]))), "is a duplicate"),
    ("forget-not-npy", lambda k, d: mia(k, d, forget=write(d / "f.txt", "1 2 3")), "is not a .npy file"),
    ("target-missing", lambda k, d: lira(k, d, target=d / "nope.pt"), "does not exist"),
    ("target-nan-weights", lambda k, d: lira(k, d, target=nan_checkpoint(k, d)), "contains NaN or inf"),
    ("target-nan-logits", lambda k, d: lira(k, d, target=saved(d / "l.npy", np.full((1797, 10), np.nan, np.float32))),
     "contains NaN or inf"),
    ("raw-state-dict-wrong-arch", lambda k, d: lira(k, d, "--arch", "cnn", target=k.raw), "does not fit the architecture"),
    ("unknown-method", lambda k, d: ["unlearn", "--method", "nope", "--model", k.model, "--forget", k.forget, "--out", d / "u.pt"],
     "unknown unlearning method 'nope'"),
    ("unknown-set-key", lambda k, d: unlearn(k, d, "--set", "nope=1"), "nope"),
    ("recipe-unknown-arch", lambda k, d: train(k, d, recipe=recipe_with(d, 'arch = "mlp"', 'arch = "vgg"')), "unknown architecture 'vgg'"),
    ("recipe-unknown-key", lambda k, d: build(k, d, recipe_with(d, "seed = 3", "seeds = 3")), "unknown pool key 'seeds'"),
    ("recipe-invalid-toml", lambda k, d: train(k, d, recipe=write(d / "r.toml", "[pool\n")), "is not valid TOML"),
    ("recipe-missing", lambda k, d: train(k, d, recipe=d / "nope.toml"), "does not exist"),
    ("pool-missing", lambda k, d: lira(k, d, pool=d / "nopool"), "no pool at"),
    # filesystem: where outputs go
    ("out-under-file-train", lambda k, d: train(k, d, out=regular_file(d) / "t.pt"), "is a file, not a directory"),
    ("out-under-file-mia", lambda k, d: mia(k, d)[:-2] + ["--out", regular_file(d) / "o"], "is a file, not a directory"),
    ("out-is-file-lira", lambda k, d: lira(k, d)[:-2] + ["--out", regular_file(d)], "is a file"),
    ("out-under-file-build", lambda k, d: ["pool", "build", k.recipe, "--out", regular_file(d) / "p"], "Not a directory"),
    ("out-symlink-loop-lira", lambda k, d: lira(k, d)[:-2] + ["--out", symlink_loop(d)], "symbolic link that does not resolve"),
    ("out-symlink-loop-train", lambda k, d: train(k, d, out=symlink_loop(d) / "t.pt"), "symbolic link that does not resolve"),
    ("out-symlink-loop-report", lambda k, d: ["report", k.results, "--html", "--out", symlink_loop(d)], "does not resolve"),
    ("report-out-under-file", lambda k, d: ["report", k.results, "--html", "--out", regular_file(d) / "r.html"],
     "is a file, not a directory"),
    ("out-read-only-train", lambda k, d: train(k, d, out=READ_ONLY / "t.pt"), "cannot write"),
    ("out-read-only-mia", lambda k, d: mia(k, d)[:-2] + ["--out", READ_ONLY / "o"], "cannot create"),
    ("out-read-only-report", lambda k, d: ["report", k.results, "--html", "--out", READ_ONLY / "r.html"], "cannot create"),
    ("train-out-is-recipe", lambda k, d: train(k, d, out=k.recipe), "is the recipe input"),
    ("unlearn-out-is-model", lambda k, d: unlearn(k, d, out=k.model), "is the --model input"),
    ("unlearn-out-is-forget", lambda k, d: unlearn(k, d, out=k.forget), "is the --forget input"),
    ("unlearn-epochs-huge", lambda k, d: unlearn(k, d, "--set", "epochs=100000000000"), "Expected `epochs` in [0, 100000]"),
    ("unlearn-lr-nan", lambda k, d: unlearn(k, d, "--set", "lr=nan"), "Expected `lr` a number, got nan"),
    ("unlearn-diverges", lambda k, d: unlearn(k, d, "--set", "lr=1e9"), "holds NaN or inf"),
    # issue 19: outputs never over inputs, names from files never paths, bounds, damaged results folders
    ("report-out-is-results-json", lambda k, d: ["report", k.results, "--html", "--out", k.results / "results.json"],
     "is the input"),
    ("report-out-is-figure", lambda k, d: ["report", k.results, "--html", "--out", k.results / "roc.png"], "is the input"),
    ("report-csv-is-scores", lambda k, d: ["report", k.results, "--csv", k.results / "scores.npz"], "is the input"),
    ("report-out-and-csv-one-file", lambda k, d: ["report", k.results, "--html", "--out", d / "x", "--csv", d / "x"],
     "are one file"),
    ("results-symlinked-figure", lambda k, d: ["report", damaged_results(k, d, lambda r: os.symlink("/etc/passwd", r / "x.png"))],
     "x.png is a symbolic link"),
    ("results-empty-scores", lambda k, d: ["report", damaged_results(k, d, lambda r: (r / "scores.npz").write_bytes(b""))],
     "scores.npz is empty"),
    ("results-truncated-figure", lambda k, d: ["report", damaged_results(k, d, lambda r: (r / "roc.png").write_bytes(
        (r / "roc.png").read_bytes()[:100]))], "roc.png is not a complete PNG"),
    ("results-tiny-fpr-key", lambda k, d: ["report", damaged_results(k, d, tiny_fpr_key), "--html", "--out", d / "r.html"],
     "'tpr_at_fpr' entry '1e-310'"),
    ("audit-out-holds-forget", lambda k, d: mia(k, d, forget=saved(write(d / "o" / "results.json", "{}").parent / "f.npy",
                                                                   np.arange(20))), "lies inside the output folder"),
    ("audit-out-not-results", lambda k, d: mia(k, d) if write(d / "o" / "notes.txt", "mine") else None,
     "not empty and not a muaudit results folder"),
    ("forget-timedelta", lambda k, d: mia(k, d, forget=saved(d / "f.npy", np.arange(20).astype("m8[s]"))),
     "holds timedelta64[s] values"),
    ("input-std-float32", lambda k, d: mia(k, d, "--input-std", "1e-300"), "is finite in float64 but not usable in float32"),
    ("train-threads-huge", lambda k, d: train(k, d, "--threads", "999999"), "Expected `threads` at most"),
    ("train-threads-overflow", lambda k, d: train(k, d, "--threads", str(10**19)), "Expected `threads` at most"),
    ("build-cpus-per-model-nan", lambda k, d: build(k, d, k.recipe, "--executor", "ray", "--cpus-per-model", "nan"),
     "Expected `cpus_per_model` a number in (0, 1024], got nan"),
    ("benchmark-forget-name-path", lambda k, d: ["benchmark", bench_spec(k, d, 'name = "../../elsewhere/victim"\nfraction = 0.1'),
                                                 "--out", d / "o"], "one plain file name"),
    ("benchmark-fraction-tiny", lambda k, d: ["benchmark", bench_spec(k, d, "fraction = 1e-9"), "--out", d / "o"],
     "`fraction` = 1e-09 selects 0 of the 1347 training examples"),
    ("benchmark-trials-huge", lambda k, d: ["benchmark", bench_spec(k, d, "fraction = 0.1", "[search]\ntrials = 100000000000\n"),
                                            "--out", d / "o"], "Expected `[search] trials` an integer in [1, 100000]"),
]


def damaged_results(k: Kit, d: Path, damage) -> Path:
    """A copy of the kit's results folder, damaged by ``damage(folder)``."""
    import shutil

    shutil.copytree(k.results, d / "r")
    damage(d / "r")
    return d / "r"


def tiny_fpr_key(r: Path) -> None:
    res = json.loads((r / "results.json").read_text())
    res["tpr_at_fpr"] = {"1e-310": {"tpr": 0.0, "ci": [0.0, 1.0]}}
    (r / "results.json").write_text(json.dumps(res))


def bench_spec(k: Kit, d: Path, forget: str, extra: str = "") -> Path:
    return write(d / "s.toml", f'recipe = "{k.recipe}"\nmethods = ["original"]\nseeds = [0]\n{extra}[[forget]]\n{forget}\n')


@pytest.mark.parametrize("make, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_input_is_one_error_line(kit, tmp_path, monkeypatch, make, expected):
    monkeypatch.chdir(tmp_path)  # anything written to the working directory would show up below
    d = tmp_path / "case"
    d.mkdir()
    args = make(kit, d)
    before = snapshot(kit.root, tmp_path)
    one_error(run(*args), expected)
    assert snapshot(kit.root, tmp_path) == before  # no input changed, no stray or temporary file
    assert not (tmp_path / MARKER).exists()


def test_case_ids_are_unique():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))


def test_report_never_builds_what_results_name(kit, tmp_path, monkeypatch):
    """A results folder naming a factory is only read: ``report`` exits 0 and runs nothing."""
    import shutil

    monkeypatch.chdir(tmp_path)
    shutil.copytree(kit.results, tmp_path / "r")
    res = json.loads((tmp_path / "r" / "results.json").read_text())
    res["inputs"]["arch"] = EVIL["arch"]
    res["config"] = {**res.get("config", {}), "model": EVIL}
    (tmp_path / "r" / "results.json").write_text(json.dumps(res))
    r = run("report", tmp_path / "r", "--html")
    assert r.exit_code == 0, r.output
    assert not (tmp_path / MARKER).exists()


@pytest.mark.slow  # about 1-5 s of the fast loop (docs/development.md)
def test_trusted_factory_on_the_command_line_is_built(kit, tmp_path, monkeypatch):
    """The same recipe and checkpoint with a user factory work once the user names it (--arch)."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))
    recipe = recipe_with(tmp_path, 'arch = "mlp"\nhidden = [8]', 'arch = "tests.helpers_factory:make"\nwidth = 4')
    assert run("train", recipe, "--out", tmp_path / "u.pt").exit_code == 2
    r = run("train", recipe, "--out", tmp_path / "u.pt", "--arch", "tests.helpers_factory:make")
    assert r.exit_code == 0, r.output
    r = run("mia", "--target", tmp_path / "u.pt", "--forget", kit.forget, "--out", tmp_path / "o")
    assert r.exit_code == 2 and "pass --arch tests.helpers_factory:make" in r.output
    r = run("mia", "--target", tmp_path / "u.pt", "--forget", kit.forget, "--out", tmp_path / "o",
               "--arch", "tests.helpers_factory:make")
    assert r.exit_code == 0, r.output


def test_report_out_creates_its_folder(kit, tmp_path):
    r = run("report", kit.results, "--html", "--out", tmp_path / "new" / "dir" / "r.html")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "new" / "dir" / "r.html").is_file()


def test_pool_weights_never_name_code(kit, tmp_path, monkeypatch):
    """A pool's ``weights/`` files are read when a resumed build adds an ``[[unlearn]]`` entry: one
    whose meta names a factory is refused (the recipe given on the command line says what is built)."""
    monkeypatch.chdir(tmp_path)
    recipe = write(tmp_path / "w.toml", RECIPE + "save_weights = true\n")
    assert run("pool", "build", recipe, "--out", tmp_path / "p").exit_code == 0
    weights = tmp_path / "p" / "weights" / "m00000.pt"
    obj = torch.load(weights, weights_only=True)
    obj["meta"].update(arch=EVIL["arch"], arch_kwargs={"command": EVIL["command"]})
    torch.save(obj, weights)
    write(recipe, recipe.read_text() + '[[unlearn]]\nmethod = "ft"\nconfig = { epochs = 1 }\n')
    r = run("pool", "build", recipe, "--out", tmp_path / "p")
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    errors = [line for line in r.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "m00000.pt (meta 'arch') names the model factory 'os:system'" in errors[0], r.output
    assert errors[0].endswith("delete " + str(weights) + " to retrain shadow 0 from its seed")
    assert not (tmp_path / MARKER).exists()
    weights.write_text("junk, not a checkpoint")  # unreadable weights: the shadow is retrained from its seed
    r = run("pool", "build", recipe, "--out", tmp_path / "p")
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output
    assert run("pool", "verify", tmp_path / "p").exit_code == 0
    assert not (tmp_path / MARKER).exists()


def test_failed_checkpoint_write_keeps_the_old_file(kit, tmp_path, monkeypatch):
    """A write that fails half-way (a full disk) leaves the old checkpoint and no temporary file."""
    import shutil

    from muaudit.errors import CheckpointError
    from muaudit.models import load_checkpoint, save_checkpoint

    out = tmp_path / "m.pt"
    shutil.copy(kit.model, out)
    before = out.read_bytes()
    model, meta = load_checkpoint(out)

    def full_disk(obj, f):
        f.write(b"PK\x03\x04 half")
        raise RuntimeError("[enforce fail at inline_container.cc] . PytorchStreamWriter failed writing file: "
                           "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointError, match=r"no space left on device writing .*m.pt; the previous output"):
        save_checkpoint(out, model, meta)
    assert out.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]
