"""Architectures, the model factory and safe checkpoint I/O."""

from muaudit.models.archs import ARCHS, MLP
from muaudit.models.checkpoint import load_checkpoint, load_state, read_checkpoint, save_checkpoint
from muaudit.models.factory import allowed_arch, build_model, resolve_arch

__all__ = ["ARCHS", "MLP", "allowed_arch", "build_model", "load_checkpoint", "load_state", "read_checkpoint",
           "resolve_arch", "save_checkpoint"]
