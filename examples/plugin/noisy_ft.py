"""A third-party unlearning method for muaudit: "noisy-ft", weight noise then fine-tuning on retain.

A plug-in is a class with the :class:`~muaudit.unlearning.UnlearningMethod` interface (``name``,
``Config``, ``unlearn``) that an installed package names in the entry-point group
``muaudit.methods`` (see ``pyproject.toml`` beside this file). muaudit then finds it by name:
``muaudit unlearn --method noisy-ft``, ``muaudit methods``, ``[[unlearn]] method = "noisy-ft"``
in a pool recipe, ``muaudit.unlearning.get_method("noisy-ft")``.
"""

from dataclasses import dataclass

import torch

from muaudit.unlearning import MethodConfig, UnlearningMethod
from muaudit.unlearning.loops import cosine_lr, finetune, sgd


@dataclass(frozen=True)
class NoisyFTConfig(MethodConfig):
    """Hyperparameters, checked like every built-in method's (``lr`` > 0, ``epochs`` >= 0, ...)."""

    noise: float = 0.01
    lr: float = 0.05
    momentum: float = 0.9
    epochs: int = 3
    batch_size: int = 128

    _nonnegative = ("noise",)


class NoisyFT(UnlearningMethod):
    """Add Gaussian noise (std ``noise``) to every weight, then fine-tune on retain (SGD, cosine)."""

    name = "noisy-ft"
    description = "weight noise, then fine-tune on retain (an example plug-in)"
    source = "examples/plugin/noisy_ft.py"
    touches = ("retain",)
    Config = NoisyFTConfig

    def unlearn(self, model, forget, retain, config, random_state):
        # ``model`` is already a private copy on the data's device: change it in place and return it
        with torch.no_grad():
            for p in model.parameters():
                p.add_(config.noise * torch.randn(p.shape, generator=random_state).to(p.device))
        opt = sgd(model.parameters(), lr=config.lr, momentum=config.momentum)
        finetune(model, retain, epochs=config.epochs, batch_size=config.batch_size, optimizer=opt,
                 random_state=random_state, lr_at=cosine_lr(config.lr, config.epochs))
        return model
