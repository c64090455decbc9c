"""Gaussian canaries and the Gaussian Unlearning Score (GUS) of Pawelczyk et al. (ICLR 2025).

A random fraction of the training inputs become ``x + xi``, ``xi ~ N(0, eps_p^2 I)`` in the model's
input space, labels unchanged. Per canary, at the **clean** point and in eval mode::

    g = grad_x loss(model; x, y)          I = <xi, g> / (eps_p ||g||)

If the model is independent of ``xi`` (never trained on the canary, or retrained without it),
``xi / eps_p`` projected on the fixed unit vector ``g / ||g||`` is exactly ``N(0, 1)``: the null needs
no shadow models. Training lowers the loss at ``x + xi``, so memorisation pushes ``I`` below 0.

Paper: Pawelczyk, Di, Lu, Kamath, Sekhari, Neel, *Machine Unlearning Fails to Remove Data
Poisoning Attacks*, ICLR 2025 (arXiv:2406.17216), Fig. 6 and Algorithms 1-2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats
from torch import nn
from torch.func import functional_call, grad, vmap

from muaudit.data import Dataset
from muaudit.metrics import auc, clopper_pearson, tpr_at_fpr
from muaudit.poisoning.base import (PoisonAttack, PoisonConfig, PoisonContext, PoisonSet, Scores, choose_positions,
                                    poisoned_dataset, register_poison)

PAPER = "Pawelczyk et al. 2025, Machine Unlearning Fails to Remove Data Poisoning Attacks (ICLR), arXiv:2406.17216"


@dataclass(frozen=True)
class GaussianConfig(PoisonConfig):
    """Gaussian canaries. Paper defaults (CIFAR-10): 1.5 % of the training set, ``eps_p = 0.3``.

    Attributes:
        fraction: share of the training split that becomes canaries.
        eps_p: noise standard deviation in the model's input space.
        fresh_draws: fresh noise vectors per canary for the empirical (fresh-noise) null.
        alpha: FPR of the TPR read-outs (the paper reports TPR at FPR 0.01).
    """

    fraction: float = 0.015
    eps_p: float = 0.3
    fresh_draws: int = 20
    alpha: float = 0.01

    _open_unit = ("fraction", "alpha")
    _positive = ("eps_p",)
    _counts = ("fresh_draws",)


def loss_directions(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, batch_size: int = 1024) -> torch.Tensor:
    """Per-sample ``grad_x CE(model(x), y)`` up to a positive factor, float32 ``[n, d]``, eval mode.

    The gradient is ``J^T (p - e_y)`` with ``p - e_y = (1 - p_y) v``, ``v_j = softmax_{k != y}(z)_j``
    for ``j != y`` and ``v_y = -1``. Back-propagating ``v`` instead of ``p - e_y`` gives the same
    direction without the factor ``1 - p_y``, which underflows to 0 on points a model fits
    perfectly. Batched with ``torch.func.vmap(grad(...))``; the model's mode is restored.
    """
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def surrogate(x, label):
        z = functional_call(model, (params, buffers), (x[None],))[0]
        own = torch.arange(z.shape[-1], device=z.device) == label
        q = torch.softmax(z.detach().masked_fill(own, float("-inf")), -1)
        return (torch.where(own, -torch.ones_like(q), q) * z).sum()

    was = model.training
    model.eval()
    try:
        per_sample = vmap(grad(surrogate))
        out = [per_sample(X[s:s + batch_size], y[s:s + batch_size]).reshape(min(batch_size, len(X) - s), -1)
               for s in range(0, len(X), batch_size)]
    finally:
        model.train(was)
    return torch.cat(out) if out else torch.zeros((0, int(np.prod(X.shape[1:]))))


def gus(model: nn.Module, X_clean, y, xi, eps_p: float, *, fresh: np.ndarray | None = None):
    """GUS per canary: ``I = <xi, g> / (eps_p ||g||)`` (float64 ``[n]``), and ``I`` of the ``fresh``
    standard-normal draws ``[draws, n, ...]`` on the same gradients (``[draws, n]``, or None).

    A canary whose gradient vanishes scores 0 (a non-detection); :func:`gus_readout` counts them.
    """
    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
    X = torch.as_tensor(np.asarray(X_clean, np.float32), device=dev)
    g = loss_directions(model, X, torch.as_tensor(np.asarray(y, np.int64), device=dev)).double().cpu().numpy()
    norm = np.linalg.norm(g, axis=1)
    unit = np.divide(g, norm[:, None], out=np.zeros_like(g), where=norm[:, None] > 0)
    I = np.einsum("nd,nd->n", np.asarray(xi, np.float64).reshape(len(g), -1), unit) / eps_p
    fresh_I = None if fresh is None else np.stack([np.einsum("nd,nd->n", f.reshape(len(g), -1), unit) for f in fresh])
    return I, fresh_I


def gus_readout(I: np.ndarray, fresh_I: np.ndarray | None = None, *, alpha: float = 0.01, level: float = 0.95) -> dict:
    """Read-outs of canary scores ``I [n]`` (memorisation = negative):

    ``mean``, ``z = sqrt(n) mean``, one-sided ``p_value = Phi(z)`` against the exact N(0, 1) null,
    ``tpr_null`` = share of ``I <= Phi^-1(alpha)`` (with a Clopper-Pearson interval), and against
    fresh-noise scores ``fresh_I``: ``tpr_fresh`` (TPR at FPR alpha, canaries vs fresh) and ``auc``.
    """
    n = len(I)
    mean = float(np.mean(I)) if n else 0.0
    z = float(np.sqrt(n) * mean)
    hits = int(np.sum(I <= stats.norm.ppf(alpha)))
    lo, hi = clopper_pearson(hits, max(n, 1), level=level)
    out = {"n": n, "mean": mean, "z": z, "p_value": float(stats.norm.cdf(z)), "alpha": alpha,
           "tpr_null": hits / max(n, 1), "tpr_null_ci": [float(lo), float(hi)], "n_zero_gradient": int(np.sum(I == 0))}
    if fresh_I is not None and n:
        scores = -np.r_[I, fresh_I.ravel()]
        labels = np.r_[np.ones(n, bool), np.zeros(fresh_I.size, bool)]
        r = tpr_at_fpr(labels, scores, alpha)
        out.update(tpr_fresh=r.tpr, auc=auc(labels, scores), n_fresh=int(fresh_I.size))
    return out


@register_poison
class GaussianCanaries(PoisonAttack):
    """Gaussian canaries scored with GUS; item values ``-I`` (higher = more memorised)."""

    name = "gaussian"
    family = "canary"
    metric = "-GUS mean (memorisation of the canary noise; 0 = none)"
    source = PAPER
    Config = GaussianConfig
    # Measured on digits (docs/poisoning.md): the paper's 1.5 % at eps_p 0.3 has no power there.
    dataset_defaults = {"digits": {"fraction": 0.05, "eps_p": 1.0}}
    null = True
    eps_field = "eps_p"

    def poison(self, dataset: Dataset, config: GaussianConfig, random_state: int, context: PoisonContext) -> PoisonSet:
        rng = np.random.default_rng([int(random_state), 6, 1])
        n_train = len(dataset.train_idx)
        forget = choose_positions(rng, np.arange(n_train), config.fraction, n_train, what="canaries")
        rows = dataset.train_idx[forget]
        xi = (rng.standard_normal((len(forget),) + dataset.input_shape) * config.eps_p).astype(np.float32)
        poisoned = poisoned_dataset(dataset, forget, dataset.X[rows] + xi, tag="gaussian")
        arrays = {"xi": xi, "x_clean": dataset.X[rows], "y": dataset.y[rows], "eps_p": np.float64(config.eps_p)}
        return PoisonSet(self.name, config.to_dict(), int(random_state), poisoned, dataset, forget, arrays)

    def score(self, model: nn.Module, poison: PoisonSet) -> Scores:
        a, c = poison.arrays, poison.config
        fresh = np.random.default_rng([poison.seed, 6, 2]).standard_normal((c["fresh_draws"],) + a["xi"].shape)
        I, fresh_I = gus(model, a["x_clean"], a["y"], a["xi"], float(a["eps_p"]), fresh=fresh)
        readout = gus_readout(I, fresh_I, alpha=c["alpha"])
        return Scores(-I, readout, {"gus": I, "gus_fresh": fresh_I})

    def pooled_readout(self, scores: list[Scores], config: dict) -> dict:
        """GUS read-outs over the canaries of every seed (pooling raises the power)."""
        I = np.concatenate([s.arrays["gus"] for s in scores])
        fresh = np.concatenate([s.arrays["gus_fresh"] for s in scores], axis=1)
        return {**super().pooled_readout(scores, config), **gus_readout(I, fresh, alpha=config["alpha"])}

    def null_test(self, scores: Scores) -> dict:
        """Pooled canaries against N(0, 1): ``z = sqrt(n) mean(I)``, one-sided (memorisation: I < 0)."""
        I = -np.asarray(scores.values)
        z = float(np.sqrt(len(I)) * I.mean()) if len(I) else 0.0
        return {"test": "z-test of mean GUS against the exact N(0, 1) null, one-sided (I < 0)", "n": len(I),
                "z": z, "p_value": float(stats.norm.cdf(z))}
