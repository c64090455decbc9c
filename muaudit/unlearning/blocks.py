"""The layer-block mapping that lets ResNet-written methods run on ``mlp`` and ``cnn`` too.

**Blocks** are the ordered, parametrised top-level stages of a model:

- the model's top-level children that own parameters, in registration order;
- a normalisation layer (BatchNorm / LayerNorm / GroupNorm) is merged into the block before it;
- a model whose only parametrised child is a container is mapped through that container.

| arch | blocks | stem (first) | head (last) |
|---|---|---|---|
| ``mlp`` (``hidden=[h1, h2]``) | Linear, Linear, Linear | first Linear | last Linear |
| ``cnn`` (``channels=[c1, c2]``) | Conv, Conv, Linear(hidden), Linear | first Conv | last Linear |
| ``resnet18`` | conv1+bn1, layer1, layer2, layer3, layer4, fc | conv1+bn1 | fc |

Methods then say: *stem* (KDE resets it, CFW perturbs it), *head* (KDE, RNI reset it),
*last k blocks* = the last ``k`` blocks before the head plus the head (CF-k, EU-k; ``layer4`` + ``fc``
on ResNet-18 for k = 1), *feature layers* = every ``Conv2d``, or every ``Linear`` but the head when
the model has no convolution (MSG re-initialises within them).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

NORMS = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm)


@dataclass(frozen=True)
class Block:
    """One stage: its name(s) and modules."""

    name: str
    modules: tuple[nn.Module, ...]

    def parameters(self) -> list[nn.Parameter]:
        return [p for m in self.modules for p in m.parameters()]


def _owns_params(m: nn.Module) -> bool:
    return next(m.parameters(), None) is not None


def model_blocks(model: nn.Module) -> list[Block]:
    """The ordered blocks of ``model`` (see the module docstring for the mapping)."""
    children = [(n, c) for n, c in model.named_children() if _owns_params(c)]
    if len(children) == 1 and any(_owns_params(c) for c in children[0][1].children()):
        return model_blocks(children[0][1])
    if not children:
        return [Block("model", (model,))] if _owns_params(model) else []
    blocks: list[Block] = []
    for name, child in children:
        if blocks and isinstance(child, NORMS):
            prev = blocks.pop()
            blocks.append(Block(f"{prev.name}+{name}", prev.modules + (child,)))
        else:
            blocks.append(Block(name, (child,)))
    return blocks


def stem(model: nn.Module) -> Block:
    return model_blocks(model)[0]


def head(model: nn.Module) -> Block:
    return model_blocks(model)[-1]


def last_blocks(model: nn.Module, k: int) -> list[Block]:
    """The last ``k`` blocks before the head, plus the head (``k`` is clamped to what exists)."""
    blocks = model_blocks(model)
    trunk = blocks[:-1]
    return trunk[max(0, len(trunk) - k):] + blocks[-1:]


def feature_layers(model: nn.Module) -> list[nn.Module]:
    """Every ``Conv2d``; for a model without convolutions, every ``Linear`` outside the head."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if convs:
        return convs
    in_head = {id(m) for mod in head(model).modules for m in mod.modules()}
    return [m for m in model.modules() if isinstance(m, nn.Linear) and id(m) not in in_head]


def weighted_layers(module: nn.Module) -> list[nn.Module]:
    """Conv2d and Linear modules inside ``module`` (including itself)."""
    return [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


# -- seeded re-initialisation ------------------------------------------------------------------


def draw_seed(random_state: torch.Generator) -> int:
    return int(torch.randint(0, 2**62, (1,), generator=random_state))


@contextmanager
def seeded(random_state: torch.Generator):
    """Run a block with the global RNG seeded from ``random_state`` (for ``reset_parameters``)."""
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(draw_seed(random_state))
        yield


def reset_modules(modules, random_state: torch.Generator, *, norms: bool = True) -> None:
    """Call ``reset_parameters()`` on every submodule of ``modules`` that has it (seeded).

    With ``norms=False`` normalisation layers keep their parameters and running statistics.
    """
    with seeded(random_state), torch.no_grad():
        for module in modules:
            for m in module.modules():
                if not norms and isinstance(m, NORMS):
                    continue
                if hasattr(m, "reset_parameters") and _owns_params(m):
                    m.reset_parameters()


def fresh_init(model: nn.Module, random_state: torch.Generator) -> nn.Module:
    """Re-initialise every layer of ``model`` in place, as its constructor would (seeded).

    muaudit's ResNet-18 draws conv weights from ``kaiming_normal_(fan_out)`` like torchvision.
    """
    from muaudit.models.archs import ResNet18

    reset_modules([model], random_state)
    if isinstance(model, ResNet18):
        with seeded(random_state), torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return model


def randn_like(t: torch.Tensor, random_state: torch.Generator) -> torch.Tensor:
    """Standard normal noise shaped like ``t``, drawn on the CPU from ``random_state``."""
    return torch.randn(t.shape, generator=random_state, dtype=torch.float32).to(t.device, t.dtype)


def rand_like(t: torch.Tensor, random_state: torch.Generator) -> torch.Tensor:
    return torch.rand(t.shape, generator=random_state, dtype=torch.float32).to(t.device, t.dtype)


def fan_in(weight: torch.Tensor) -> int:
    return int(math.prod(weight.shape[1:]))
