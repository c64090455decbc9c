"""Device selection: CUDA when present, else CPU; nothing hard-codes a device."""

from __future__ import annotations

import torch

from muaudit.errors import ConfigError


def select_device(device: str | torch.device | None = None) -> torch.device:
    """Return ``device`` if given, else ``cuda`` when available, else ``cpu``.

    A device string torch does not know, or a CUDA device on a machine without one (or with
    fewer), is a :class:`ConfigError`, raised before any work starts.
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"Expected --device like cpu, cuda or cuda:1, got {device!r}") from None
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0 or (dev.index is not None and dev.index >= n):
            raise ConfigError(f"--device {device}: this machine has {n} CUDA device(s); use --device cpu")
    elif dev.type not in ("cpu", "mps", "xpu"):
        raise ConfigError(f"Expected --device cpu or cuda[:N], got {device!r}")
    elif dev.type != "cpu" and not getattr(torch, dev.type).is_available():
        raise ConfigError(f"--device {device}: no {dev.type} device on this machine; use --device cpu")
    return dev


def is_conv(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.Conv2d) for m in model.modules())
