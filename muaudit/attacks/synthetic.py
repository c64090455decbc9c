"""Synthetic Gaussian signals with a known membership effect, for tests, docs and demos.

Example n has an OUT mean ``base[n] ~ N(0, spread^2)`` and a membership gap
``gap[n] = gap * exp(N(0, gap_spread^2))``; a model that trained on n sees
``phi = base[n] + gap[n] + N(0, noise^2)``, otherwise ``base[n] + N(0, noise^2)`` (each view
drawn independently). ``gap=0`` gives a pool where members and non-members are identical.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SyntheticPool:
    """``phi`` float ``[M, N, V]``, ``keep`` bool ``[M, N]``, and the truth: ``base``, ``gap`` ``[N]``.

    Example:
        >>> pool = synthetic_pool(n_models=4, n_samples=100, gap=3.0)
        >>> members = np.arange(100) < 50
        >>> phi = pool.draw(members)
        >>> phi.shape, bool(phi[members].mean() > phi[~members].mean())
        ((100, 1), True)
    """

    phi: np.ndarray
    keep: np.ndarray
    base: np.ndarray
    gap: np.ndarray
    noise: float

    def draw(self, members, *, shift: float = 0.0, random_state: int = 0) -> np.ndarray:
        """phi ``[N, V]`` of a new model that trained on ``members`` (bool ``[N]``), plus ``shift``."""
        rng = np.random.default_rng(random_state)
        mean = self.base + self.gap * np.asarray(members, dtype=np.float64)
        return mean[:, None] + shift + rng.normal(0.0, self.noise, self.phi.shape[1:])


def synthetic_pool(*, n_models: int = 16, n_samples: int = 1000, n_views: int = 1, gap: float = 2.0,
                   gap_spread: float = 0.3, spread: float = 1.5, noise: float = 1.0,
                   random_state: int = 0) -> SyntheticPool:
    """A pool with the balanced keep design (every example IN for exactly half of the models).

    Example:
        >>> pool = synthetic_pool(n_models=4, n_samples=6)
        >>> pool.phi.shape, pool.keep.sum(axis=0).tolist()
        ((4, 6, 1), [2, 2, 2, 2, 2, 2])
    """
    rng = np.random.default_rng(random_state)
    keep = rng.random((n_models, n_samples)).argsort(axis=0) < n_models // 2
    base = rng.normal(0.0, spread, n_samples)
    g = gap * np.exp(rng.normal(0.0, gap_spread, n_samples))
    mean = base[None, :] + g[None, :] * keep
    phi = mean[..., None] + rng.normal(0.0, noise, (n_models, n_samples, n_views))
    return SyntheticPool(phi, keep, base, g, noise)


def synthetic_families(*, n_models: int = 16, n_samples: int = 200, leak: float = 0.0,
                       forget_fraction: float = 0.3, random_state: int = 0):
    """U-LiRA's model families on a :func:`synthetic_pool`, for tests, docs and demos.

    Every shadow m forgets a random ``forget_fraction`` ``F_m`` of its training examples. Its
    exact retrain never saw ``F_m``; its unlearned model is the retrain plus ``leak`` on ``F_m``
    (``leak=0``: perfect unlearning, indistinguishable from retraining).

    Example:
        >>> fam = synthetic_families(n_models=4, n_samples=10, leak=1.0)
        >>> fam.base.shape, bool((fam.forget <= fam.keep).all())
        ((4, 10, 1), True)
    """
    from muaudit.attacks.ulira import ShadowFamilies

    pool = synthetic_pool(n_models=n_models, n_samples=n_samples, random_state=random_state)
    rng = np.random.default_rng([random_state, 1])
    forget = pool.keep & (rng.random(pool.keep.shape) < forget_fraction)
    noise = lambda: rng.normal(0.0, pool.noise, pool.phi.shape)  # noqa: E731
    mean = pool.base[None, :] + pool.gap[None, :] * (pool.keep & ~forget)
    retrain = mean[..., None] + noise()
    unlearned = (mean + leak * forget)[..., None] + noise()
    return ShadowFamilies(pool.phi, pool.keep, unlearned, forget, retrain)
