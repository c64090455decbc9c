"""One functional SGD / Adam step used by both engines, so they update identically.

Parameters may carry a leading model dimension ``K`` (batched ensemble); ``lr`` and ``active``
are then ``[K]`` tensors, and inactive models keep parameters and optimiser state unchanged.
Semantics follow ``torch.optim.SGD`` / ``Adam`` with coupled L2 weight decay.
"""

from __future__ import annotations

import torch

from muaudit.training.recipe import TrainRecipe

BETAS, EPS = (0.9, 0.999), 1e-8


class FunctionalOptimizer:
    def __init__(self, params: list[torch.Tensor], recipe: TrainRecipe, n_models: int | None = None):
        self.params, self.recipe = params, recipe
        self.state = [dict() for _ in params]
        shape = () if n_models is None else (n_models,)
        self.steps = torch.zeros(shape, dtype=torch.float64)

    @staticmethod
    def _b(t: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """Broadcast a per-model ``[K]`` tensor against a ``[K, ...]`` parameter."""
        return t.reshape(t.shape + (1,) * (p.dim() - t.dim())).to(p.dtype) if t.dim() else t.to(p.dtype)

    @torch.no_grad()
    def step(self, lr: torch.Tensor, active: torch.Tensor | None = None) -> None:
        r = self.recipe
        self.steps += 1 if active is None else active.to(torch.float64)
        for p, st in zip(self.params, self.state):
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            if r.weight_decay:
                g = g.add(p, alpha=r.weight_decay)
            lr_p = self._b(lr.to(p.device), p)
            mask = None if active is None else self._b(active.to(p.device), p).bool()
            if r.optimizer == "sgd":
                update = self._sgd(g, st, mask)
            else:
                update = self._adam(g, st, mask, self._b(self.steps.to(p.device), p))
            if mask is not None:
                update = torch.where(mask, update, torch.zeros_like(update))
            p.sub_(lr_p * update)

    @staticmethod
    def _keep(new, old, mask):
        return new if mask is None else torch.where(mask, new, old)

    def _sgd(self, g, st, mask):
        m = self.recipe.momentum
        if not m:
            return g
        buf = st.get("buf", torch.zeros_like(g))
        st["buf"] = self._keep(buf * m + g, buf, mask)
        return st["buf"]

    def _adam(self, g, st, mask, t):
        b1, b2 = BETAS
        m, v = st.get("m", torch.zeros_like(g)), st.get("v", torch.zeros_like(g))
        st["m"] = self._keep(m * b1 + g * (1 - b1), m, mask)
        st["v"] = self._keep(v * b2 + g * g * (1 - b2), v, mask)
        t = t.clamp(min=1)
        denom = st["v"].sqrt() / torch.sqrt(1 - b2 ** t) + EPS
        return st["m"] / (1 - b1 ** t) / denom
