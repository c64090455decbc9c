"""Built-in, offline datasets: scikit-learn's digits and seeded synthetic data."""

from __future__ import annotations

import numpy as np

from muaudit.data.dataset import TEST, Dataset, DeferredInputs
from muaudit.data.registry import DATASETS
from muaudit.errors import ConfigError


# The test split of digits: ``train_test_split(arange(1797), test_size=0.25, random_state=0, stratify=y)``
# as a packed bit mask (tests check it against scikit-learn), so loading digits imports neither
# scikit-learn nor, through it, pandas (about a second, more than the rest of an audit).
_DIGITS_TEST = (
    "000004883526104000164101934205001a00080102240028062c1e081108960a009019120420f8a0028110e040080a9a"
    "304415244942c0a00a2030804004d821408b8020004885c400104008a0900005486800301000020ec409001224840083"
    "b8013c21a69c0a0204000f48400804a4184902124061e5008024604e94376a819216015480004842a0a4180a5000a40b"
    "8561e688108049124c80c02205068e000109f202c141398813c009190000148e01008410a0e10033282900c144c8c068"
    "0a0102930292030922a6402c26042108a8608198c8a01412861202128138a41500"
)


@DATASETS.register("digits")
def load_digits() -> Dataset:
    """scikit-learn's bundled 8x8 digits: X = pixels / 16 as ``[1797, 1, 8, 8]`` float32.

    Split: ``train_test_split(arange(1797), test_size=0.25, random_state=0, stratify=y)``; each
    split keeps ascending original index order (1347 train, 450 test). Read from scikit-learn's
    installed ``datasets/data/digits.csv.gz`` without importing scikit-learn.
    """
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the digits dataset ships with scikit-learn: pip install scikit-learn")
    raw = np.loadtxt(Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz", delimiter=",")
    X = (raw[:, :-1] / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    y = raw[:, -1].astype(np.int64)
    split = np.where(np.unpackbits(np.frombuffer(bytes.fromhex("".join(_DIGITS_TEST)), np.uint8))[:len(y)], TEST, 0)
    return Dataset("digits", X, y, split.astype(np.int8))


@DATASETS.register("synthetic")
def load_synthetic(*, n_samples: int = 2000, n_classes: int = 10, n_features: int = 32,
                   shape: list | None = None, class_sep: float = 1.0, test_fraction: float = 0.25,
                   seed: int = 0) -> Dataset:
    """Seeded Gaussian class clusters: ``x = mean[y] + N(0, I)``, ``mean ~ N(0, class_sep^2 I)``.

    ``shape`` (e.g. ``[3, 32, 32]``) gives image-shaped inputs; else ``[n_features]``. The last
    ``round(test_fraction * n_samples)`` rows form the test split. ``X`` is generated on its first
    read (:class:`_ClassClusters`): labels, split and fingerprint need no copy of it.
    """
    dims = _check_synthetic(n_samples, n_classes, n_features, shape, class_sep, test_fraction, seed)
    rng = np.random.default_rng(seed)
    d = int(np.prod(dims))
    means = rng.normal(0.0, class_sep, size=(n_classes, d))
    y = rng.integers(0, n_classes, size=n_samples)
    X = _ClassClusters(rng.bit_generator.state, means, y, (n_samples,) + dims)
    split = np.zeros(n_samples, np.int8)
    split[n_samples - int(round(test_fraction * n_samples)):] = TEST
    opts = dict(n_samples=n_samples, n_classes=n_classes, n_features=n_features, shape=shape,
                class_sep=class_sep, test_fraction=test_fraction, seed=seed)
    return Dataset("synthetic", X, y, split, opts)


class _ClassClusters(DeferredInputs):
    """The synthetic inputs ``means[y] + N(0, I)``, drawn from the generator state ``state`` (the one
    after ``means`` and ``y``), reshaped to ``shape``; picklable (arrays and a state dict)."""

    def __init__(self, state: dict, means: np.ndarray, y: np.ndarray, shape: tuple[int, ...]):
        super().__init__(shape)
        self.state, self.means, self.y = state, means, y

    def chunks(self):
        rng = np.random.Generator(np.random.PCG64())
        rng.bit_generator.state = self.state
        for block in _cluster_blocks(rng, self.means, self.y):
            yield block.reshape((len(block),) + self.shape[1:])


def _class_clusters(rng: np.random.Generator, means: np.ndarray, y: np.ndarray) -> np.ndarray:
    """float32 ``means[y] + N(0, I)`` ``[len(y), d]``: the draws of ``rng.normal(size=(len(y), d))`` in order."""
    X, start = np.empty((len(y), means.shape[1]), np.float32), 0
    for block in _cluster_blocks(rng, means, y):
        X[start:start + len(block)] = block
        start += len(block)
    return X


def _cluster_blocks(rng: np.random.Generator, means: np.ndarray, y: np.ndarray):
    """Yield float32 ``means[y] + N(0, I)`` in ~32 MB row blocks (one reused buffer: copy what you keep),
    the draws of ``rng.normal(size=(len(y), d))`` in order (no float64 copy of the whole dataset);
    each block's noise is drawn in a second thread while the previous one is added to its class
    means (numpy draws without holding the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    n, d = len(y), means.shape[1]
    step = max(1, 2**22 // d)
    bufs, gathered, out = [np.empty((step, d)), np.empty((step, d))], np.empty((step, d)), np.empty((step, d), np.float32)
    draw = lambda b, k: rng.standard_normal(out=b[:k])  # noqa: E731
    with ThreadPoolExecutor(max_workers=1) as pool:
        nxt = pool.submit(draw, bufs[0], min(step, n))
        for j, s in enumerate(range(0, n, step)):
            k = min(step, n - s)
            noise = nxt.result()
            if s + step < n:
                nxt = pool.submit(draw, bufs[(j + 1) % 2], min(step, n - s - step))
            np.take(means, y[s:s + k], axis=0, out=gathered[:k])
            np.add(gathered[:k], noise, out=out[:k], casting="same_kind")
            yield out[:k]


def _check_synthetic(n_samples, n_classes, n_features, shape, class_sep, test_fraction, seed) -> tuple[int, ...]:
    """Validate the synthetic options (types and ranges, and the size against this machine's memory)."""
    from muaudit.checks import check_fits_memory, check_int_range, check_seed

    check_int_range("n_samples", n_samples, 2)
    check_int_range("n_classes", n_classes, 2, 2**20)
    if shape is None:
        dims = (check_int_range("n_features", n_features, 1),)
    elif isinstance(shape, list) and 1 <= len(shape) <= 3:
        dims = tuple(check_int_range("shape", d, 1) for d in shape)
    else:
        raise ConfigError(f"Expected `shape` a list of 1 to 3 positive integers, got {shape!r}")
    for name, v, lo, hi in (("class_sep", class_sep, 0.0, None), ("test_fraction", test_fraction, 0.0, 1.0)):
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) and v >= lo and (hi is None or v < hi)
        if not ok:
            raise ConfigError(f"Expected `{name}` a number >= {lo}{'' if hi is None else f' and < {hi}'}, got {v!r}")
    check_seed("seed", seed)
    check_fits_memory("the synthetic dataset", 8 * n_samples * int(np.prod(dims, dtype=object)), ConfigError)
    return dims
