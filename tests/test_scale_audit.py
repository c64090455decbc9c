"""An audit at scale reads only what it needs, with the same results (issue 23, "memory and time at scale").

- a synthetic dataset's inputs are generated on first read; its fingerprint, asked for first, is
  hashed block by block and keeps no copy (an audit of a logits target holds no inputs);
- the Gaussian fit's per-example statistics in blocks of examples equal the whole-array ones;
- a bootstrap's many short draws made at once equal NumPy's calls one after the other.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

from muaudit.attacks import gaussian
from muaudit.data import load_dataset
from muaudit.data.builtin import _class_clusters
from muaudit.data.dataset import DeferredInputs
from muaudit.metrics import draws
from muaudit.metrics.draws import _accept, _lemire, sequential_integers
from muaudit.metrics.intervals import bootstrap_auc_ci


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
    AuditData.load(tmp_path / "pool", inputs=False)
    AuditData.load(tmp_path / "pool")
    assert len(drawn) == 3


def test_a_logits_audit_on_other_data_stops_before_writing(tmp_path, monkeypatch):
    """A logits audit still checks the fingerprint (of inputs it hashes without keeping): nothing is written."""
    from muaudit.data import builtin
    from muaudit.errors import PoolError
    from muaudit.jobs.inputs import AuditData
    from muaudit.jobs.lira import run_lira
    from muaudit.pool import build_pool, load_spec

    recipe = tmp_path / "synthetic.toml"
    recipe.write_text(SYNTHETIC_RECIPE)
    build_pool(load_spec(recipe), tmp_path / "pool")
    np.save(tmp_path / "target.npy", np.zeros((300, 3), np.float32) + np.arange(3, dtype=np.float32))
    np.save(tmp_path / "forget.npy", np.arange(10))
    results, _ = run_lira(target=tmp_path / "target.npy", forget=tmp_path / "forget.npy", pool=tmp_path / "pool",
                          write=False)
    assert results["inputs"]["dataset_fingerprint"] == AuditData.load(tmp_path / "pool").dataset.fingerprint
    chunks = builtin._ClassClusters.chunks
    monkeypatch.setattr(builtin._ClassClusters, "chunks", lambda self: (b + 1 for b in chunks(self)))  # other inputs
    with pytest.raises(PoolError, match="was built on other data"):
        run_lira(target=tmp_path / "target.npy", forget=tmp_path / "forget.npy", pool=tmp_path / "pool",
                 out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --- the Gaussian fit in blocks of examples --------------------------------------------------------

def _whole_side_stats(x, mask, how):
    """side_stats as one pass over the whole array (before the blocks)."""
    count = mask.sum(axis=0)
    m3 = np.broadcast_to(mask[..., None], x.shape)
    mean = np.where(m3, x, 0.0).sum(axis=0) / np.maximum(count, 1)[:, None]
    sumsq = np.where(m3, (x - mean) ** 2, 0.0).sum(axis=0)
    center = mean
    if how == "median":
        srt = np.sort(np.where(m3, x, np.inf), axis=0)
        lo = np.broadcast_to(np.maximum(count - 1, 0)[None, :, None] // 2, (1,) + x.shape[1:])
        hi = np.minimum(np.broadcast_to(count[None, :, None] // 2, (1,) + x.shape[1:]), x.shape[0] - 1)
        center = 0.5 * (np.take_along_axis(srt, lo, 0)[0] + np.take_along_axis(srt, hi, 0)[0])
    return np.where(count[:, None] > 0, center, 0.0), sumsq, count, x[m3]


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


# --- many short draws at once ------------------------------------------------------------------------

def _calls(rng, sizes, repeats):
    rows = [np.concatenate([rng.integers(0, s, s) for s in sizes]) for _ in range(repeats)]
    return np.array(rows, np.int64).reshape(repeats, sum(sizes))


@pytest.mark.parametrize("sizes", [[3, 5], [1, 7, 1], [0, 4], [2], [150, 10], [1000, 24]])
@pytest.mark.parametrize("before", [0, 1, 2])  # draws before: an odd count leaves a half of a 64-bit output
def test_sequential_integers_equal_the_calls(sizes, before):
    a, b = np.random.default_rng(11), np.random.default_rng(11)
    a.integers(0, 9, before), b.integers(0, 9, before)
    assert np.array_equal(sequential_integers(a, sizes, 5), _calls(b, sizes, 5))
    assert a.bit_generator.state == b.bit_generator.state  # the generator goes on from the same place


def test_lemire_rejections_and_windows_match_numpy():
    # ranges just above 2**31 reject about half the 32-bit values; small windows restart often
    for seed in range(20):
        a, b = np.random.default_rng(seed), np.random.default_rng(seed)
        ranges, counts = np.array([2**31 + 1, 1000, 3 * 2**30], np.uint64), np.array([9, 4, 7])
        got = _lemire(a, ranges, counts, 3)
        want = np.concatenate([b.integers(0, int(r), int(c)) for _ in range(3) for r, c in zip(ranges, counts)])
        assert np.array_equal(got, want) and a.bit_generator.state == b.bit_generator.state
    stream = np.random.default_rng(0).integers(0, 2**32, 200).astype(np.uint64)
    ranges, reject = np.full(60, 2**31 + 1, np.uint64), np.full(60, 2**31 - 1, np.uint64)
    one, used = _accept(stream, ranges, reject)
    assert 60 < used < 200 and all(np.array_equal(_accept(stream, ranges, reject, window=w)[0], one) for w in (1, 2, 7))
    assert _accept(stream[:3], np.full(6, 7, np.uint64), np.zeros(6, np.uint64)) == (None, 0)  # stream too short


def test_sequential_integers_other_generators_and_large_draws_call_numpy(monkeypatch):
    a, b = np.random.Generator(np.random.MT19937(5)), np.random.Generator(np.random.MT19937(5))
    assert np.array_equal(sequential_integers(a, [4, 6], 3), _calls(b, [4, 6], 3))
    monkeypatch.setattr(draws, "LOOP_ABOVE", 3)
    a, b = np.random.default_rng(2), np.random.default_rng(2)
    assert np.array_equal(sequential_integers(a, [4, 6], 3), _calls(b, [4, 6], 3))


def test_bootstrap_interval_is_the_one_of_the_calls(monkeypatch):
    """The interval with the draws made at once equals the one with NumPy's calls (the code before)."""
    from muaudit.metrics import intervals

    rng = np.random.default_rng(0)
    cases = [(int(rng.integers(2, 40)), int(rng.integers(2, 400)), int(rng.integers(9))) for _ in range(6)]
    data = [(np.r_[np.ones(p, bool), np.zeros(q, bool)], np.round(rng.normal(size=p + q), 1), seed)
            for p, q, seed in cases]
    fast = [bootstrap_auc_ci(y, s, n_bootstrap=300, random_state=seed) for y, s, seed in data]
    monkeypatch.setattr(intervals, "sequential_integers", _calls)
    assert fast == [bootstrap_auc_ci(y, s, n_bootstrap=300, random_state=seed) for y, s, seed in data]


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
