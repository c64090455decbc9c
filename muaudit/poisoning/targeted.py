"""Targeted poisons: a backdoor (trigger patch + target label) and gradient matching (Witches' Brew).

Both score per test item (success = 1, failure = 0), so the attack metric is a success rate:

- **backdoor** (Gu et al. 2017, BadNets; the poisoning study's text analogue follows Wan et al.
  2023): training examples not of the target class get a trigger patch and the target label.
  Success rate = triggered test inputs *not of the target class* classified as the target.
- **gradient-matching** (Geiping et al., *Witches' Brew*, ICLR 2021): for each target test input
  ``x_t`` and adversarial label ``y_adv``, bounded perturbations ``||delta||_inf <= eps`` of training
  examples *of class* ``y_adv`` (labels kept) are crafted on a surrogate so that their training
  gradient aligns with the target's adversarial gradient:
  ``min 1 - cos(grad_theta l(x_t, y_adv), sum_i grad_theta l(x_i + delta_i, y_i))``.
  Success = the target classified as ``y_adv``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from muaudit.data import Dataset
from muaudit.poisoning._grads import flat, input_box, param_grads, signed_adam, surrogate
from muaudit.poisoning.base import (PoisonAttack, PoisonConfig, PoisonContext, PoisonError, PoisonSet, Scores,
                                    choose_positions, poisoned_dataset, register_poison)
from muaudit.training import predict_logits

BADNETS = "Gu, Dolan-Gavitt, Garg 2017, BadNets (arXiv:1708.06733); Pawelczyk et al. 2025 (ICLR) Sec. 4"
BREW = "Geiping et al. 2021, Witches' Brew (ICLR, arXiv:2009.02276); Pawelczyk et al. 2025 (ICLR) Alg. 3"


def _predict(model: nn.Module, X: np.ndarray) -> np.ndarray:
    return predict_logits(model, X)[:, 0].argmax(-1)


# -- backdoor -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackdoorConfig(PoisonConfig):
    """BadNets backdoor.

    Attributes:
        fraction: share of the training split that gets the trigger and the target label.
        target: the target label.
        patch: side of the square trigger at the bottom-right corner (images), or the number of
            last features set (flat inputs).
        value: the trigger's input value (None: the training inputs' maximum, white for pixels).
    """

    fraction: float = 0.05
    target: int = 0
    patch: int = 2
    value: float | None = None

    _open_unit = ("fraction",)
    _counts = ("patch",)


def apply_trigger(X: np.ndarray, patch: int, value: float) -> np.ndarray:
    """A copy of ``X [n, ...]`` with the trigger: the bottom-right ``patch x patch`` square of every
    channel of ``[n, C, H, W]`` images, else the last ``patch`` features of the flattened input."""
    out = np.array(X, np.float32, copy=True)
    if out.ndim == 4:
        out[:, :, -patch:, -patch:] = value
    else:
        flat_view = out.reshape(len(out), -1)
        flat_view[:, -patch:] = value
        out = flat_view.reshape(out.shape)
    return out


@register_poison
class Backdoor(PoisonAttack):
    """Trigger patch + target label; item = triggered non-target test input classified as the target."""

    name = "backdoor"
    family = "targeted"
    metric = "attack success rate on triggered test inputs"
    source = BADNETS
    Config = BackdoorConfig
    dataset_defaults = {"digits": {"fraction": 0.02}}  # 0.92 success (1 %: 0.80), docs/poisoning.md

    def poison(self, dataset: Dataset, config: BackdoorConfig, random_state: int, context: PoisonContext) -> PoisonSet:
        if not 0 <= config.target < dataset.n_classes:
            raise PoisonError(f"Expected `target` in [0, {dataset.n_classes - 1}], got {config.target}")
        if config.patch > min(dataset.input_shape[-1], int(np.prod(dataset.input_shape))):
            raise PoisonError(f"Expected `patch` <= {dataset.input_shape[-1]} for inputs {list(dataset.input_shape)}, got {config.patch}")
        value = float(dataset.X[dataset.train_idx].max()) if config.value is None else config.value
        rng = np.random.default_rng([int(random_state), 6, 3])
        y_train = dataset.y[dataset.train_idx]
        n = len(y_train)
        forget = choose_positions(rng, np.flatnonzero(y_train != config.target), config.fraction, n)
        X_new = apply_trigger(dataset.X[dataset.train_idx[forget]], config.patch, value)
        poisoned = poisoned_dataset(dataset, forget, X_new, np.full(len(forget), config.target), tag="backdoor")
        test = dataset.test_idx[dataset.y[dataset.test_idx] != config.target]
        arrays = {"y_clean": y_train[forget], "test_rows": test, "value": np.float64(value)}
        return PoisonSet(self.name, config.to_dict(), int(random_state), poisoned, dataset, forget, arrays)

    def score(self, model: nn.Module, poison: PoisonSet) -> Scores:
        c, a = poison.config, poison.arrays
        X = apply_trigger(poison.clean.X[a["test_rows"]], c["patch"], float(a["value"]))
        hit = (_predict(model, X) == c["target"]).astype(np.float64)
        return Scores(hit, {"success_rate": float(hit.mean()), "n_triggered_test": int(hit.size)})


# -- gradient matching ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GradientMatchingConfig(PoisonConfig):
    """Witches' Brew. Geiping et al. (CIFAR-10, ResNet-18): 1 % budget, ``eps = 16/255``, 250 signed-
    Adam steps of size 0.1, 8 restarts; muaudit crafts ``n_targets`` targets at once (distinct
    adversarial classes, disjoint poisons) so one training run gives several success trials.

    Attributes:
        fraction: poisons per target, as a share of the training split.
        eps: L-infinity bound of the perturbations (input units; inputs stay in the data's range).
        n_targets: targets per seed (test inputs the surrogate classifies correctly).
        steps, restarts: signed-Adam steps per restart; the restart with the lowest loss is kept.
        lr: Adam step size as a fraction of ``eps``.
    """

    fraction: float = 0.01
    eps: float = 16 / 255
    n_targets: int = 4
    steps: int = 250
    restarts: int = 8
    lr: float = 0.1

    _open_unit = ("fraction",)
    _positive = ("eps", "lr")
    _counts = ("n_targets", "steps", "restarts")


def brew(model: nn.Module, x_target: torch.Tensor, y_adv: int, X_base: torch.Tensor, y_base: torch.Tensor,
         config: GradientMatchingConfig, box: tuple[float, float], random_state: torch.Generator) -> tuple[torch.Tensor, float]:
    """Perturbations ``delta [k, ...]`` of ``X_base`` aligning their summed gradient with the target's
    adversarial gradient on ``model``; returns the best restart's deltas and its alignment loss."""
    target_grad = flat(param_grads(model, x_target[None], torch.tensor([y_adv]))).detach()

    def alignment(delta: torch.Tensor) -> torch.Tensor:
        g = flat(param_grads(model, X_base + delta, y_base, create_graph=True, reduction="sum"))
        return 1 - F.cosine_similarity(g, target_grad, dim=0)

    def project(delta: torch.Tensor) -> torch.Tensor:
        delta = delta.clamp(-config.eps, config.eps)
        return (X_base + delta).clamp(*box) - X_base

    best, best_loss = torch.zeros_like(X_base), float("inf")
    for _ in range(config.restarts):
        start = (torch.rand(X_base.shape, generator=random_state) * 2 - 1) * config.eps
        delta, loss = signed_adam(project(start), alignment, steps=config.steps, lr=config.lr * config.eps,
                                  project=project)
        if loss < best_loss:
            best, best_loss = delta, loss
    return best, best_loss


@register_poison
class GradientMatching(PoisonAttack):
    """Witches' Brew poisons; item = a target classified as its adversarial label."""

    name = "gradient-matching"
    family = "targeted"
    metric = "targets classified as the adversarial label"
    source = BREW
    Config = GradientMatchingConfig
    eps_field = "eps"
    # 16/255 is one grey level of the 17-level digits: no success there (docs/poisoning.md).
    dataset_defaults = {"digits": {"eps": 0.5, "fraction": 0.03, "n_targets": 8, "steps": 100, "restarts": 2}}

    def _targets(self, model, dataset, config, rng) -> tuple[np.ndarray, np.ndarray]:
        test = dataset.test_idx[_predict(model, dataset.X[dataset.test_idx]) == dataset.y[dataset.test_idx]]
        adv = rng.permutation(dataset.n_classes)[:config.n_targets]
        rows = [rng.choice(test[dataset.y[test] != a]) for a in adv]
        return np.asarray(rows, np.int64), adv.astype(np.int64)

    def poison(self, dataset: Dataset, config: GradientMatchingConfig, random_state: int, context: PoisonContext) -> PoisonSet:
        if config.n_targets > dataset.n_classes:
            raise PoisonError(f"Expected `n_targets` <= {dataset.n_classes} (one adversarial class each), got {config.n_targets}")
        model = surrogate(context, dataset, random_state)
        rng = np.random.default_rng([int(random_state), 6, 4])
        gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
        targets, adv = self._targets(model, dataset, config, rng)
        y_train, n, box = dataset.y[dataset.train_idx], len(dataset.train_idx), input_box(dataset)
        forget, deltas, losses = [], [], []
        for row, a in zip(targets, adv):
            base = choose_positions(rng, np.flatnonzero(y_train == a), config.fraction, n, what=f"class {a} bases")
            rows = dataset.train_idx[base]
            delta, loss = brew(model, torch.as_tensor(dataset.X[row]), int(a), torch.as_tensor(dataset.X[rows]),
                               torch.as_tensor(dataset.y[rows]), config, box, gen)
            forget.append(base), deltas.append(delta.numpy()), losses.append(loss)
        order = np.argsort(np.concatenate(forget))
        forget_all = np.concatenate(forget)[order]
        X_new = (dataset.X[dataset.train_idx[forget_all]] + np.concatenate(deltas)[order]).astype(np.float32)
        poisoned = poisoned_dataset(dataset, forget_all, X_new, tag="gradient-matching")
        arrays = {"target_rows": targets, "adversarial_labels": adv, "delta": np.concatenate(deltas)[order],
                  "alignment_loss": np.asarray(losses)}
        return PoisonSet(self.name, config.to_dict(), int(random_state), poisoned, dataset, forget_all, arrays)

    def score(self, model: nn.Module, poison: PoisonSet) -> Scores:
        a = poison.arrays
        hit = (_predict(model, poison.clean.X[a["target_rows"]]) == a["adversarial_labels"]).astype(np.float64)
        return Scores(hit, {"success_rate": float(hit.mean()), "n_targets": int(hit.size),
                            "alignment_loss": [float(v) for v in a["alignment_loss"]]})
