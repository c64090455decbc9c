"""Keep-matrix designs: which shadow model trains on which population example."""

from __future__ import annotations

import numpy as np


def model_seeds(seed: int, n_models: int) -> np.ndarray:
    """Per-model seeds (int64 ``[M]``), independent of sharding and of the build order."""
    return np.array([np.random.SeedSequence([seed, m]).generate_state(1)[0] for m in range(n_models)], np.int64)


def balanced_keep(n_models: int, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Carlini et al.'s design: ``argsort(U[M, N], axis=0) < M/2``; every example is IN for
    exactly half of the models. Returns bool ``[M, N]``."""
    u = rng.random((n_models, n_samples))
    return np.argsort(u, axis=0) < n_models // 2


def forget_aware_keep(n_models: int, n_samples: int, forget: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Balanced design in which the whole forget set is IN for one random half of the models
    and OUT for the other half (Hayes et al.), so each forgotten example has M/2 references per side."""
    keep = balanced_keep(n_models, n_samples, rng)
    half = np.zeros(n_models, bool)
    half[rng.permutation(n_models)[: n_models // 2]] = True
    keep[:, np.asarray(forget, np.int64)] = half[:, None]
    return keep


def make_keep(n_models: int, n_samples: int, seed: int, forget: np.ndarray | None = None) -> np.ndarray:
    rng = np.random.default_rng([seed, 0x6B656570])  # "keep"
    if forget is None or len(forget) == 0:
        return balanced_keep(n_models, n_samples, rng)
    return forget_aware_keep(n_models, n_samples, forget, rng)
