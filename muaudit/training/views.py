"""Query views: the transformed copies of each example that pools and targets are evaluated on.

LiRA queries every example under several views (Carlini et al. 2022, section 5: "augmented
queries") and averages the per-view log-likelihood ratios, one Gaussian per view; more views
give a sharper per-example test. A recipe names its views in ``[pool] views``:

- ``"identity"``: the example as it is (always the first view);
- ``"flip"``: horizontal flip (images ``[N, C, H, W]`` only; choose it only where a mirrored
  example is still one of its class, e.g. not for digits);
- ``"shift:DX,DY"``: moved DX pixels right and DY pixels down, the uncovered border zero
  (``"shift:DX,DY:edge"``: filled with the edge pixels). Whole pixels are exact; a fractional
  shift interpolates bilinearly.

``views = 1`` and ``views = 2`` (older recipes) mean ``["identity"]`` and
``["identity", "flip"]``. Audit-time secret views (:mod:`muaudit.targets.views`) add Gaussian
``noise`` drawn from a ``seed``; recipe views carry no noise.

Example:
    >>> [v.name for v in resolve_views(["identity", "shift:1,0", "shift:0,-1:edge"])]
    ['identity', 'shift:1,0', 'shift:0,-1:edge']
    >>> [v.name for v in resolve_views(2)]
    ['identity', 'flip']
    >>> import torch
    >>> x = torch.arange(1.0, 5.0).reshape(1, 1, 1, 4)
    >>> apply_view(x, parse_view("shift:1,0")).tolist(), apply_view(x, parse_view("shift:1,0:edge")).tolist()
    ([[[[0.0, 1.0, 2.0, 3.0]]]], [[[[1.0, 1.0, 2.0, 3.0]]]])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from muaudit.errors import ConfigError

MAX_VIEWS = 64  # more query views than this is a typo (the pool's logits grow with every view)
PADS = ("zero", "edge")
VIEW_NAMES = ("identity", "flip", "shift:DX,DY", "shift:DX,DY:edge")

if TYPE_CHECKING:  # torch is imported where a view is applied: parsing views (a pool's recipe) needs no torch
    import torch


@dataclass(frozen=True)
class View:
    """One query view: horizontal ``flip``, then a shift by ``(dx, dy)`` pixels (right, down) with
    ``pad`` (``"zero"`` or ``"edge"``) borders, then Gaussian ``noise`` (sd, input units) drawn
    from ``seed`` (one draw for the whole population, see :func:`apply_view`)."""

    dx: float = 0.0
    dy: float = 0.0
    flip: bool = False
    pad: str = "zero"
    noise: float = 0.0
    seed: int | None = None

    @property
    def is_identity(self) -> bool:
        return not self.flip and self.dx == 0 and self.dy == 0 and self.noise == 0

    @property
    def name(self) -> str:
        parts = ["flip"] if self.flip else []
        if self.dx or self.dy:
            parts.append(f"shift:{_num(self.dx)},{_num(self.dy)}" + (":edge" if self.pad == "edge" else ""))
        if self.noise:
            parts.append(f"noise:{_num(self.noise)}")
        return "+".join(parts) or "identity"


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.4g}"


def parse_view(name) -> View:
    """A :class:`View` from its recipe name (see the module docstring); a clear error otherwise.

    Example:
        >>> parse_view("shift:-1,0:edge")
        View(dx=-1.0, dy=0.0, flip=False, pad='edge', noise=0.0, seed=None)
        >>> parse_view("rotate:5")
        Traceback (most recent call last):
        muaudit.errors.ConfigError: Expected a view in ('identity', 'flip', 'shift:DX,DY', 'shift:DX,DY:edge'), got 'rotate:5'
    """
    if isinstance(name, View):
        return name
    bad = ConfigError(f"Expected a view in {VIEW_NAMES}, got {name!r}")
    if name == "identity":
        return View()
    if name == "flip":
        return View(flip=True)
    if not isinstance(name, str) or not name.startswith("shift:"):
        raise bad
    parts = name[len("shift:"):].split(":")
    if len(parts) > 2 or (len(parts) == 2 and parts[1] not in PADS):
        raise bad
    try:
        dx, dy = (float(v) for v in parts[0].split(","))
    except ValueError:
        raise bad from None
    if not (math.isfinite(dx) and math.isfinite(dy)) or max(abs(dx), abs(dy)) > 8:
        raise ConfigError(f"Expected shifts of at most 8 pixels in view {name!r}")
    return View(dx=dx, dy=dy, pad=parts[1] if len(parts) == 2 else "zero")


def resolve_views(views) -> tuple[View, ...]:
    """The views of a recipe's ``views`` value: ``1``, ``2`` or a list of names starting with ``"identity"``.

    Example:
        >>> resolve_views(["shift:1,0"])
        Traceback (most recent call last):
        muaudit.errors.ConfigError: Expected `views` to start with "identity", got ['shift:1,0']
    """
    if isinstance(views, bool):
        raise ConfigError(f"Expected `views` 1, 2 or a list of view names, got {views!r}")
    if isinstance(views, int):
        if views not in (1, 2):
            raise ConfigError(f"Expected `views` 1, 2 or a list of view names, got {views!r}")
        return (View(),) if views == 1 else (View(), View(flip=True))
    if isinstance(views, str) or not isinstance(views, Sequence) or not 1 <= len(views) <= MAX_VIEWS:
        raise ConfigError(f"Expected `views` 1, 2 or a list of 1 to {MAX_VIEWS} view names, got {views!r}")
    out = tuple(parse_view(v) for v in views)
    if not out[0].is_identity:
        raise ConfigError(f'Expected `views` to start with "identity", got {list(views)!r}')
    if len(set(out)) < len(out):
        raise ConfigError(f"Expected distinct `views`, got {list(views)!r}")
    return out


def view_names(views) -> list[str]:
    """The names of ``views`` (as :func:`resolve_views` reads them), as results record them."""
    return [v.name for v in resolve_views(views)]


def check_views_fit(views: Sequence[View], input_shape) -> None:
    """Views other than the identity need image inputs ``[C, H, W]``."""
    if len(tuple(input_shape)) != 3 and any(not v.is_identity and (v.flip or v.dx or v.dy) for v in views):
        raise ConfigError(f"views {[v.name for v in views]} flip or shift images [N, C, H, W]; the data's inputs "
                          f"have shape {list(input_shape)}: use views = 1")


def _shift_axis(x: torch.Tensor, k: int, dim: int, pad: str) -> torch.Tensor:
    """``x`` moved ``k`` whole pixels along ``dim`` (towards higher indices for k > 0)."""
    import torch

    n = x.shape[dim]
    src = torch.arange(n, device=x.device) - k
    out = x.index_select(dim, src.clamp(0, n - 1))
    if pad == "zero":
        shape = [1] * x.dim()
        shape[dim] = n
        out = out * ((src >= 0) & (src < n)).view(shape).to(x.dtype)
    return out


def _shift(x: torch.Tensor, d: float, dim: int, pad: str) -> torch.Tensor:
    """Shift by ``d`` pixels; a fraction is the linear interpolation of the two whole shifts."""
    lo = math.floor(d)
    f = d - lo
    out = _shift_axis(x, lo, dim, pad) if lo else x
    return out if f == 0 else (1 - f) * out + f * _shift_axis(x, lo + 1, dim, pad)


def apply_view(x: torch.Tensor, view: View) -> torch.Tensor:
    """``view`` of a batch ``x`` ``[B, C, H, W]`` (the identity returns ``x`` itself).

    Noise (secret views only) is drawn for the rows given, from ``view.seed``: apply a noisy view
    to the whole population at once so that every model sees the same draw."""
    import torch

    if view.is_identity:
        return x
    if view.flip:
        x = torch.flip(x, dims=[-1])
    if view.dx:
        x = _shift(x, view.dx, x.dim() - 1, view.pad)
    if view.dy:
        x = _shift(x, view.dy, x.dim() - 2, view.pad)
    if view.noise:
        rng = np.random.default_rng(view.seed)
        x = x + torch.as_tensor(rng.normal(0.0, view.noise, tuple(x.shape)).astype(np.float32), device=x.device)
    return x


def apply_view_numpy(x: np.ndarray, view: View) -> np.ndarray:
    """:func:`apply_view` on a numpy batch (float32, C-contiguous)."""
    if view.is_identity:
        return x
    import torch

    return np.ascontiguousarray(apply_view(torch.from_numpy(np.ascontiguousarray(x, np.float32)), view).numpy())
