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
    dims = tuple(int(d) for d in shape) if shape else (int(n_features),)
    if n_samples < 2 or n_classes < 2 or min(dims) < 1 or not 0 <= test_fraction < 1:
        raise ConfigError("synthetic needs n_samples >= 2, n_classes >= 2, positive dims and "
                          f"test_fraction in [0, 1), got {n_samples}, {n_classes}, {list(dims)}, {test_fraction}")
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
