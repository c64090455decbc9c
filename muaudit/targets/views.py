"""Secret query views: per-audit random views a provider cannot match to the forget set.

A provider who knows the forget set can recognise the audit's queries when they are the forget
examples themselves (or their fixed views) and answer them from another model. Where the auditor
controls the inputs (a model file, an endpoint), ``--secret-views N`` queries every example under
N views drawn for this audit only: a random sub-pixel shift of up to ``max_shift`` pixels on each
axis (bilinear, edge or zero border), a horizontal flip where the pool's recipe flips, and Gaussian
noise of sd ``noise`` times the data's standard deviation. They come from a seed read from
``os.urandom`` when the audit starts, which nothing the provider could see before the audit
determines; the seed and the views are written to ``results.json`` only with the finished audit.
The pool's shadows score the same views from their stored weights (:mod:`muaudit.pool.rescore`).

What this rules out: answering by exact match, or by match up to a whole-pixel shift, with the
forget examples. What it does not: a provider who routes every input *near* a forget example
(nearest-neighbour search within a radius larger than the views' distance) to another model;
the report says so in words.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from muaudit.checks import check_positive_int
from muaudit.errors import ConfigError
from muaudit.training.views import MAX_VIEWS, View

# Measured on digits-mlp (docs/pools.md, "Query views"): the MLP is not trained on shifted digits, so
# views of up to 1/4 pixel keep its accuracy (0.987) and add signal (members-vs-test AUC 0.591 with 8
# views vs 0.584 for the identity alone); up to 1/2 pixel already loses it (0.565), one pixel more so.
MAX_SHIFT = 0.25  # pixels on each axis
NOISE = 0.05  # noise sd, as a fraction of the data's standard deviation


@dataclass(frozen=True)
class SecretViews:
    """The views of one audit and the seed they were drawn from (record them only after the audit)."""

    seed: int
    views: tuple[View, ...]
    noise_sd: float

    def describe(self) -> dict:
        return {"seed": str(self.seed), "n_views": len(self.views), "views": [v.name for v in self.views],
                "max_shift": MAX_SHIFT, "noise_sd": self.noise_sd,
                "noise_seeds": [str(v.seed) for v in self.views]}


def fresh_seed() -> int:
    """A 63-bit seed from the operating system's randomness (not from any ``random_state``)."""
    return int.from_bytes(os.urandom(8), "little") >> 1


def draw_secret_views(n_views: int, X: np.ndarray, *, flips: bool, random_state: int | None = None) -> SecretViews:
    """``n_views`` random views for inputs ``X`` ``[N, C, H, W]`` (a fresh seed unless ``random_state`` is given).

    Example:
        >>> X = np.zeros((3, 1, 8, 8), np.float32) + np.arange(8, dtype=np.float32)
        >>> a = draw_secret_views(4, X, flips=False, random_state=1)
        >>> b = draw_secret_views(4, X, flips=False, random_state=1)
        >>> a == b, len(a.views), all(abs(v.dx) <= MAX_SHIFT and v.noise > 0 for v in a.views)
        (True, 4, True)
        >>> draw_secret_views(4, X, flips=False).seed != draw_secret_views(4, X, flips=False).seed
        True
    """
    n_views = check_positive_int("secret_views", n_views)
    if n_views > MAX_VIEWS:
        raise ConfigError(f"Expected `secret_views` in [1, {MAX_VIEWS}], got {n_views}")
    if np.ndim(X) != 4:
        raise ConfigError(f"secret views shift images [N, C, H, W]; the data's inputs have shape {list(np.shape(X))[1:]}")
    random_state = fresh_seed() if random_state is None else int(random_state)
    rng = np.random.default_rng(random_state)
    sd = float(NOISE * np.std(X)) or NOISE
    views = tuple(View(dx=float(rng.uniform(-MAX_SHIFT, MAX_SHIFT)), dy=float(rng.uniform(-MAX_SHIFT, MAX_SHIFT)),
                       flip=bool(flips and rng.random() < 0.5), pad=("zero", "edge")[int(rng.integers(2))],
                       noise=sd, seed=int(rng.integers(2**63)))
                  for _ in range(n_views))
    return SecretViews(random_state, views, sd)
