"""Device selection: CUDA when present, else CPU; nothing hard-codes a device."""

from __future__ import annotations

import torch

from muaudit.errors import ConfigError


def select_device(device: str | torch.device | None = None) -> torch.device:
    """Return ``device`` if given and present on this machine, else ``cuda`` when available, else
    ``cpu``. A device that does not exist here is a :class:`ConfigError`, before any work."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"unknown torch device {device!r}; use cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.backends.cuda.is_built():
            raise ConfigError(f"device {device!r}: CUDA is not available in this torch build ({torch.__version__})")
        n = torch.cuda.device_count()
        if n == 0 or (dev.index is not None and dev.index >= n):
            raise ConfigError(f"device {device!r}: this machine has {n} visible CUDA device(s)")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError(f"device {device!r}: MPS is not available on this machine")
    elif dev.type != "cpu":
        raise ConfigError(f"unsupported torch device {device!r}; use cpu, cuda, cuda:N or mps")
    return dev


def is_conv(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.Conv2d) for m in model.modules())
