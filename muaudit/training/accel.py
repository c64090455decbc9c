"""A recipe's device options: mixed precision, ``channels_last`` and ``torch.compile``.

What a recipe asks for is in its ``[train]`` table (so in the pool's stored spec and digest);
what a run actually did depends on the device and is :func:`effective`:

- ``precision = "bf16"`` / ``"fp16"``: the forward pass and loss run under
  ``torch.autocast("cuda", dtype)``; parameters, gradients and optimiser state stay fp32. fp16
  uses dynamic loss scaling (:class:`LossScaler`: a step whose gradients overflow is skipped and
  the scale halved). On a CPU or MPS device the model trains in fp32: :func:`effective` says so and
  :func:`notes` gives the warning the build prints.
- ``channels_last``: ``"auto"`` uses it for conv nets on CPU (measured faster there, docs/scale.md);
  ``true`` / ``false`` force it on any device (on CUDA, conv nets under autocast usually gain).
- ``compile``: the training forward pass goes through ``torch.compile`` (``true``: its default
  backend, inductor, which on CPU needs a C compiler; or a backend name), compiled once per process
  and architecture (:func:`trainable`); the trained state is copied back into the plain module,
  which is what is stored and predicted.

Example:
    >>> from muaudit.training.recipe import TrainRecipe
    >>> effective(TrainRecipe(precision="bf16"), "cpu", conv=True)
    {'precision': 'fp32', 'channels_last': True, 'compile': False}
"""

from __future__ import annotations

import contextlib
import copy

import torch
from torch import nn

from muaudit.training.recipe import TrainRecipe

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def effective(recipe: TrainRecipe, device, *, conv: bool) -> dict:
    """The settings a model of ``recipe`` trains with on ``device`` (``conv``: it has conv layers)."""
    dev = torch.device(device)
    precision = recipe.precision if dev.type == "cuda" else "fp32"
    if recipe.channels_last == "auto":
        channels_last = conv and dev.type == "cpu"
    else:
        channels_last = bool(recipe.channels_last) and conv
    return {"precision": precision, "channels_last": channels_last, "compile": recipe.compile}


def notes(recipe: TrainRecipe, device) -> list[str]:
    """Warnings for options this device ignores (mixed precision off CUDA)."""
    dev = torch.device(device)
    if recipe.precision != "fp32" and dev.type != "cuda":
        return [f"precision {recipe.precision!r} applies on CUDA only: the models train in fp32 on {dev.type}"]
    return []


def autocast(settings: dict, device):
    """The autocast context of ``settings`` (from :func:`effective`); a no-op for fp32."""
    if settings["precision"] == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=DTYPES[settings["precision"]])


_COMPILED: dict = {}  # (architecture, shapes, device, backend) -> (template module, its compiled forward)
_MAX_COMPILED = 4


def trainable(model: nn.Module, settings: dict) -> tuple[nn.Module, object]:
    """The module to train in ``model``'s place and its forward callable.

    Without ``compile``: ``(model, model)``. With it: a per-process template of the same
    architecture, compiled once, holding ``model``'s state (copied in): every shadow of a pool reuses
    one compiled graph instead of recompiling for each new module. Copy the template's state back
    into ``model`` when training is done (:func:`muaudit.training.sequential.train_sequential` does).
    """
    backend = settings["compile"]
    if backend is False:
        return model, model
    state = model.state_dict()
    key = (type(model).__qualname__, repr(model), backend,
           tuple((k, tuple(v.shape), v.dtype, str(v.device)) for k, v in state.items()))
    if key not in _COMPILED:
        while len(_COMPILED) >= _MAX_COMPILED:
            _COMPILED.pop(next(iter(_COMPILED)))
        template = copy.deepcopy(model)
        fn = torch.compile(template) if backend is True else torch.compile(template, backend=backend)
        _COMPILED[key] = (template, fn)
    template, fn = _COMPILED[key]
    template.load_state_dict(state)
    return template, fn


class LossScaler:
    """Dynamic loss scaling for fp16 (off for other precisions: :meth:`scale` returns the loss).

    ``scale(loss)`` before ``backward``; ``unscale(params)`` after it returns whether the step may
    be taken (all gradients finite), dividing them by the scale; an overflow halves the scale,
    ``growth_interval`` clean steps in a row double it.

    Example:
        >>> s = LossScaler(True, init_scale=4.0)
        >>> p = torch.zeros(2, requires_grad=True); p.grad = torch.tensor([8.0, float("inf")])
        >>> s.unscale([p]), s.value
        (False, 2.0)
    """

    def __init__(self, enabled: bool, *, init_scale: float = 2.0**16, growth_interval: int = 2000):
        self.enabled, self.value, self.growth_interval, self._clean = enabled, float(init_scale), growth_interval, 0

    def scale(self, loss: torch.Tensor) -> torch.Tensor:
        return loss * self.value if self.enabled else loss

    def unscale(self, params: list[torch.Tensor]) -> bool:
        if not self.enabled:
            return True
        grads = [p.grad for p in params if p.grad is not None]
        finite = bool(torch.stack([torch.isfinite(g).all() for g in grads]).all()) if grads else True
        if not finite:
            self.value, self._clean = self.value / 2.0, 0
            return False
        inv = 1.0 / self.value
        for g in grads:
            g.mul_(inv)
        self._clean += 1
        if self._clean >= self.growth_interval:
            self.value, self._clean = self.value * 2.0, 0
        return True


def recorded(recipe: TrainRecipe, model: nn.Module, device, engine: str = "sequential") -> dict:
    """What a pool stores about its models' training on ``device`` (attribute ``train_settings``):
    the :func:`effective` settings and the :func:`notes`. The ensemble engine trains in fp32,
    uncompiled, in the default memory layout."""
    from muaudit.training.device import is_conv

    settings, msgs = effective(recipe, device, conv=is_conv(model)), notes(recipe, device)
    if engine == "ensemble":
        asked = [k for k, off in (("precision", "fp32"), ("compile", False)) if settings[k] != off]
        settings = {"precision": "fp32", "channels_last": False, "compile": False}
        msgs += [f"the ensemble engine ignores the recipe's {' and '.join(asked)}: its models train in fp32, "
                 "uncompiled (engine = \"sequential\" applies them)"] if asked else []
    return {**settings, "device_type": torch.device(device).type, "notes": msgs}
