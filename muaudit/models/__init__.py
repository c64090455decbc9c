"""Architectures, the model factory and safe checkpoint I/O."""

from muaudit.models.archs import ARCHS, MLP
from muaudit.models.checkpoint import (Target, load_checkpoint, load_state, load_target, read_checkpoint,
                                       save_checkpoint)
from muaudit.models.factory import allowed_arch, build_model, resolve_arch

__all__ = ["ARCHS", "MLP", "Target", "allowed_arch", "build_model", "load_checkpoint", "load_state", "load_target",
           "read_checkpoint", "resolve_arch", "save_checkpoint"]
