"""An audit at scale reads only what it needs, with the same results (issue 23, "memory and time at scale").

- a synthetic dataset's inputs are generated on first read; its fingerprint, asked for first, is
  hashed block by block and keeps no copy; an audit of a logits target neither generates nor
  hashes them, and never imports torch;
- the Gaussian fit's per-example statistics in blocks of examples equal the whole-array ones and
  NumPy's per example.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

from muaudit.attacks import gaussian
from muaudit.data import load_dataset
from muaudit.data.builtin import _class_clusters
from muaudit.data.dataset import DeferredInputs


# --- deferred inputs ------------------------------------------------------------------------------

def _deferred(ds) -> bool:
    return isinstance(ds.__dict__["_X"], DeferredInputs)


def test_synthetic_inputs_are_read_on_first_access_and_hashed_without_a_copy():
    ds = load_dataset("synthetic", n_samples=3000, n_classes=7, shape=[3, 8, 8], seed=4, defer_inputs=True)
    assert _deferred(ds) and ds.input_shape == (3, 8, 8) and ds.n_samples == 3000
    streamed = ds.fingerprint
    assert _deferred(ds)  # the fingerprint kept no copy
    same = load_dataset("synthetic", n_samples=3000, n_classes=7, shape=[3, 8, 8], seed=4)
    assert not _deferred(same)  # read by default: the fingerprint hashes the array, nothing is drawn twice
    X = same.X
    assert X.dtype == np.float32 and X.flags.c_contiguous
    assert same.fingerprint == streamed and np.array_equal(ds.X, X)


def test_synthetic_inputs_are_the_documented_draws_in_blocks():
    rng = np.random.default_rng(3)
    means, y = rng.normal(0, 1.0, size=(7, 33)), rng.integers(0, 7, 5000)
    expected = (means[y] + rng.normal(size=(5000, 33))).astype(np.float32)
    assert np.array_equal(load_dataset("synthetic", n_samples=5000, n_classes=7, n_features=33, seed=3).X, expected)
    rng = np.random.default_rng(3)
    means, y = rng.normal(0, 1.0, size=(7, 33)), rng.integers(0, 7, 5000)
    assert np.array_equal(_class_clusters(rng, means, y), expected)


def test_deferred_inputs_pickle_and_bad_shapes_are_refused():
    ds = load_dataset("synthetic", n_samples=50, seed=1)
    back = pickle.loads(pickle.dumps(ds))
    assert back.fingerprint == ds.fingerprint and np.array_equal(back.X, ds.X)
    from muaudit.data import Dataset
    from muaudit.errors import DataError

    class Short(DeferredInputs):
        def chunks(self):
            yield np.zeros((self.shape[0],) + self.shape[1:], np.float32)

    with pytest.raises(DataError, match="x, y, split of one length"):
        Dataset("short", Short((4, 2)), np.zeros(5, int), np.zeros(5, np.int8))


SYNTHETIC_RECIPE = """
[dataset]
name = "synthetic"
n_samples = 300
n_features = 8
n_classes = 3
[model]
arch = "mlp"
hidden = [4]
[train]
epochs = 1
[pool]
n_models = 2
engine = "sequential"
"""


def test_an_audit_of_logits_reads_no_inputs(tmp_path):
    from muaudit.jobs.inputs import AuditData, reads_inputs
    from muaudit.pool import build_pool, load_spec

    assert not reads_inputs("target.npy") and reads_inputs("model.pt") and reads_inputs("https://host/v2/models/m")
    assert not reads_inputs(np.zeros((3, 2), np.float32))
    recipe = tmp_path / "synthetic.toml"
    recipe.write_text(SYNTHETIC_RECIPE)
    build_pool(load_spec(recipe), tmp_path / "pool")
    data = AuditData.load(tmp_path / "pool", inputs=False)  # checked against the pool's fingerprint
    assert _deferred(data.dataset)
    assert not _deferred(AuditData.load(tmp_path / "pool").dataset)


def test_a_build_and_a_logits_audit_draw_the_synthetic_data_once(tmp_path, monkeypatch):
    from muaudit.data import builtin
    from muaudit.jobs.inputs import AuditData
    from muaudit.pool import build_pool, load_spec

    drawn = []
    chunks = builtin._ClassClusters.chunks
    monkeypatch.setattr(builtin._ClassClusters, "chunks", lambda self: drawn.append(1) or chunks(self))
    recipe = tmp_path / "synthetic.toml"
    recipe.write_text(SYNTHETIC_RECIPE)
    build_pool(load_spec(recipe), tmp_path / "pool")
    assert len(drawn) == 1
    AuditData.load(tmp_path / "pool", inputs=False)  # reads no input: neither drawn nor hashed
    assert len(drawn) == 1
    AuditData.load(tmp_path / "pool")
    assert len(drawn) == 2


def test_a_logits_audit_reads_no_input_and_an_audit_that_does_checks_them(tmp_path, monkeypatch):
    """A logits audit of generated data never reads the inputs: other inputs (same labels and split)
    give the same results; an audit that reads them, or any audit of inputs that are not generated
    on demand, checks their fingerprint and stops before writing."""
    from muaudit.data import builtin
    from muaudit.errors import PoolError
    from muaudit.jobs.inputs import AuditData
    from muaudit.jobs.lira import run_lira
    from muaudit.pool import PoolSpec, build_pool, load_spec

    recipe = tmp_path / "synthetic.toml"
    recipe.write_text(SYNTHETIC_RECIPE)
    build_pool(load_spec(recipe), tmp_path / "pool")
    np.save(tmp_path / "target.npy", np.zeros((300, 3), np.float32) + np.arange(3, dtype=np.float32))
    np.save(tmp_path / "forget.npy", np.arange(10))
    audit = lambda: run_lira(target=tmp_path / "target.npy", forget=tmp_path / "forget.npy",  # noqa: E731
                             pool=tmp_path / "pool", write=False)[0]
    results = audit()
    assert results["inputs"]["dataset_fingerprint"] == AuditData.load(tmp_path / "pool").dataset.fingerprint
    chunks = builtin._ClassClusters.chunks
    monkeypatch.setattr(builtin._ClassClusters, "chunks", lambda self: (b + 1 for b in chunks(self)))  # other inputs
    other = audit()
    volatile = ("timing", "environment", "created")
    assert {k: v for k, v in other.items() if k not in volatile} == {k: v for k, v in results.items() if k not in volatile}
    with pytest.raises(PoolError, match="was built on other data"):
        AuditData.load(tmp_path / "pool")  # what an audit of a model does first
    # inputs read from files (here: the same data, not deferred) are fingerprinted by a logits audit too
    load = PoolSpec.load_dataset
    monkeypatch.setattr(PoolSpec, "load_dataset", lambda self, defer_inputs=False: load(self))
    with pytest.raises(PoolError, match="was built on other data"):
        audit()


def test_a_logits_audit_never_imports_torch(tmp_path):
    """Nothing an audit of precomputed logits runs needs torch (about 1.5 s of a short audit)."""
    from muaudit.pool import build_pool, load_spec

    recipe = tmp_path / "synthetic.toml"
    recipe.write_text(SYNTHETIC_RECIPE)
    build_pool(load_spec(recipe), tmp_path / "pool")
    np.save(tmp_path / "target.npy", np.zeros((300, 3), np.float32) + np.arange(3, dtype=np.float32))
    np.save(tmp_path / "forget.npy", np.arange(10))
    code = ("import sys; from muaudit.cli.main import main; sys.argv = ['muaudit', 'lira', '--target', 'target.npy', "
            "'--forget', 'forget.npy', '--pool', 'pool', '--out', 'out']\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print('torch' in sys.modules, 'sklearn' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["False", "False"] and (tmp_path / "out" / "results.json").exists()


# --- the Gaussian fit in blocks of examples --------------------------------------------------------

def _whole_side_stats(x, mask, how):
    """side_stats as one block over the whole array."""
    count = mask.sum(axis=0)
    center, sumsq = gaussian._center_sumsq(x, mask, count, how)
    return np.where(count[:, None] > 0, center, 0.0), sumsq, count, x[np.broadcast_to(mask[..., None], x.shape)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32, "float32 values"])
def test_side_stats_are_each_examples_masked_mean_median_and_sum_of_squares(dtype):
    """Against NumPy one example and view at a time (ties and sides of 0, 1 and 2 shadows included);
    float32 values held in float64 (a pool's signals) take the median's float32 sort."""
    rng = np.random.default_rng(3)
    x = np.round(3 * rng.normal(size=(9, 40, 2)), 1)
    x = x.astype(np.float32).astype(np.float64) if dtype == "float32 values" else x.astype(dtype)
    mask = rng.random((9, 40)) < 0.5
    mask[:, 0], mask[:, 1], mask[:2, 2] = False, np.arange(9) == 4, True
    for how, ref in (("mean", np.mean), ("median", np.median)):
        s = gaussian.side_stats(x, mask, how)
        for n in range(40):
            vals = x[mask[:, n], n].astype(np.float64)
            want = ref(vals, axis=0) if len(vals) else np.zeros(2)
            np.testing.assert_allclose(s.center[n], want, rtol=1e-12, atol=1e-5 if dtype == np.float32 else 0)
            sq = ((vals - vals.mean(axis=0)) ** 2).sum(axis=0) if len(vals) else np.zeros(2)
            np.testing.assert_allclose(s.sumsq[n], sq, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-4 if dtype == np.float32 else 1e-9)
        assert s.count.tolist() == mask.sum(0).tolist()


@pytest.mark.parametrize("shape", [(1, 5, 1), (3, 7, 2), (64, 1001, 2), (33, 300, 3)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_side_stats_in_blocks_equal_the_whole_array(monkeypatch, shape, dtype):
    monkeypatch.setattr(gaussian, "_CHUNK", 1000)  # many blocks, a ragged last one
    rng = np.random.default_rng(sum(shape))
    x = (100 * rng.normal(size=shape)).astype(dtype)
    mask = rng.random(shape[:2]) < 0.5
    for how in ("mean", "median"):
        got, want = gaussian.side_stats(x, mask, how), _whole_side_stats(x, mask, how)
        for a, b in zip(got, want):
            assert a.dtype == b.dtype and np.array_equal(a, b)


# --- the bootstrap's draws in one call ----------------------------------------------------------------

@pytest.mark.parametrize("sizes", [[3, 5], [1, 7], [150, 10], [1000, 24]])
@pytest.mark.parametrize("before", [0, 1, 2])  # draws before: an odd count leaves a half of a 64-bit output
def test_one_call_with_a_range_per_column_draws_what_the_calls_drew(sizes, before):
    """`bootstrap_auc_ci` draws a block of replicates in one `integers` call with one range per
    column: the numbers (and the generator's next state) of one call per group and replicate, so
    the intervals are those of the earlier code that made the calls."""
    a, b = np.random.default_rng(11), np.random.default_rng(11)
    a.integers(0, 9, before), b.integers(0, 9, before)
    one = a.integers(0, np.repeat(sizes, sizes), (5, sum(sizes)))
    calls = np.array([np.concatenate([b.integers(0, n, n) for n in sizes]) for _ in range(5)])
    assert np.array_equal(one, calls) and a.bit_generator.state == b.bit_generator.state


@pytest.mark.parametrize("case", ["many", "two-models", "no-example-on-both-sides", "one-in-shadow", "one-sided"])
def test_fit_without_the_side_values_equals_the_fit_with_them(monkeypatch, case):
    """The fit keeps every signal of a side only for the fallbacks that read them; same fit either way."""
    rng = np.random.default_rng(5)
    M, N = (2, 30) if case == "two-models" else (24, 40)
    x = rng.normal(size=(M, N, 2))
    keep = rng.random((M, N)) < 0.5
    if case == "no-example-on-both-sides":
        keep[:, : N // 2], keep[:, N // 2:] = True, False
    if case == "one-in-shadow":
        keep[:] = False
        keep[0] = True
    one_sided = case == "one-sided"
    with warnings.catch_warnings():  # the fallbacks warn; both fits warn alike
        warnings.simplefilter("ignore")
        fit = gaussian.fit_gaussians(x, keep, x, ~keep, one_sided=one_sided)
        whole = gaussian.side_stats
        monkeypatch.setattr(gaussian, "side_stats", lambda *a, **k: whole(*a[:3]))  # always keeps the values
        again = gaussian.fit_gaussians(x, keep, x, ~keep, one_sided=one_sided)
    for a, b in zip(fit, again):
        assert (a is None and b is None) or (a == b if isinstance(a, str) else np.array_equal(a, b))


# --- one set of permutations for the forget test's two statistics -------------------------------------

def test_shared_permutations_give_each_comparisons_own_p_values():
    from muaudit.audit.permutation import p_values_both_sides, p_values_both_sides_shared
    from muaudit.errors import DataError

    rng = np.random.default_rng(3)
    x, y = rng.normal(0.4, 1, 12), rng.normal(0, 1, 90)
    ranks = np.argsort(np.argsort(np.r_[x, y])).astype(float)
    sx, sy = rng.integers(0, 3, 12), np.r_[np.arange(3), rng.integers(0, 3, 87)]
    for strata in (None, (sx, sy)):
        pairs = [(x, y), (ranks[:12], ranks[12:]), (-x, -y)]
        alone = [p_values_both_sides(a, b, n_permutations=2000, random_state=4, strata=strata) for a, b in pairs]
        assert p_values_both_sides_shared(pairs, n_permutations=2000, random_state=4, strata=strata) == alone
    with pytest.raises(DataError, match="of one shape"):
        p_values_both_sides_shared([(x, y), (x[:5], y)])


# --- signals from logits in blocks of examples -------------------------------------------------------

@pytest.mark.parametrize("shape", [(7, 3), (900, 5), (300, 2, 11), (3, 250, 2, 11)])
def test_signals_in_blocks_of_examples_equal_the_whole_array(monkeypatch, shape):
    from muaudit.attacks import signals

    rng = np.random.default_rng(len(shape))
    z = (5 * rng.normal(size=shape)).astype(np.float32)
    y = rng.integers(0, shape[-1], shape[1] if len(shape) == 4 else shape[0])
    names = ("logit_scaled_confidence", "cross_entropy_loss", "confidence", "correctness")
    monkeypatch.setattr(signals, "_BLOCK", 10**9)  # one block: the whole array at once
    whole = [getattr(signals, f)(z, y) for f in names]
    monkeypatch.setattr(signals, "_BLOCK", 40)  # a few examples per block, a ragged last one
    for f, want in zip(names, whole):
        got = getattr(signals, f)(z, y)
        assert got.dtype == want.dtype and np.array_equal(got, want)


def test_balanced_keep_is_the_argsort_along_models():
    from muaudit.pool.design import balanced_keep

    for m, n, seed in [(64, 1000, 0), (7, 33, 1), (1, 5, 2)]:
        u = np.random.default_rng(seed).random((m, n))
        keep = balanced_keep(m, n, seed)
        assert keep.flags.c_contiguous and np.array_equal(keep, np.argsort(u, axis=0) < m // 2)
