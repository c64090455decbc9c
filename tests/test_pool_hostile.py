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
from muaudit.errors import PoolError
from muaudit.pool import Pool, build_pool, load_spec
from muaudit.pool.layout import legacy_row_checksum
from tests.helpers_pool import write_v1_copy
from tests.kit import error_line, tiny_digits_recipe
from tests.kit import run as run_cli

pytestmark = pytest.mark.usefixtures("one_thread")

RECIPE = tiny_digits_recipe(hidden=16, epochs=2, batch_size=128, n_models=4,
                            extra='[[unlearn]]\nmethod = "ft"\nconfig = { epochs = 1 }\n')


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


def _swap(ds, i, j):
    a, b = ds[i], ds[j]
    ds[i], ds[j] = b, a


def _bump_labels(f):
    labels = f["labels"][()]
    rows = np.flatnonzero(f["split"][()] == 0)[:100]
    labels[rows] = (labels[rows] + 1) % 10
    f["labels"][...] = labels


def _move_to_test(f):
    split = f["split"][()]
    split[np.flatnonzero(split == 0)[:450]] = 1
    f["split"][...] = split


def _row_into_group(f):
    f["unlearned/ft/logits"][1] = f["logits"][1]
    f["unlearned/ft/checksums"][1] = f["checksums"][1]


def _edit_spec(f, extra=None, pool=None):
    spec = json.loads(f.attrs["spec"])
    spec.update(extra or {})
    spec["pool"].update(pool or {})
    f.attrs["spec"] = json.dumps(spec)


def _as_v2(then):
    """The file as schema version 2 wrote it (row checksums over the logits alone, no content
    checksums), then ``then`` applied."""
    def apply(path):
        with h5py.File(path, "r+") as f:
            f.attrs["schema_version"] = 2
            for holder in (f, f["unlearned/ft"], f["retrain"][next(iter(f["retrain"]))] if "retrain" in f else None):
                if holder is None:
                    continue
                del holder.attrs["content_sha256"]
                for name in ("phi", "correct", "signal_checksums"):  # version 4's per-example signals
                    del holder[name]
                for m in np.flatnonzero(holder["done"][()]):
                    holder["checksums"][m] = legacy_row_checksum(holder["logits"][m])
            then(f)
    return apply


_ROWS_12 = (r"(the logits of model\(s\) 1(, 2)? fail their checksum|"
            r"in 2 parts: row 1 of logits: fails its checksum; row 2 of logits: fails its checksum)")


