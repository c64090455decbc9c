"""The batched-ensemble engine: K independent models trained as one stacked computation.

MLPs use hand-written ``torch.baddbmm`` layers with a hand-written backward pass into buffers
allocated once (about 2x the sequential loop on CPU, see docs/benchmarks.md); other models
without BatchNorm/Dropout use ``torch.func.vmap`` and autograd. Each model
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
    """K MLPs as ``baddbmm`` layers in feature-major layout: weights ``[K, out, in]`` (nn.Linear's
    own layout), activations ``[K, features, batch]``. On CPU this layout keeps the batch as the
    long side of every matrix product, which is about 2x faster than ``[K, batch, features]`` when
    a layer is narrow (e.g. the 10-class output).

    The backward pass is written out (two ``bmm`` per layer, none for the input) instead of going
    through autograd: every activation, gradient and batch lives in a buffer allocated once per
    training and written with ``out=``, so a step allocates nothing (fresh multi-MB tensors cost
    page faults and zero-fills on CPU) and keeps no autograd graph. Same products as autograd's
    ``baddbmm`` backward, so the same model to float rounding.
    """

    def __init__(self, models: list[MLP], batch_size: int):
        layers = [m.linears for m in models]
        n, K = len(layers[0]), len(models)
        self.w = [torch.stack([ls[i].weight.detach() for ls in layers]).contiguous() for i in range(n)]
        self.b = [torch.stack([ls[i].bias.detach()[:, None] for ls in layers]).contiguous() for i in range(n)]
        self.params = self.w + self.b
        for p in self.params:
            p.grad = torch.empty_like(p)
        dev, B = self.w[0].device, batch_size
        self.acts = [torch.empty(K, w.shape[1], B, device=dev) for w in self.w]  # [K, out_i, B]
        self.dacts = [torch.empty(K, w.shape[2], B, device=dev) for w in self.w[1:]]  # grads of hidden layers

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``x [K, B, ...]`` -> logits ``[K, C, B]`` (class dim 1, as ``F.cross_entropy`` takes it);
        the hidden activations stay in ``self.acts`` for :meth:`backward`."""
        h = x.reshape(x.shape[0], x.shape[1], -1).transpose(1, 2)
        for i, (w, b) in enumerate(zip(self.w, self.b)):
            h = torch.baddbmm(b, w, h, out=self.acts[i])
            if i < len(self.w) - 1:
                h.relu_()
        return h

    def backward(self, x: torch.Tensor, g: torch.Tensor) -> None:
        """Gradients into ``p.grad`` from ``g`` = d loss / d logits ``[K, C, B]`` (overwritten) for
        the batch ``x`` of the last forward pass."""
        inputs = [x.reshape(x.shape[0], x.shape[1], -1).transpose(1, 2), *self.acts[:-1]]  # [K, in_i, B]
        for i in range(len(self.w) - 1, -1, -1):
            torch.bmm(g, inputs[i].transpose(1, 2), out=self.w[i].grad)
            torch.sum(g, dim=2, keepdim=True, out=self.b[i].grad)
            if i:
                dh = torch.bmm(self.w[i].transpose(1, 2), g, out=self.dacts[i - 1])
                g = torch.ops.aten.threshold_backward.grad_input(dh, inputs[i], 0, grad_input=dh)  # ReLU

    @torch.no_grad()
    def write_back(self, models: list[MLP]) -> None:
        for k, m in enumerate(models):
            for lin, w, b in zip(m.linears, self.w, self.b):
                lin.weight.copy_(w[k])
                lin.bias.copy_(b[k, :, 0])


