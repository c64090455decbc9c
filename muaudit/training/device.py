"""Device selection, clocks that wait for the device, and the ensemble's memory bound.

CUDA when present, else CPU; nothing hard-codes a device. On CPU :func:`synchronize` does
nothing and :func:`ensemble_size_for_memory` is not consulted (RAM is not the limit there).
"""

from __future__ import annotations

import time

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


def synchronize(device: torch.device | str) -> None:
    """Wait for queued kernels on a CUDA ``device`` (no-op on CPU), so a clock read after it
    includes the work: GPU calls return before the work is done."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_clock(device: torch.device | str):
    """A zero-argument clock for timing work on ``device``: CPU time of this process on CPU (other
    processes on a shared machine do not count), wall time after :func:`synchronize` on CUDA."""
    device = torch.device(device)
    if device.type == "cpu":
        return time.process_time

    def clock() -> float:
        synchronize(device)
        return time.perf_counter()

    return clock


def model_training_bytes(model: torch.nn.Module, batch_size: int, optimizer: str = "adam") -> int:
    """Bytes one model of an ensemble needs while it trains: parameters, gradients and optimiser
    state (Adam: 3 buffers, SGD with momentum: 1), plus activations (every layer's output for
    ``batch_size`` examples, kept for backward, counted twice for their gradients)."""
    n_params = sum(p.numel() for p in model.parameters())
    buffers = 3 if optimizer == "adam" else 1
    widths = sum(m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear))
    widths += sum(m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)) * 64  # ~8x8 maps
    return 4 * (n_params * (2 + buffers) + 2 * batch_size * widths)


def ensemble_size_for_memory(requested: int, per_model_bytes: int, free_bytes: int, *,
                             data_bytes: int = 0, headroom: float = 0.8) -> int:
    """The largest ensemble (at most ``requested``, at least 1) whose training fits in
    ``headroom`` of ``free_bytes`` after ``data_bytes`` (the dataset, already on the device).

    Example:
        >>> ensemble_size_for_memory(64, per_model_bytes=100 << 20, free_bytes=4 << 30)
        32
    """
    budget = headroom * free_bytes - data_bytes
    return max(1, min(int(requested), int(budget // max(per_model_bytes, 1))))


def bounded_ensemble_size(requested: int, model: torch.nn.Module, batch_size: int, optimizer: str,
                          device: torch.device) -> int:
    """``requested``, capped by the free memory of a CUDA ``device`` (unchanged on CPU)."""
    if torch.device(device).type != "cuda":
        return requested
    free, _ = torch.cuda.mem_get_info(device)
    return ensemble_size_for_memory(requested, model_training_bytes(model, batch_size, optimizer), free)
