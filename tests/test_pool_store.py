"""The schema-version-2 store: in-place commits, row checksums, digest, version-1 pools,
symlinked and read-only pools."""

import json
import os
import shutil
import subprocess
import warnings

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import muaudit
from muaudit.cli.main import cli
from muaudit.errors import PoolError
from muaudit.pool import Pool, build_pool, load_spec
from muaudit.pool.layout import row_checksum
from muaudit.pool.store import commit_rows, create_pool_file, pool_lock
from muaudit.pool.verify import verify_pool
from tests.helpers_pool import write_v1_copy

pytestmark = pytest.mark.usefixtures("one_thread")



@pytest.fixture
def small_pool(tmp_path):
    """A 4-model pool of random rows written with the store's own functions (2 done)."""
    from muaudit.pool.design import make_keep, model_seeds

    spec = {"name": "t", "dataset": {"name": "digits"}, "model": {"arch": "mlp"}, "train": {},
            "pool": {"n_models": 4, "seed": 5}}
    N = 300
    path = tmp_path / "p" / "pool.h5"
    path.parent.mkdir()
    create_pool_file(path, spec_json=json.dumps(spec, sort_keys=True), fingerprint="ab" * 32,
                     population=np.arange(N), labels=np.arange(N) % 10, split=np.zeros(N, np.int8),
                     keep=make_keep(4, N, 5), seeds=model_seeds(5, 4), n_views=2, n_classes=10,
                     attrs={"engine": "sequential", "engine_info": "{}", "device": "cpu"})
    rows = np.random.default_rng(0).standard_normal((4, N, 2, 10)).astype(np.float32)
    commit_rows(path, {0: (rows[0], 1.0), 2: (rows[2], 2.0)})
    return path, rows


def _regions(path):
    """Byte ranges of the raw data a commit may change (logits, signals, checksums, seconds, done)."""
    names = ("logits", "checksums", "seconds", "done", "phi", "correct", "signal_checksums")
    with h5py.File(path, "r") as f:
        return [(f[k].id.get_offset(), f[k].id.get_storage_size()) for k in names]


def test_commit_changes_no_metadata_bytes(small_pool):
    # a kill during a commit can then only tear raw rows whose done flags are still false
    path, rows = small_pool
    before = np.fromfile(path, np.uint8)
    commit_rows(path, {1: (rows[1], 1.5)})
    after = np.fromfile(path, np.uint8)
    assert before.size == after.size
    outside = np.ones(before.size, bool)
    for off, size in _regions(path):
        outside[off:off + size] = False
    assert (before != after).any() and not (before != after)[outside].any()
    pool = Pool(path)
    assert pool.done.tolist() == [True, True, True, False]
    np.testing.assert_array_equal(pool.logits(), rows[:3])


def test_rows_are_written_once_and_only_committed_rows_read(small_pool):
    path, rows = small_pool
    commit_rows(path, {0: (rows[3], 9.0)})  # a second commit of a done row is ignored
    pool = Pool(path)
    np.testing.assert_array_equal(pool.logits([0])[0], rows[0])
    assert pool.seconds[0] == 1.0
    with pytest.raises(PoolError, match=r"model\(s\) 1 are not committed"):
        pool.logits([1])


def test_edited_row_fails_its_checksum_everywhere(small_pool, tmp_path):
    path, rows = small_pool
    good = Pool(path).digest()
    with h5py.File(path, "r+") as f:
        f["logits"][2, 5, 0, 3] += 0.25
    pool = Pool(path)
    with pytest.raises(PoolError, match=r"logits of model\(s\) 2 fail their checksum"):
        pool.logits()
    np.testing.assert_array_equal(pool.logits([0])[0], rows[0])  # other rows still read
    with pytest.raises(PoolError, match=r"fails verification in 1 part: row 2 of logits: fails its checksum"):
        verify_pool(path)
    assert pool.digest() == good  # the digest is over the stored checksums: verify catches the edit
    r = CliRunner().invoke(cli, ["pool", "verify", str(path.parent)])
    assert r.exit_code == 2 and r.output.count("Error:") == 1 and "row 2 of logits" in r.output


def test_digest_identifies_contents(small_pool):
    path, rows = small_pool
    pool = Pool(path)
    d = pool.digest()
    assert len(d) == 64 and d == Pool(path).digest()
    assert np.array_equal(pool.row_checksums()[0], row_checksum(rows[0], 0))
    commit_rows(path, {1: (rows[1], 1.0)})
    assert Pool(path).digest() != d


def test_verify_cli_summary(small_pool):
    path, _ = small_pool
    r = CliRunner().invoke(cli, ["pool", "verify", str(path.parent)])
    assert r.exit_code == 0, r.output
    line, = r.output.splitlines()
    assert line.startswith(f"pool {path}: ok, 2 rows verified (sha256 of logits and signals bound to model and group; 2/4 models done, 0 groups)")
    r = CliRunner().invoke(cli, ["pool", "verify", str(path.parent), "--json"])
    out = json.loads(r.output)
    assert out["ok"] and out["rows_checked"] == 2 and out["digest"] == Pool(path).digest()


