"""The input adapter: how the dataset's canonical ``X`` becomes what a target model expects.

A third-party model may take images channels-first (``nchw``, muaudit's canonical layout),
channels-last (``nhwc``) or flattened (``flat``), and may expect inputs normalised as
``(x - mean) / std`` per channel on top of the dataset's own scaling. :class:`InputAdapter`
records both; ``layout="auto"`` is resolved by probing the model (see
:func:`muaudit.targets.runner.resolve_adapter`). The normalisation runs on the canonical
layout (channel axis 1; for data that is not image-shaped, each feature is a channel), then the
layout change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from muaudit.checks import INPUT_LAYOUTS as LAYOUTS
from muaudit.errors import ConfigError

if TYPE_CHECKING:  # torch is imported where inputs are transformed: parsing an adapter needs none
    import torch
    from torch import nn


def parse_floats(name: str, value) -> tuple[float, ...] | None:
    """``"0.5,0.25"`` (or a sequence of numbers) -> ``(0.5, 0.25)``; ``None`` stays ``None``."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(np.atleast_1d(value))
    try:
        out = tuple(float(v) for v in items)
    except (TypeError, ValueError):
        raise ConfigError(f"Expected `{name}` as numbers separated by commas, got {value!r}") from None
    if not out or not all(np.isfinite(out)):
        raise ConfigError(f"Expected `{name}` as finite numbers separated by commas, got {value!r}")
    return out


def candidate_layouts(input_shape) -> tuple[str, ...]:
    """Layouts ``auto`` tries, in order: the dataset's native one, then flat, then channels-last."""
    return ("nchw", "flat", "nhwc") if len(input_shape) == 3 else ("flat",)


@dataclass(frozen=True)
class InputAdapter:
    """Turns canonical inputs ``[N, *input_shape]`` into a target's inputs.

    Attributes:
        layout: ``"nchw"`` (canonical images), ``"nhwc"`` (channels last) or ``"flat"`` (``[N, -1]``);
            ``"auto"`` until resolved.
        mean, std: per-channel normalisation ``(x - mean) / std`` (length 1 or n_channels), or None.

    Example:
        >>> a = InputAdapter("flat", mean=(0.5,), std=(0.25,))
        >>> a.apply(np.ones((2, 1, 2, 2), np.float32)).tolist()
        [[2.0, 2.0, 2.0, 2.0], [2.0, 2.0, 2.0, 2.0]]
    """

    layout: str = "auto"
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    @classmethod
    def from_options(cls, layout: str = "auto", mean=None, std=None, *, input_shape=None) -> "InputAdapter":
        """Validate ``--input-layout`` / ``--input-mean`` / ``--input-std`` against the data's shape."""
        if layout not in LAYOUTS:
            raise ConfigError(f"Expected `input_layout` in {LAYOUTS}, got {layout!r}")
        mean, std = parse_floats("input_mean", mean), parse_floats("input_std", std)
        if (mean is None) != (std is None):
            mean, std = mean or (0.0,), std or (1.0,)
        if std is not None and min(std) <= 0:
            raise ConfigError(f"Expected every `input_std` > 0, got {','.join(f'{s:g}' for s in std)}")
        _check_float32(mean, std)
        if input_shape is not None:
            _check_fits(layout, mean, std, tuple(input_shape))
        return cls(layout, mean, std)

    @property
    def resolved(self) -> bool:
        return self.layout != "auto"

    @property
    def is_identity(self) -> bool:
        return self.layout in ("auto", "nchw") and self.mean is None

    def with_layout(self, layout: str) -> "InputAdapter":
        return InputAdapter(layout, self.mean, self.std)

    def to_dict(self) -> dict:
        return {"layout": self.layout, "mean": None if self.mean is None else list(self.mean),
                "std": None if self.std is None else list(self.std)}

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """Canonical batch -> the model's batch (torch, differentiable)."""
        import torch

        if self.mean is not None:
            shape = (1, -1) + (1,) * (x.dim() - 2)
            mean = torch.as_tensor(self.mean, dtype=x.dtype, device=x.device).reshape(shape)
            std = torch.as_tensor(self.std, dtype=x.dtype, device=x.device).reshape(shape)
            x = (x - mean) / std
        if self.layout == "nhwc":
            return x.permute(0, 2, 3, 1).contiguous()
        if self.layout == "flat":
            return x.reshape(len(x), -1)
        return x

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Canonical batch -> the model's batch (numpy float32); a normalisation that overflows
        float32 is a :class:`ConfigError` (not blamed on the model or the layout)."""
        import torch

        out = self.transform(torch.as_tensor(np.asarray(x, np.float32))).numpy()
        if self.mean is not None and not np.isfinite(out).all():
            raise ConfigError(f"--input-mean {','.join(f'{m:g}' for m in self.mean)} / --input-std "
                              f"{','.join(f'{s:g}' for s in self.std)} make the normalised inputs (x - mean) / std "
                              "overflow float32, in which models run; use a larger std")
        return out

    def module(self) -> nn.Module:
        """:meth:`transform` as a parameter-free first layer (:class:`~muaudit.targets.adapter_module.AdapterModule`)."""
        from muaudit.targets.adapter_module import AdapterModule

        return AdapterModule(self)


FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_float32(mean, std) -> None:
    """Models run in float32: ``mean``, ``std`` and ``1 / std`` must be finite (and ``std`` not
    zero) there, else the normalised inputs are inf or NaN, whatever the layout."""
    for name, values in (("input_mean", mean), ("input_std", std)):
        for v in values or ():
            if abs(v) > FLOAT32_MAX or (name == "input_std" and not 1 / FLOAT32_MAX < v):
                raise ConfigError(f"`{name}` value {v:g} is finite in float64 but not usable in float32, in "
                                  f"which models run ((x - mean) / std would be inf or NaN); Expected "
                                  f"|mean| <= {FLOAT32_MAX:.3g} and std > {1 / FLOAT32_MAX:.3g}")


def _check_fits(layout: str, mean, std, input_shape: tuple) -> None:
    image = len(input_shape) == 3
    if layout in ("nchw", "nhwc") and not image:
        raise ConfigError(f"--input-layout {layout} needs image data [C, H, W]; this dataset's inputs are "
                          f"{list(input_shape)}: use flat or auto")
    n_channels = input_shape[0] if input_shape else 1
    for name, values in (("input_mean", mean), ("input_std", std)):
        if values is not None and len(values) not in (1, n_channels):
            want = "1 value" if n_channels == 1 else f"1 or {n_channels} values"
            raise ConfigError(f"Expected `{name}` with {want} (one per channel of inputs {list(input_shape)}), "
                              f"got {len(values)}")
