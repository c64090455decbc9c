"""Built-in, offline datasets: scikit-learn's digits and seeded synthetic data."""

from __future__ import annotations

import numpy as np

from muaudit.data.dataset import TEST, Dataset
from muaudit.data.registry import DATASETS
from muaudit.errors import ConfigError


@DATASETS.register("digits")
def load_digits() -> Dataset:
    """scikit-learn's bundled 8x8 digits: X = pixels / 16 as ``[1797, 1, 8, 8]`` float32.

    Split: ``train_test_split(arange(1797), test_size=0.25, random_state=0, stratify=y)``; each
    split keeps ascending original index order (1347 train, 450 test).
    """
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_digits()
    X = (bunch.data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    y = bunch.target.astype(np.int64)
    _, test = train_test_split(np.arange(len(y)), test_size=0.25, random_state=0, stratify=y)
    split = np.zeros(len(y), np.int8)
    split[test] = TEST
    return Dataset("digits", X, y, split)


@DATASETS.register("synthetic")
def load_synthetic(*, n_samples: int = 2000, n_classes: int = 10, n_features: int = 32,
                   shape: list | None = None, class_sep: float = 1.0, test_fraction: float = 0.25,
                   seed: int = 0) -> Dataset:
    """Seeded Gaussian class clusters: ``x = mean[y] + N(0, I)``, ``mean ~ N(0, class_sep^2 I)``.

    ``shape`` (e.g. ``[3, 32, 32]``) gives image-shaped inputs; else ``[n_features]``. The last
    ``round(test_fraction * n_samples)`` rows form the test split.
    """
    dims = _check_synthetic(n_samples, n_classes, n_features, shape, class_sep, test_fraction, seed)
    rng = np.random.default_rng(seed)
    d = int(np.prod(dims))
    means = rng.normal(0.0, class_sep, size=(n_classes, d))
    y = rng.integers(0, n_classes, size=n_samples)
    X = (means[y] + rng.normal(size=(n_samples, d))).reshape((n_samples,) + dims)
    split = np.zeros(n_samples, np.int8)
    split[n_samples - int(round(test_fraction * n_samples)):] = TEST
    opts = dict(n_samples=n_samples, n_classes=n_classes, n_features=n_features, shape=shape,
                class_sep=class_sep, test_fraction=test_fraction, seed=seed)
    return Dataset("synthetic", X, y, split, opts)


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
