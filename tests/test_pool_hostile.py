"""Hostile and damaged pool files (pools are shared between people): every case is one `Error:`
line naming the file, exit code 2, no traceback, and the file is left as it was."""

import json
import re
import shutil

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from muaudit.cli.main import cli
from muaudit.pool import Pool, build_pool, load_spec
from tests.helpers_pool import write_v1_copy

pytestmark = pytest.mark.usefixtures("one_thread")

RECIPE = """
[dataset]
name = "digits"
[model]
arch = "mlp"
hidden = [16]
[train]
optimizer = "adam"
lr = 1e-2
weight_decay = 0.0
epochs = 2
batch_size = 128
[pool]
n_models = 4
seed = 3
engine = "sequential"
[[unlearn]]
method = "ft"
config = { epochs = 1 }
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    recipe = root / "tiny.toml"
    recipe.write_text(RECIPE)
    build_pool(load_spec(recipe), root / "good")
    return recipe, root / "good"


def _replace(f, name, data):
    del f[name]
    f[name] = data


def _scribble_row(path, m):
    with h5py.File(path, "r") as f:
        ds = f["logits"]
        offset = ds.id.get_offset() + m * (ds.id.get_storage_size() // ds.shape[0]) + 100
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(np.random.default_rng(0).integers(0, 256, 64, dtype=np.uint8).tobytes())


def _scribble_v1_chunk(path):
    shutil.copy(path, path.with_suffix(".bak"))
    write_v1_copy(Pool(path.with_suffix(".bak")), path)
    path.with_suffix(".bak").unlink()
    with h5py.File(path, "r") as f:
        offset = f["logits"].id.get_chunk_info(1).byte_offset + 50
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(b"\xff" * 200)


def _edit(fn):
    def apply(path):
        with h5py.File(path, "r+") as f:
            fn(f)
    return apply


def _dir_instead_of_file(path):
    path.unlink()
    path.mkdir()
    (path / "x").write_text("x")


def _flip_keep(f):
    keep = f["keep"][()]
    keep[1, 7] = ~keep[1, 7]
    f["keep"][...] = keep


def _flip_forget(f):
    forget = f["unlearned/ft/forget"][()]
    forget[2] = np.roll(forget[2], 1)
    f["unlearned/ft/forget"][...] = forget


def _huge_keep(f):
    del f["keep"]
    f.create_dataset("keep", shape=(10**7, 10**7), dtype=bool, chunks=(1, 1000))


def _external_logits(f):
    del f["logits"]
    f["logits"] = h5py.ExternalLink("/etc/other.h5", "/logits")


CASES = {  # name: (how to damage DIR/pool.h5, the expected error after "pool PATH")
    "random bytes in a row": (lambda p: _scribble_row(p, 1),
                              r"(the logits of model\(s\) 1 fail their checksum|rows fail their checksum \(base: models 1\))"),
    "random bytes in a v1 gzip chunk": (_scribble_v1_chunk, r"(: cannot read the logits \(.*\); the file is damaged; rebuild it|rows fail their checksum \(base: models 1\))"),
    "spec missing": (_edit(lambda f: f.attrs.__delitem__("spec")), r": the `spec` attribute \(its recipe\) is missing"),
    "spec not JSON": (_edit(lambda f: f.attrs.__setitem__("spec", "{oops")), r": the `spec` attribute is not JSON"),
    "spec not a recipe": (_edit(lambda f: f.attrs.__setitem__("spec", json.dumps([1, 2]))),
                          r": the `spec` attribute is not a muaudit recipe"),
    "fingerprint missing": (_edit(lambda f: f.attrs.__delitem__("dataset_fingerprint")), r": the `dataset_fingerprint`"),
    "schema version a string": (_edit(lambda f: f.attrs.__setitem__("schema_version", "2")),
                                r": schema_version is str '2', expected an integer"),
    "keep a group": (_edit(lambda f: (f.__delitem__("keep"), f.create_group("keep"))), r": `keep` is a group, expected a dataset"),
    "3-D logits": (_edit(lambda f: _replace(f, "logits", np.zeros((4, 1797, 10), np.float32))),
                   r": `logits` is float32 \[4, 1797, 10\], expected float32 \[4, 1797, \*, \*\]"),
    "keep wrong dtype": (_edit(lambda f: _replace(f, "keep", f["keep"][()].astype(np.int8))), r": `keep` is int8 \[4, 1797\], expected bool"),
    "keep wrong shape": (_edit(lambda f: _replace(f, "keep", f["keep"][:, :100])), r": `logits` is float32 \[4, 1797, 1, 10\], expected float32 \[4, 100, \*, \*\]"),
    "keep edited": (_edit(_flip_keep), r": its keep matrix does not match its seed and design \(models 1 differ\)"),
    "seeds edited": (_edit(lambda f: f["seeds"].__setitem__(0, 7)), r": `seeds` are not the per-model seeds of the recipe's seed 3"),
    "forget matrix edited": (_edit(_flip_forget), r": the forget matrix of `unlearned/ft` does not match its entry and seeds \(models 2 differ\)"),
    "labels out of range": (_edit(lambda f: f["labels"].__setitem__(0, 10**9)), r": `seconds` or `labels` hold values out of range"),
    "huge claimed keep": (_edit(_huge_keep), r": it claims an array of shape \[10000000, 10000000\]"),
    "logits linked to another file": (_edit(_external_logits), r": `logits` links to another file"),
    "done not bool": (_edit(lambda f: _replace(f, "done", np.ones(4))), r": `done` is float64 \[4\], expected bool \[4\]"),
    "pool.h5 is a directory": (_dir_instead_of_file, r" is a directory, not a pool file; move it away"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_pool_files(case, built, tmp_path):
    recipe, good = built
    damage, expected = CASES[case]
    out = tmp_path / "pool"
    shutil.copytree(good, out)
    damage(out / "pool.h5")
    before = sorted((p.relative_to(out), p.read_bytes()) for p in out.rglob("*") if p.is_file())
    for args in (["pool", "info", out], ["pool", "verify", out], ["pool", "build", recipe, "--out", out]):
        r = CliRunner().invoke(cli, [str(a) for a in args])
        assert r.exit_code == 2, (args, r.output)
        lines = [line for line in r.output.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("Error:")]
        assert len(errors) == 1 and errors[0] == lines[-1] and "Traceback" not in r.output, r.output
        assert errors[0].startswith(f"Error: pool {out / 'pool.h5'}") or errors[0].startswith(f"Error: {out / 'pool.h5'}"), errors[0]
        assert re.search(expected, errors[0]), errors[0]
    after = sorted((p.relative_to(out), p.read_bytes()) for p in out.rglob("*") if p.is_file() and p.name != "pool.h5.lock")
    assert after == [b for b in before if b[0].name != "pool.h5.lock"]
