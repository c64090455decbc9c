"""Indiscriminate poisons: label flipping and gradient canceling. Metric: clean test accuracy.

Items are the clean test inputs; an item's value is 1 when the model gets it **wrong**, so the
attack metric (their mean) is the clean test error and efficacy reads
``(err_init - err_unl) / (err_init - err_retrain)`` = the share of the accuracy loss recovered.

- **label-flip** (Biggio, Nelson, Laskov 2012; the baseline of Lu et al. 2023): a random share of
  the training labels is changed, uniformly to another class (``mode="random"``) or to the next
  class (``mode="shift"``, ``y -> (y + 1) mod C``, a systematic flip that costs more accuracy).
- **gradient-canceling** (Lu, Kamath, Yu, *Indiscriminate data poisoning attacks on neural
  networks*, TMLR 2023 / ICML 2023; Pawelczyk et al. Alg. 4): pick low-accuracy target parameters
  ``theta_p`` near a clean model (here: gradient ascent on the clean training loss until training
  accuracy falls to ``target_accuracy``), then optimise poison inputs ``D_p`` (started at clean
  seeds, labels copied, kept in the data's range) so that ``theta_p`` is a stationary point of the
  poisoned training loss: ``min ||grad L(D_c; theta_p) + eps_d grad L(D_p; theta_p)||^2`` with
  ``eps_d = |D_p| / |D_c|``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from muaudit.data import Dataset, split_forget
from muaudit.poisoning._grads import flat, input_box, param_grads, signed_adam, surrogate
from muaudit.poisoning.base import (PoisonAttack, PoisonConfig, PoisonContext, PoisonError, PoisonSet, Scores,
                                    choose_positions, poisoned_dataset, register_poison)
from muaudit.training import predict_logits

FLIP = "Biggio, Nelson, Laskov 2012, Poisoning attacks against SVMs (ICML); baseline in Lu et al. 2023"
GC = ("Lu, Kamath, Yu 2023, Exploring the limits of model-targeted indiscriminate data poisoning attacks "
      "(ICML, arXiv:2303.03592); Pawelczyk et al. 2025 (ICLR) Alg. 4")
MODES = ("random", "shift")


def error_items(model: nn.Module, dataset: Dataset) -> Scores:
    """Item = clean test input, value 1 when misclassified; metric = clean test error."""
    wrong = (predict_logits(model, dataset.X[dataset.test_idx])[:, 0].argmax(-1) != dataset.y[dataset.test_idx])
    wrong = wrong.astype(np.float64)
    return Scores(wrong, {"test_accuracy": float(1 - wrong.mean()), "n_test": int(wrong.size)})


# -- label flipping -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelFlipConfig(PoisonConfig):
    """Label flipping.

    Attributes:
        fraction: share of the training split whose labels change.
        mode: ``"random"`` (uniform over the other classes) or ``"shift"`` (``y -> (y + 1) mod C``).
    """

    fraction: float = 0.1
    mode: str = "random"

    _open_unit = ("fraction",)

    def __post_init__(self):
        super().__post_init__()
        if self.mode not in MODES:
            raise PoisonError(f"Expected `mode` in {MODES}, got {self.mode!r}")


@register_poison
class LabelFlip(PoisonAttack):
    """Flipped labels; metric = clean test error."""

    name = "label-flip"
    family = "indiscriminate"
    metric = "clean test error"
    source = FLIP
    Config = LabelFlipConfig
    dataset_defaults = {"digits": {"fraction": 0.2, "mode": "shift"}}  # error 0.126 vs 0.028 retrained

    def poison(self, dataset: Dataset, config: LabelFlipConfig, random_state: int, context: PoisonContext) -> PoisonSet:
        rng = np.random.default_rng([int(random_state), 6, 5])
        n, C = len(dataset.train_idx), dataset.n_classes
        forget = choose_positions(rng, np.arange(n), config.fraction, n)
        y_old = dataset.y[dataset.train_idx[forget]]
        step = rng.integers(1, C, len(forget)) if config.mode == "random" else np.ones(len(forget), np.int64)
        y_new = (y_old + step) % C
        poisoned = poisoned_dataset(dataset, forget, y_new=y_new, tag="label-flip")
        return PoisonSet(self.name, config.to_dict(), int(random_state), poisoned, dataset, forget,
                         {"y_clean": y_old, "y_poison": y_new})

    def score(self, model: nn.Module, poison: PoisonSet) -> Scores:
        return error_items(model, poison.clean)


# -- gradient canceling ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GradientCancelingConfig(PoisonConfig):
    """Gradient canceling. Lu et al.: poison budget ``eps_d`` = 3 %, target parameters from a
    parameter corruption of the clean model.

    Attributes:
        fraction: share of the training split replaced by poisons (``eps_d`` ~ fraction).
        target_accuracy: gradient ascent on the clean training loss stops at this training accuracy.
        ascent_lr, ascent_steps: Adam step size and step cap of that ascent.
        steps, lr: signed-Adam steps on the poison inputs and their step size (input units).
        clip: keep the poisons in the training inputs' range (False: unbounded inputs, a stronger
            but easily sanitised attack).
    """

    fraction: float = 0.03
    target_accuracy: float = 0.7
    ascent_lr: float = 1e-3
    ascent_steps: int = 500
    steps: int = 300
    lr: float = 0.01
    clip: bool = True

    _open_unit = ("fraction", "target_accuracy")
    _positive = ("ascent_lr", "lr")
    _counts = ("ascent_steps", "steps")


def corrupt(model: nn.Module, X: torch.Tensor, y: torch.Tensor, config: GradientCancelingConfig) -> tuple[nn.Module, float]:
    """Target parameters: Adam ascent on the full-batch training loss until accuracy <= target."""
    theta = copy.deepcopy(model).eval()
    opt = torch.optim.Adam(theta.parameters(), lr=config.ascent_lr)
    acc = 1.0
    for _ in range(config.ascent_steps):
        logits = theta(X)
        acc = float((logits.argmax(1) == y).float().mean())
        if acc <= config.target_accuracy:
            break
        opt.zero_grad(set_to_none=True)
        (-F.cross_entropy(logits, y)).backward()
        opt.step()
    return theta, acc


def cancel(theta: nn.Module, X_clean: torch.Tensor, y_clean: torch.Tensor, X_seed: torch.Tensor, y_seed: torch.Tensor,
           config: GradientCancelingConfig, box: tuple[float, float]) -> tuple[torch.Tensor, float]:
    """Poison inputs making ``theta`` stationary on clean + poisons; returns them and the final
    ``||g_c + eps_d g_p||^2 / ||g_c||^2`` (1 = nothing cancelled, 0 = stationary)."""
    g_clean = flat(param_grads(theta, X_clean, y_clean)).detach()
    eps_d = len(y_seed) / len(y_clean)
    scale = g_clean.pow(2).sum().clamp_min(1e-30)

    def residual(x: torch.Tensor) -> torch.Tensor:
        g = flat(param_grads(theta, x, y_seed, create_graph=True))
        return (g_clean + eps_d * g).pow(2).sum() / scale

    return signed_adam(X_seed, residual, steps=config.steps, lr=config.lr, project=lambda x: x.clamp(*box))


@register_poison
class GradientCanceling(PoisonAttack):
    """Gradient-canceling poisons towards low-accuracy target parameters; metric = clean test error."""

    name = "gradient-canceling"
    family = "indiscriminate"
    metric = "clean test error"
    source = GC
    Config = GradientCancelingConfig

    def poison(self, dataset: Dataset, config: GradientCancelingConfig, random_state: int, context: PoisonContext) -> PoisonSet:
        model = surrogate(context, dataset, random_state)
        rng = np.random.default_rng([int(random_state), 6, 6])
        n = len(dataset.train_idx)
        forget = choose_positions(rng, np.arange(n), config.fraction, n)
        keep = dataset.train_idx[split_forget(np.arange(n), forget)[1]]
        seeds = dataset.train_idx[forget]
        Xc, yc = torch.as_tensor(dataset.X[keep]), torch.as_tensor(dataset.y[keep])
        theta, acc = corrupt(model, Xc, yc, config)
        x_p, res = cancel(theta, Xc, yc, torch.as_tensor(dataset.X[seeds]), torch.as_tensor(dataset.y[seeds]),
                          config, input_box(dataset) if config.clip else (-np.inf, np.inf))
        poisoned = poisoned_dataset(dataset, forget, x_p.numpy(), tag="gradient-canceling")
        arrays = {"x_poison": x_p.numpy(), "target_train_accuracy": np.float64(acc), "residual": np.float64(res)}
        return PoisonSet(self.name, config.to_dict(), int(random_state), poisoned, dataset, forget, arrays)

    def score(self, model: nn.Module, poison: PoisonSet) -> Scores:
        s = error_items(model, poison.clean)
        s.readout.update(target_train_accuracy=float(poison.arrays["target_train_accuracy"]),
                         gradient_residual=float(poison.arrays["residual"]))
        return s