def test_version_1_pool_reads_and_migrates_on_resume(tiny_recipe, tmp_path):
    recipe = tiny_recipe(n_models=4)
    spec = load_spec(recipe)
    ref = Pool(build_pool(spec, tmp_path / "ref"))
    half = Pool(build_pool(spec, tmp_path / "half", shard=(0, 2)))
    old = tmp_path / "old" / "pool.h5"
    old.parent.mkdir()
    write_v1_copy(half, old)
    v1 = Pool(old)
    assert v1.schema_version == 1 and v1.done.tolist() == [True, False, True, False]
    np.testing.assert_array_equal(v1.logits(), ref.logits([0, 2]))
    assert verify_pool(old)["checksums"] == "none stored (schema version 1)"
    assert v1.digest() == half.digest()  # the digest does not depend on the file layout
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_pool(spec, tmp_path / "old")
    assert any("migrating it to version 4" in str(w.message) for w in caught)
    new = Pool(old).require_complete()
    assert new.schema_version == 4
    np.testing.assert_array_equal(new.logits(), ref.logits())
    assert new.digest() == ref.digest()
    write_v1_copy(new, tmp_path / "v1-full.h5")
    assert Pool(tmp_path / "v1-full.h5").digest() == ref.digest()  # the digest does not depend on the layout


def test_symlinked_pool_is_written_through(tiny_recipe, tmp_path):
    spec = load_spec(tiny_recipe(n_models=4))
    real = build_pool(spec, tmp_path / "real", shard=(0, 2)).rename(tmp_path / "real" / "pool.h5")
    (tmp_path / "link").mkdir()
    (tmp_path / "link" / "pool.h5").symlink_to(real)
    spec2 = load_spec(tiny_recipe(n_models=4, extra='[[unlearn]]\nmethod = "ft"\nconfig = { epochs = 1 }'))
    build_pool(spec2, tmp_path / "link")  # adds groups (a file rewrite) and commits rows
    assert (tmp_path / "link" / "pool.h5").is_symlink()
    pool = Pool(real).require_complete()
    assert pool.groups["unlearned/ft"].done.all()
    with pool_lock(tmp_path / "link" / "pool.h5"):  # one lock per file, whichever path names it
        with pytest.raises(PoolError, match="is locked by another build"):
            with pool_lock(real):
                pass


def _root():
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.mark.skipif(not _root(), reason="mounting a read-only file system needs root")
def test_read_only_pool_reads_and_finished_build_needs_no_writes(tiny_recipe, tmp_path):
    recipe = tiny_recipe(n_models=4)
    build_pool(load_spec(recipe), tmp_path / "src")
    assert not (tmp_path / "src" / "pool.h5.lock").exists()  # a finished build leaves no lock file
    mnt = tmp_path / "ro"
    mnt.mkdir()
    subprocess.run(["mount", "--bind", str(tmp_path / "src"), str(mnt)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(mnt)], check=True)
        before = (mnt / "pool.h5").read_bytes()
        for args in (["pool", "info", mnt], ["pool", "verify", mnt], ["pool", "build", recipe, "--out", mnt]):
            r = CliRunner().invoke(cli, [str(a) for a in args])
            assert r.exit_code == 0, r.output
        r = CliRunner().invoke(cli, ["pool", "build", str(tiny_recipe(n_models=6)), "--out", str(mnt / "new")])
        assert r.exit_code == 2 and r.output.strip().splitlines()[-1].startswith("Error: read-only file system writing ")
        assert (mnt / "pool.h5").read_bytes() == before and sorted(os.listdir(mnt)) == ["pool.h5"]
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_version_is_4_and_writer_recorded(small_pool):
    path, _ = small_pool
    pool = Pool(path)
    assert pool.schema_version == 4 and pool.attrs["muaudit_version"] == muaudit.__version__


def test_info_shows_the_digest(small_pool):
    path, _ = small_pool
    r = CliRunner().invoke(cli, ["pool", "info", str(path.parent), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["digest"] == Pool(path).digest()


@pytest.mark.parametrize("exc, expected", [
    (OSError(28, "No space left on device"), "no space left on device writing {pool}; the pool is intact at 0 models; free space and rerun"),
    (OSError("Can't write data (file write failed: time = x, errno = 28, error message = 'No space left on device')"),
     "no space left on device writing {pool}; the pool is intact at 0 models; free space and rerun"),
    (OSError(30, "Read-only file system"), "read-only file system writing {pool}; the pool is intact at 0 models; build into a writable --out"),
    (OSError(5, "Input/output error"), "I/O error writing {pool}; the pool is intact at 0 models; check the disk and rerun"),
    (RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed"),
     "cannot write (PytorchStreamWriter failed writing file data/0: file write failed) writing {pool}; the pool is intact at 0 models; check the disk and rerun"),
])
def test_write_failures_are_worded_by_errno(exc, expected, tmp_path):
    from muaudit.pool.fileio import write_failure

    pool_file = tmp_path / "P"
    assert str(write_failure(pool_file, exc)) == expected.format(pool=pool_file)
