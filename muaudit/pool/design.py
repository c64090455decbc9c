"""Keep-matrix designs: which shadow model trains on which population example."""

from __future__ import annotations

import numpy as np


def model_seeds(random_state: int, n_models: int) -> np.ndarray:
    """Per-model seeds (int64 ``[M]``) drawn from the pool's seed ``random_state``, independent of
    sharding and of the build order."""
    return np.array([np.random.SeedSequence([random_state, m]).generate_state(1)[0] for m in range(n_models)], np.int64)


def balanced_keep(n_models: int, n_samples: int, random_state: int | np.random.Generator) -> np.ndarray:
    """Carlini et al.'s design: ``argsort(U[M, N], axis=0) < M/2``; every example is IN for
    exactly half of the models. Returns bool ``[M, N]``."""
    u = np.random.default_rng(random_state).random((n_models, n_samples))
    # argsort along axis 0, computed along the rows of the transpose (the same sort of each column, 3x faster)
    return np.ascontiguousarray(np.argsort(u.T, axis=1).T < n_models // 2)


def forget_aware_keep(n_models: int, n_samples: int, forget: np.ndarray,
                      random_state: int | np.random.Generator) -> np.ndarray:
    """Balanced design in which the whole forget set is IN for one random half of the models
    and OUT for the other half (Hayes et al.), so each forgotten example has M/2 references per side."""
    rng = np.random.default_rng(random_state)
    keep = balanced_keep(n_models, n_samples, rng)
    half = np.zeros(n_models, bool)
    half[rng.permutation(n_models)[: n_models // 2]] = True
    keep[:, np.asarray(forget, np.int64)] = half[:, None]
    return keep


def make_keep(n_models: int, n_samples: int, random_state: int, forget: np.ndarray | None = None) -> np.ndarray:
    """The keep matrix of a pool with seed ``random_state``: balanced, or forget-aware for ``forget``."""
    rng = np.random.default_rng([random_state, 0x6B656570])  # "keep"
    if forget is None or len(forget) == 0:
        return balanced_keep(n_models, n_samples, rng)
    return forget_aware_keep(n_models, n_samples, forget, rng)
