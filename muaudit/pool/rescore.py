"""Scoring a pool's shadows on new inputs at audit time, from their stored weights.

An audit on secret views (``muaudit lira --secret-views N``, :mod:`muaudit.targets.views`) needs
the shadows' outputs on views drawn for that audit only, so they cannot have been computed when
the pool was built: the pool must keep its shadows' weights (``save_weights = true`` in
``[pool]``). The weights are not covered by the pool digest, so every loaded shadow is checked
against its committed (digest-covered) logits on a few rows before it scores anything.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import nn

from muaudit.errors import PoolError
from muaudit.pool.reader import Pool
from muaudit.pool.spec import PoolSpec
from muaudit.training.predict import predict_many

CHECK_ROWS = 64  # rows on which each loaded shadow must reproduce its stored logits
CHECK_TOLERANCE = 1e-4


def weight_files(pool: Pool) -> list[Path]:
    """The shadows' checkpoint files ``weights/mNNNNN.pt``; an error with the fix when any is missing."""
    folder = pool.path.parent / "weights"
    files = [folder / f"m{m:05d}.pt" for m in range(pool.n_models)]
    missing = [f for f in files if not f.is_file()]
    if missing:
        have = "has no stored shadow weights" if len(missing) == len(files) else \
            f"lacks the weights of {len(missing)} of its {len(files)} shadows (first: {missing[0].name})"
        raise PoolError(f"pool {pool.path.parent} {have}: secret views are scored by the shadows at audit time; "
                        "build a pool with `save_weights = true` in [pool] (or audit without --secret-views)")
    return files


def load_shadows(pool: Pool, spec: PoolSpec, X: np.ndarray, stored: np.ndarray, *,
                 random_state: np.random.Generator) -> list[nn.Module]:
    """Every shadow of ``pool`` in eval mode, built as the pool's recipe says, each checked to give its
    stored logits ``stored`` ``[M, N, V, C]`` on :data:`CHECK_ROWS` rows of ``X`` (population inputs)
    drawn with ``random_state``. The models stay on the CPU."""
    from muaudit.errors import MuauditError
    from muaudit.models import load_state, read_checkpoint

    rows = np.sort(random_state.choice(len(X), min(CHECK_ROWS, len(X)), replace=False))
    n_classes = stored.shape[-1]
    models = []
    for m, path in enumerate(weight_files(pool)):
        try:
            state, _ = read_checkpoint(path)  # weights only; the recipe, not the file's meta, says what is built
            model = load_state(spec.make_model(0, X.shape[1:], n_classes), state, path).eval()
        except MuauditError as e:
            raise PoolError(f"shadow {m}'s weights {path} cannot be used ({e}); rebuild the pool") from None
        z = predict_many([model], X[rows], views=spec.views)[0]
        diff = float(np.abs(z - stored[m, rows]).max())
        if not diff <= CHECK_TOLERANCE:
            raise PoolError(f"shadow {m}'s weights {path} do not give its stored logits (max difference {diff:.3g}); "
                            "the weights were changed after the build: rebuild the pool")
        models.append(model)
    return models


def score_shadows(models: list[nn.Module], X: np.ndarray) -> np.ndarray:
    """Logits float32 ``[M, N, C]`` of the shadows on the (already transformed) inputs ``X``."""
    return np.stack([z[:, 0] for z in predict_many(models, X)])