CASES = {  # name: (how to damage DIR/pool.h5, the expected error after "pool PATH")
    "random bytes in a row": (lambda p: _scribble_row(p, 1),
                              r"(the logits of model\(s\) 1 fail their checksum|in 1 part: row 1 of logits: fails its checksum)"),
    "random bytes in a v1 gzip chunk": (_scribble_v1_chunk, r"(: cannot read the logits \(.*\); the file is damaged; rebuild it|in 1 part: row 1 of logits: fails its checksum)"),
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
    # issue 19: every part an audit reads is under a checksum, rows are bound to their place,
    # and the schema attribute cannot switch checks off
    "labels +1 on 100 rows": (_edit(_bump_labels), r"`labels` differs from its stored checksum"),
    "450 train rows moved to test": (_edit(_move_to_test), r"`split` differs from its stored checksum"),
    "population rows swapped": (_edit(lambda f: _swap(f["population"], 0, 5)), r"`population` differs from its stored checksum"),
    "two rows swapped with their checksums": (_edit(lambda f: (_swap(f["logits"], 1, 2), _swap(f["checksums"], 1, 2))), _ROWS_12),
    "schema version set to 1": (_edit(lambda f: f.attrs.__setitem__("schema_version", 1)),
                                r": it says schema version 1 but its layout \(row and content checksums and per-example signals\) is version 4's; .*rebuild it with `muaudit pool build RECIPE --out "),
    "schema version set to 2": (_edit(lambda f: f.attrs.__setitem__("schema_version", 2)), r": it says schema version 2 but its layout"),
    "schema version removed": (_edit(lambda f: f.attrs.__delitem__("schema_version")), r" has no schema_version attribute.*rebuild it with `muaudit pool build RECIPE --out "),
    "content checksums removed": (_edit(lambda f: f.attrs.__delitem__("content_sha256")),
                                  r": it says schema version 4 but its layout \(row checksums but no content checksums\) is version 2's"),
    "v1 attribute on a v2 file": (_as_v2(lambda f: f.attrs.__setitem__("schema_version", 1)), r": it says schema version 1 but its layout \(row checksums but no content checksums\) is version 2's"),
    "v2 file with rows swapped": (_as_v2(lambda f: _swap(f["logits"], 1, 2)), _ROWS_12),
    "stored recipe with an unknown section": (_edit(lambda f: _edit_spec(f, extra={"sisa2": {"shards": 2}})),
                                              r": its stored recipe has an unknown section \[sisa2\] \(valid: dataset, model, train, pool"),
    "stored recipe with an unknown pool key": (_edit(lambda f: _edit_spec(f, pool={"shuffle": True})),
                                               r": its stored recipe is not a valid recipe \(unknown pool key 'shuffle'"),
    "group method edited": (_edit(lambda f: f["unlearned/ft"].attrs.__setitem__("method", "ga")),
                            r"`unlearned/ft/method` differs from its stored checksum"),
    "group content checksums removed": (_edit(lambda f: f["unlearned/ft"].attrs.__delitem__("content_sha256")),
                                        r"the content checksums of `unlearned/ft` are missing"),
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
        line = error_line(run_cli(*args), after_progress=True)
        assert line.startswith(f"Error: pool {out / 'pool.h5'}") or line.startswith(f"Error: {out / 'pool.h5'}"), line
        assert re.search(expected, line), line
    after = sorted((p.relative_to(out), p.read_bytes()) for p in out.rglob("*") if p.is_file() and p.name != "pool.h5.lock")
    assert after == [b for b in before if b[0].name != "pool.h5.lock"]


GROUP_ROW_CASES = {  # rows of a model group that `pool info` does not read: verify and every reader refuse them
    "two group rows swapped with their checksums": (
        lambda f: (_swap(f["unlearned/ft/logits"], 0, 3), _swap(f["unlearned/ft/checksums"], 0, 3)), [0, 3]),
    "base row moved into a group with its checksum": (_row_into_group, [1]),
}


@pytest.mark.parametrize("case", list(GROUP_ROW_CASES))
def test_group_rows_are_bound_to_their_place(case, built, tmp_path):
    _, good = built
    damage, models = GROUP_ROW_CASES[case]
    out = tmp_path / "pool"
    shutil.copytree(good, out)
    _edit(damage)(out / "pool.h5")
    r = CliRunner().invoke(cli, ["pool", "verify", str(out)])
    assert r.exit_code == 2 and r.output.count("Error:") == 1, r.output
    rows = "; ".join(f"row {m} of unlearned/ft/logits: fails its checksum" for m in models)
    assert f"fails verification in {len(models)} part" in r.output and rows in r.output, r.output
    ids = ", ".join(map(str, models))
    with pytest.raises(PoolError, match=rf"the logits of model\(s\) {ids} of unlearned/ft fail their checksum"):
        Pool(out).logits(group="unlearned/ft")
    assert Pool(out).digest() != Pool(good).digest()


def _forge_labels(path):
    """Labels edited and their content checksum recomputed: only the dataset can tell."""
    from muaudit.pool.digest import root_parts

    with h5py.File(path, "r+") as f:
        _bump_labels(f)
        f.attrs["content_sha256"] = json.dumps(root_parts(f), sort_keys=True)


def test_forged_labels_are_caught_by_the_dataset_and_change_the_digest(built, tmp_path):
    from muaudit.jobs.inputs import AuditData

    recipe, good = built
    out = tmp_path / "pool"
    shutil.copytree(good, out)
    _forge_labels(out / "pool.h5")
    pool = Pool(out)  # consistent with itself
    assert pool.digest() != Pool(good).digest()
    r = CliRunner().invoke(cli, ["pool", "verify", str(out)])
    assert r.exit_code == 2 and r.output.count("Error:") == 1, r.output
    assert "in 1 part: labels: `labels` differ from dataset digits's at 100 examples" in r.output, r.output
    for run in (lambda: AuditData.load(out), lambda: build_pool(load_spec(recipe), out)):
        with pytest.raises(PoolError, match=r"`labels` differ from dataset digits's at 100 examples"):
            run()


def test_verify_names_every_part_that_differs(built, tmp_path):
    _, good = built
    out = tmp_path / "pool"
    shutil.copytree(good, out)
    _edit(lambda f: (_bump_labels(f), _move_to_test(f), _flip_keep(f), _swap(f["logits"], 1, 2),
                     f["unlearned/ft"].attrs.__setitem__("config", "{}")))(out / "pool.h5")
    r = CliRunner().invoke(cli, ["pool", "verify", str(out)])
    assert r.exit_code == 2 and r.output.count("Error:") == 1, r.output
    line = r.output.strip()
    assert "fails verification in 7 parts: " in line, line
    for part in ("keep: its keep matrix does not match", "unlearned/ft/forget: the forget matrix of `unlearned/ft` does not",
                 "labels: `labels` differs from its stored checksum",
                 "split: `split` differs from its stored checksum", "unlearned/ft/config: `unlearned/ft/config` differs",
                 "row 1 of logits: fails its checksum", "row 2 of logits: fails its checksum"):
        assert part in line, (part, line)


def test_verify_json_lists_the_parts_under_the_digest(built):
    from muaudit.pool.digest import GROUP_ATTRS, GROUP_DATASETS, ROOT_ATTRS, ROOT_DATASETS

    _, good = built
    r = CliRunner().invoke(cli, ["pool", "verify", str(good), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert set(out["parts"][""]) == set(ROOT_ATTRS + ROOT_DATASETS)
    assert set(out["parts"]["unlearned/ft"]) == set(GROUP_ATTRS + GROUP_DATASETS)
    assert out["parts"][""]["forget"] is None and out["dataset"] == "match dataset digits"
    assert out["checksums"] == "sha256 of logits and signals bound to model and group" and out["schema_version"] == 4


def test_a_new_dataset_joins_the_digest_by_its_name(tmp_path, monkeypatch):
    """docs/pool-format.md: adding a dataset to the digest is one line (its name in ROOT_DATASETS)."""
    from muaudit.pool import digest
    from muaudit.pool.design import make_keep, model_seeds
    from muaudit.pool.layout import write_root

    monkeypatch.setattr(digest, "ROOT_DATASETS", digest.ROOT_DATASETS + ("signals",))
    M, N = 2, 6
    spec = {"name": "t", "dataset": {"name": "digits"}, "model": {"arch": "mlp"}, "train": {}, "pool": {"n_models": M, "seed": 0}}
    arrays = {"population": np.arange(N), "labels": np.zeros(N, np.int64), "split": np.zeros(N, np.int8),
              "keep": make_keep(M, N, 0), "seeds": model_seeds(0, M), "signals": np.ones((M, N), np.float32)}
    path = tmp_path / "pool.h5"
    with h5py.File(path, "w") as f:
        write_root(f, attrs={"spec": json.dumps(spec), "dataset_fingerprint": "0" * 64}, arrays=arrays, shape=(M, N, 1, 2))
    before = Pool(path)
    assert before.parts[""]["signals"] is not None
    with h5py.File(path, "r+") as f:
        f["signals"][0, 0] = 2.0
    with pytest.raises(PoolError, match=r"`signals` differs from its stored checksum"):
        Pool(path)
    problems = {}
    assert Pool(path, problems=problems).digest() != before.digest() and list(problems) == ["signals"]


def test_a_real_version_2_pool_is_read_with_its_own_rules_and_migrated(built, tmp_path):
    recipe, good = built
    old = tmp_path / "old"
    shutil.copytree(good, old)
    _as_v2(lambda f: None)(old / "pool.h5")
    v2 = Pool(old)
    assert v2.schema_version == 2 and v2.digest() == Pool(good).digest()  # the digest depends on the contents only
    r = CliRunner().invoke(cli, ["pool", "verify", str(old)])
    assert r.exit_code == 0 and "not bound to their model (schema version 2; `muaudit pool build` migrates it)" in r.output
    swapped = tmp_path / "swapped"  # what version 2 cannot see (its checksums are not bound): the digest still can
    shutil.copytree(old, swapped)
    _edit(lambda f: (_swap(f["logits"], 1, 2), _swap(f["checksums"], 1, 2)))(swapped / "pool.h5")
    assert Pool(swapped).digest() != v2.digest()
    _edit(lambda f: f["done"].__setitem__(3, False))(old / "pool.h5")  # an unfinished version-2 pool
    with pytest.warns(UserWarning, match="has schema version 2; migrating it to version 4"):
        build_pool(load_spec(recipe), old)  # the first commit migrates it
    new = Pool(old)
    assert new.schema_version == 4 and new.digest() == Pool(good).digest()
    np.testing.assert_array_equal(new.logits(group="unlearned/ft"), Pool(good).logits(group="unlearned/ft"))


def test_merge_refuses_shards_whose_parts_differ(built, tmp_path):
    _, good = built
    shards = []
    for k in (0, 1):
        path = tmp_path / f"shard-{k}-of-2.h5"
        shutil.copy(good / "pool.h5", path)
        _edit(lambda f, k=k: f["done"].__setitem__(slice(None), np.arange(4) % 2 == k))(path)
        shards.append(path)
    _forge_labels(shards[1])
    r = CliRunner().invoke(cli, ["pool", "merge", str(tmp_path / "out"), *map(str, shards)])
    assert r.exit_code == 2 and r.output.count("Error:") == 1, r.output
    assert f"cannot merge {shards[1]} with {shards[0]}: different labels" in r.output