class _VmapStack:
    def __init__(self, models: list[nn.Module]):
        params, self.buffers = stack_module_state(models)
        self.names = list(params)
        self.params = [params[n] for n in self.names]
        base = models[0]
        self._f = vmap(lambda p, b, x: functional_call(base, (p, b), (x,)))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``x [K, B, ...]`` -> logits ``[K, C, B]``."""
        return self._f(dict(zip(self.names, self.params)), self.buffers, x).transpose(1, 2)

    @torch.no_grad()
    def write_back(self, models: list[nn.Module]) -> None:
        for k, m in enumerate(models):
            own = dict(m.named_parameters())
            for n, p in zip(self.names, self.params):
                own[n].copy_(p[k])


def train_ensemble(models: list[nn.Module], X: torch.Tensor, y: torch.Tensor, rows: list[np.ndarray],
                   recipe: TrainRecipe, seeds: list[int]) -> list[nn.Module]:
    """Train ``models[k]`` on dataset rows ``rows[k]`` with seed ``seeds[k]``, all at once, in place.

    Models with fewer rows take fewer steps per epoch: in a step where model k has no batch left it
    is inactive (zero loss weight, parameters and optimiser state untouched).
    """
    K, bs = len(models), recipe.batch_size
    mlp = all(isinstance(m, MLP) for m in models)
    stack = _MLPStack(models, bs) if mlp else _VmapStack(models)
    opt = FunctionalOptimizer(stack.params, recipe, n_models=K)
    S = np.array([steps_per_epoch(len(r), bs) for r in rows], np.int64)
    total = recipe.epochs * S
    plans = [batch_plan(len(r), bs, recipe.epochs, s) for r, s in zip(rows, seeds)]
    arngs = [augment_rng(s) for s in seeds] if recipe.augment and X.dim() == 4 else None
    batches = _Batches(X, y, K, bs)
    done = np.zeros(K, np.int64)
    for _ in range(recipe.epochs):
        for step in range(int(S.max(initial=0))):
            active = step < S
            xb, yb, weight = batches.gather(rows, plans, active, arngs)
            if mlp:
                with torch.no_grad():
                    stack.backward(xb, _cross_entropy_grad(stack(xb), yb, weight, recipe.label_smoothing))
            else:
                ce = F.cross_entropy(stack(xb), yb, reduction="none", label_smoothing=recipe.label_smoothing)  # [K, B]
                loss = (ce * weight).sum()  # sum over models of each model's mean loss
                for p in stack.params:
                    p.grad = None
                loss.backward()
            opt.step(np.array([recipe.lr_at(int(d), int(t)) for d, t in zip(done, total)]), active)
            done += active
    stack.write_back(models)
    return [m.eval() for m in models]


def _cross_entropy_grad(logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor,
                        smoothing: float = 0.0) -> torch.Tensor:
    """d/d logits of ``sum(weight * cross_entropy(logits, y))`` for logits ``[K, C, B]``, labels and
    weights ``[K, B]``: ``weight * (softmax(logits) - target)``, ``target`` the one-hot labels
    (with ``smoothing`` e: ``(1 - e) * onehot + e / C``, as ``F.cross_entropy(label_smoothing=e)``).

    Example:
        >>> z, y, w = torch.randn(2, 3, 4, requires_grad=True), torch.randint(0, 3, (2, 4)), torch.rand(2, 4)
        >>> (w * F.cross_entropy(z, y, reduction="none")).sum().backward()
        >>> torch.allclose(_cross_entropy_grad(z.detach(), y, w), z.grad, atol=1e-6)
        True
    """
    w = weight[:, None, :]
    g = torch.softmax(logits, dim=1).mul_(w)
    if smoothing:
        g.sub_(w * (smoothing / logits.shape[1]))
        return g.scatter_add_(1, y[:, None, :], w * -(1.0 - smoothing))
    return g.scatter_add_(1, y[:, None, :], w.neg())


class _Batches:
    """Every model's batch of a step, gathered with one ``index_select`` into buffers allocated once
    (indexing ``X[idx]`` with a ``[K, bs]`` index is several times slower on CPU for wide rows)."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor, K: int, bs: int):
        self.X, self.y, self.K, self.bs = X, y, K, bs
        self.xb = torch.empty((K * bs, *X.shape[1:]), dtype=X.dtype, device=X.device)
        self.yb = torch.empty(K * bs, dtype=y.dtype, device=y.device)

    def gather(self, rows, plans, active, arngs):
        """This step's batch of every active model, padded to ``bs``: ``x [K, bs, ...]``, ``y [K, bs]``
        and loss weights ``[K, bs]`` (``1 / batch size`` on real rows, 0 on padding and inactive models)."""
        K, bs, dev = self.K, self.bs, self.X.device
        idx = np.zeros((K, bs), np.int64)
        weight = np.zeros((K, bs), np.float32)
        sizes = np.zeros(K, np.int64)
        for k in np.flatnonzero(active):
            r = rows[k][next(plans[k])]
            sizes[k] = len(r)
            idx[k, :len(r)] = r
            weight[k, :len(r)] = 1.0 / len(r)
        it = torch.from_numpy(idx.reshape(-1)).to(dev)
        xb = torch.index_select(self.X, 0, it, out=self.xb).view(K, bs, *self.X.shape[1:])
        yb = torch.index_select(self.y, 0, it, out=self.yb).view(K, bs)
        if arngs is not None:
            for k in np.flatnonzero(sizes):
                xb[k, :sizes[k]] = augment_images(xb[k, :sizes[k]], arngs[k])
        return xb, yb, torch.from_numpy(weight).to(dev)
