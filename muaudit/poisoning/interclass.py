"""Interclass confusion (Goel et al., *Towards Adversarial Evaluation of Inexact Machine
Unlearning*, arXiv:2201.06640, 2022): swap the labels of part of two classes A and B, train, and
unlearn the swapped examples.

Items are the clean test inputs of classes A and B; an item's value is 1 when the model predicts
the *other* class of the pair (A as B, or B as A). The metric is that confusion rate: a model that
forgot the swapped examples is as (un)confused as one retrained without them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from muaudit.data import Dataset
from muaudit.poisoning.base import (PoisonAttack, PoisonConfig, PoisonContext, PoisonError, PoisonSet, Scores,
                                    choose_positions, poisoned_dataset, register_poison)
from muaudit.training import predict_logits

IC = "Goel, Prabhu, Sanyal, Lim, Torr, Kumaraguru 2022, Towards adversarial evaluation of inexact machine unlearning (arXiv:2201.06640)"


@dataclass(frozen=True)
class InterclassConfig(PoisonConfig):
    """Interclass confusion. Goel et al. (CIFAR-10) confuse 500 images of each of two classes.

    Attributes:
        fraction: share of the training split relabelled, half from each class.
        class_a, class_b: the pair (CIFAR-10's cat and dog are 3 and 5; on digits 3 and 5 too).
    """

    fraction: float = 0.05
    class_a: int = 3
    class_b: int = 5

    _open_unit = ("fraction",)

    def __post_init__(self):
        super().__post_init__()
        if self.class_a == self.class_b:
            raise PoisonError(f"Expected two different classes, got class_a = class_b = {self.class_a}")


@register_poison
class InterclassConfusion(PoisonAttack):
    """Swapped labels within a class pair; metric = A/B test inputs predicted as the other class."""

    name = "interclass"
    family = "interclass"
    metric = "confusion between the two classes on test data"
    source = IC
    Config = InterclassConfig

    def poison(self, dataset: Dataset, config: InterclassConfig, random_state: int, context: PoisonContext) -> PoisonSet:
        a, b = config.class_a, config.class_b
        for c in (a, b):
            if not 0 <= c < dataset.n_classes:
                raise PoisonError(f"Expected classes in [0, {dataset.n_classes - 1}], got {c}")
        rng = np.random.default_rng([int(random_state), 6, 7])
        y = dataset.y[dataset.train_idx]
        n, half = len(y), config.fraction / 2
        picks = [choose_positions(rng, np.flatnonzero(y == c), half, n, what=f"class {c}") for c in (a, b)]
        forget = np.sort(np.concatenate(picks))
        y_new = np.where(y[forget] == a, b, a)
        poisoned = poisoned_dataset(dataset, forget, y_new=y_new, tag="interclass")
        return PoisonSet(self.name, config.to_dict(), int(random_state), poisoned, dataset, forget,
                         {"y_clean": y[forget], "classes": np.array([a, b])})

    def utility_items(self, poison: PoisonSet) -> np.ndarray:
        """Accuracy outside the pair (inside it, errors are the attack's confusion)."""
        d = poison.clean
        return ~np.isin(d.y[d.test_idx], poison.arrays["classes"])

    def score(self, model: nn.Module, poison: PoisonSet) -> Scores:
        a, b = (int(c) for c in poison.arrays["classes"])
        d = poison.clean
        rows = d.test_idx[np.isin(d.y[d.test_idx], (a, b))]
        pred = predict_logits(model, d.X[rows])[:, 0].argmax(-1)
        other = np.where(d.y[rows] == a, b, a)
        hit = (pred == other).astype(np.float64)
        return Scores(hit, {"confusion": float(hit.mean()), "n_test_pair": int(hit.size),
                            "a_as_b": float(hit[d.y[rows] == a].mean()), "b_as_a": float(hit[d.y[rows] == b].mean())})
