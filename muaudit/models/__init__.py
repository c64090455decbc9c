"""Architectures, the model factory and safe checkpoint I/O.

The names below are imported on first use: they need torch, which an audit of precomputed logits
never loads (:mod:`muaudit.models.options`, the recipes' checks, can be read without it)."""

from muaudit.lazy import lazy_exports

_EXPORTS = {"ARCHS": "archs", "MLP": "archs", "load_checkpoint": "checkpoint", "load_state": "checkpoint",
            "read_checkpoint": "checkpoint", "save_checkpoint": "checkpoint", "allowed_arch": "factory",
            "build_model": "factory", "resolve_arch": "factory"}

__all__ = ["ARCHS", "MLP", "allowed_arch", "build_model", "load_checkpoint", "load_state", "read_checkpoint",
           "resolve_arch", "save_checkpoint"]


__getattr__ = lazy_exports(__name__, _EXPORTS)
