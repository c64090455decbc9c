"""The batched-ensemble engine: K independent models trained as one stacked computation.

MLPs use hand-written ``torch.baddbmm`` layers (about 2x the sequential loop on CPU, see
docs/benchmarks.md); other models without BatchNorm/Dropout use ``torch.func.vmap``. Each model
keeps its own data order, learning-rate schedule and optimiser state, so the result equals the
sequential engine's for the same seed (to float rounding).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from muaudit.models.archs import MLP
from muaudit.training.batches import augment_images, augment_rng, batch_plan, steps_per_epoch
from muaudit.training.optim import FunctionalOptimizer
from muaudit.training.recipe import TrainRecipe

_UNBATCHABLE = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd, nn.GroupNorm, nn.LayerNorm,
                nn.modules.instancenorm._InstanceNorm)


def supports_ensemble(model: nn.Module) -> bool:
    """True when the model has no layers whose training behaviour couples models or draws noise."""
    return not isinstance(model, torch.jit.ScriptModule) and not any(isinstance(m, _UNBATCHABLE) for m in model.modules())


class _MLPStack:
    def __init__(self, models: list[MLP]):
        layers = [m.linears for m in models]
        self.w = [torch.stack([ls[i].weight.detach().t() for ls in layers]).contiguous().requires_grad_() for i in range(len(layers[0]))]
        self.b = [torch.stack([ls[i].bias.detach()[None] for ls in layers]).contiguous().requires_grad_() for i in range(len(layers[0]))]
        self.params = self.w + self.b

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h = x.reshape(x.shape[0], x.shape[1], -1)
        for i, (w, b) in enumerate(zip(self.w, self.b)):
            h = torch.baddbmm(b, h, w)
            if i < len(self.w) - 1:
                h = F.relu(h)
        return h

    @torch.no_grad()
    def write_back(self, models: list[MLP]) -> None:
        for k, m in enumerate(models):
            for lin, w, b in zip(m.linears, self.w, self.b):
                lin.weight.copy_(w[k].t())
                lin.bias.copy_(b[k, 0])


class _VmapStack:
    def __init__(self, models: list[nn.Module]):
        params, self.buffers = stack_module_state(models)
        self.names = list(params)
        self.params = [params[n] for n in self.names]
        base = models[0]
        self._f = vmap(lambda p, b, x: functional_call(base, (p, b), (x,)))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self._f(dict(zip(self.names, self.params)), self.buffers, x)

    @torch.no_grad()
    def write_back(self, models: list[nn.Module]) -> None:
        for k, m in enumerate(models):
            own = dict(m.named_parameters())
            for n, p in zip(self.names, self.params):
                own[n].copy_(p[k])


def train_ensemble(models: list[nn.Module], X: torch.Tensor, y: torch.Tensor, rows: list[np.ndarray],
                   recipe: TrainRecipe, seeds: list[int]) -> list[nn.Module]:
    """Train ``models[k]`` on dataset rows ``rows[k]`` with seed ``seeds[k]``, all at once, in place."""
    stack = _MLPStack(models) if all(isinstance(m, MLP) for m in models) else _VmapStack(models)
    K, bs, dev = len(models), recipe.batch_size, X.device
    opt = FunctionalOptimizer(stack.params, recipe, n_models=K)
    S = [steps_per_epoch(len(r), bs) for r in rows]
    plans = [batch_plan(len(r), bs, recipe.epochs, s) for r, s in zip(rows, seeds)]
    arngs = [augment_rng(s) for s in seeds]
    done = [0] * K
    for _ in range(recipe.epochs):
        for step in range(max(S, default=0)):
            active = [step < s for s in S]
            xb, yb, w = _gather(X, y, rows, plans, active, bs, arngs if recipe.augment and X.dim() == 4 else None)
            out = stack(xb)
            ce = F.cross_entropy(out.reshape(-1, out.shape[-1]), yb.reshape(-1), reduction="none").reshape(K, -1)
            loss = ((ce * w).sum(1) / w.sum(1).clamp(min=1)).sum()
            for p in stack.params:
                p.grad = None
            loss.backward()
            lr = torch.tensor([recipe.lr_at(done[k], recipe.epochs * S[k]) for k in range(K)], dtype=torch.float64)
            opt.step(lr, torch.tensor(active))
            done = [d + a for d, a in zip(done, active)]
    stack.write_back(models)
    return [m.eval() for m in models]


def _gather(X, y, rows, plans, active, bs, arngs):
    """Stack this step's batch of every model, zero-weight padded to ``bs``: ``[K, bs, ...]``."""
    K, dev = len(rows), X.device
    idx = np.zeros((K, bs), np.int64)
    w = torch.zeros(K, bs, device=dev)
    for k in range(K):
        if active[k]:
            r = rows[k][next(plans[k])]
            idx[k, :len(r)] = r
            w[k, :len(r)] = 1
    it = torch.as_tensor(idx, device=dev)
    xb, yb = X[it], y[it]
    if arngs is not None:
        for k in range(K):
            n = int(w[k].sum())
            if n:
                xb[k, :n] = augment_images(xb[k, :n], arngs[k])
    return xb, yb, w
