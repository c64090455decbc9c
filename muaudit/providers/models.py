"""Providers that serve another model than the one asked for.

- ``unrelated``: a model of the same recipe trained on other data (the test split), never on the
  training split: nothing of the forget set, nothing of the retained set either.
- ``audit-aware``: the provider builds its own few shadows on the retained set (where every forget
  example is a non-member), reads the LiRA statistic they give each forget example, and fine-tunes
  the original until the forget set's statistics look like those non-members' (cross-entropy on
  retained batches plus a squared error pulling each forget example's statistic to its shadows' mean).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from muaudit.providers.base import Materials, register_provider
from muaudit.training.sequential import fit_one

AWARE_SHADOWS = 2  # the provider's own shadows
AWARE_STEPS = 150  # fine-tuning steps
AWARE_LR = 1e-3
AWARE_WEIGHT = 1.0  # weight of the statistic-matching term


def statistic(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """LiRA's statistic, ``z_y - logsumexp_{j != y} z_j`` (differentiable), ``[B]``."""
    zy = z.gather(1, y[:, None])[:, 0]
    others = z.masked_fill(F.one_hot(y, z.shape[1]).bool(), float("-inf"))
    return zy - torch.logsumexp(others, 1)


@register_provider("unrelated", summary="serves a model of the same recipe trained on the test split, never "
                                        "on the training split")
def unrelated(m: Materials, *, random_state: int) -> nn.Module:
    ds = m.dataset
    return fit_one(m.make_model(random_state + 1), ds.X[ds.test_idx], ds.y[ds.test_idx], m.spec.train, random_state + 1)


def _shadow_goal(m: Materials, seed: int) -> torch.Tensor:
    """Mean statistic of each forget example over the provider's shadows trained on the retained set."""
    Xr, yr = m.rows(m.retain)
    Xf, yf = m.rows(m.forget)
    goals = []
    for k in range(AWARE_SHADOWS):
        s = seed + 100 + k
        shadow = fit_one(m.make_model(s), Xr.numpy(), yr.numpy(), m.spec.train, s)
        with torch.no_grad():
            goals.append(statistic(shadow(Xf), yf))
    return torch.stack(goals).mean(0)


@register_provider("audit-aware", summary=f"fine-tunes the original until, by its own {AWARE_SHADOWS} shadows, "
                                          "the forget set's attack statistics look like non-members'")
def audit_aware(m: Materials, *, random_state: int) -> nn.Module:
    goal = _shadow_goal(m, random_state)
    Xr, yr = m.rows(m.retain)
    Xf, yf = m.rows(m.forget)
    model = copy.deepcopy(m.original).train()
    opt = torch.optim.Adam(model.parameters(), lr=AWARE_LR)
    rng = np.random.default_rng([random_state, 7])
    bs = min(m.spec.train.batch_size, len(yr))
    for _ in range(AWARE_STEPS):
        idx = torch.as_tensor(rng.choice(len(yr), bs, replace=False))
        loss = F.cross_entropy(model(Xr[idx]), yr[idx])
        loss = loss + AWARE_WEIGHT * F.mse_loss(statistic(model(Xf), yf), goal)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()
