"""Per-example signals stored beside the logits (schema version 4; docs/pool-format.md)."""

import json
import shutil

import h5py
import numpy as np
import pytest

from muaudit.attacks import logit_scaled_confidence
from muaudit.errors import PoolError
from muaudit.pool import Pool
from muaudit.pool.design import make_keep, model_seeds
from muaudit.pool.signals import logits_chunks, signal_checksum, signals_from_logits
from muaudit.pool.store import commit_rows, create_pool_file
from muaudit.pool.verify import verify_pool

pytestmark = pytest.mark.usefixtures("one_thread")
N, C = 300, 10


@pytest.fixture
def pool_file(tmp_path):
    spec = {"name": "t", "dataset": {"name": "digits"}, "model": {"arch": "mlp", "hidden": [8]},
            "train": {"epochs": 1, "batch_size": 32}, "pool": {"n_models": 6, "seed": 5}}
    path = tmp_path / "p" / "pool.h5"
    path.parent.mkdir()
    create_pool_file(path, spec_json=json.dumps(spec, sort_keys=True), fingerprint="ab" * 32,
                     population=np.arange(N), labels=np.arange(N) % C, split=np.zeros(N, np.int8),
                     keep=make_keep(6, N, 5), seeds=model_seeds(5, 6), n_views=2, n_classes=C,
                     attrs={"engine": "sequential", "engine_info": "{}", "device": "cpu"})
    rows = 3 * np.random.default_rng(0).standard_normal((6, N, 2, C)).astype(np.float32)
    commit_rows(path, {m: (rows[m], 1.0) for m in range(6)})
    return path


def as_version_3(src, dst):
    """A copy of ``src`` as schema version 3 wrote it: no signals (everything else unchanged)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        for name in ("phi", "correct", "signal_checksums"):
            del f[name]
        f.attrs["schema_version"] = 3
    return dst


def test_stored_signals_are_the_logits_phi_and_correctness(pool_file):
    p = Pool(pool_file)
    z = p.logits()
    phi, correct = p.signals()
    assert p.schema_version == 4 and p.has_signals and phi.dtype == np.float32 and correct.dtype == bool
    want = logit_scaled_confidence(z, p.labels[None]).astype(np.float32)
    assert np.array_equal(phi, want) and np.array_equal(correct, z.argmax(-1) == p.labels[None, :, None])
    assert np.array_equal(p.phi([4, 1]), want[[4, 1]])
    assert correct.mean() > 0.05 and np.ptp(phi) > 5  # not trivially empty rows


def test_version_3_pool_computes_the_same_signals_and_digest(pool_file, tmp_path):
    old = Pool(as_version_3(pool_file, tmp_path / "v3" / "pool.h5"))
    new = Pool(pool_file)
    assert old.schema_version == 3 and not old.has_signals
    for a, b in zip(old.signals(), new.signals()):
        assert np.array_equal(a, b)
    assert old.digest() == new.digest()  # the digest depends on the contents, not the layout
    assert verify_pool(old.path)["schema_version"] == 3


def test_chunked_reader_yields_the_same_arrays(pool_file):
    p = Pool(pool_file)
    models = np.array([5, 0, 3, 2, 4])
    row = N * 2 * C * 4
    chunks = list(logits_chunks(p, models, budget=2 * row))
    assert [c.shape[0] for _, c in chunks] == [2, 2, 1]
    assert np.array_equal(np.concatenate([c for _, c in chunks]), p.logits(models))
    for a, b in zip(signals_from_logits(p, models, budget=row), p.signals(models)):
        assert np.array_equal(a, b)


def test_edited_phi_fails_and_a_recomputed_checksum_changes_the_digest(pool_file):
    before = Pool(pool_file).digest()
    with h5py.File(pool_file, "r+") as f:
        phi = f["phi"][2]
        phi[7, 0] += 0.5
        f["phi"][2] = phi
    with pytest.raises(PoolError, match=r"the signals of model\(s\) 2 fail their checksum"):
        Pool(pool_file).signals()
    with pytest.raises(PoolError, match=r"row 2 of logits: fails its checksum"):
        verify_pool(pool_file)
    with h5py.File(pool_file, "r+") as f:  # an editor who recomputes the signal checksum too
        f["signal_checksums"][2] = signal_checksum(phi, f["correct"][2], 2)
    p = Pool(pool_file)
    assert p.phi([2])[0, 7, 0] == phi[7, 0]
    assert p.digest() != before
    with pytest.raises(PoolError, match=r"row 2 of logits: fails its checksum"):  # not the phi its logits give
        verify_pool(pool_file)


@pytest.mark.slow  # measured: 0.8 s CPU (the fast loop, docs/development.md)
def test_audit_from_signals_equals_audit_from_logits(tiny_audit_base, tmp_path):
    from muaudit.jobs.lira import run_lira

    base = tiny_audit_base
    shutil.copytree(base / "pool", tmp_path / "new")
    as_version_3(tmp_path / "new" / "pool.h5", tmp_path / "old" / "pool.h5")
    out = {}
    for name in ("new", "old"):
        res, _ = run_lira(target=base / "orig.pt", forget=base / "forget.npy", pool=tmp_path / name, write=False)
        res["config"].pop("pool"), res["inputs"].pop("pool")
        out[name] = json.dumps(res, sort_keys=True, default=str)
    assert Pool(tmp_path / "old").schema_version == 3
    assert out["new"] == out["old"]
