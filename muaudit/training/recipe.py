"""The training recipe shared by both engines (and by ``retrain`` and the fine-tuning methods)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from muaudit.errors import ConfigError

ENGINES = ("auto", "sequential", "ensemble")  # the training engines (muaudit.training.engine)

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "cosine", "linear")
PRECISIONS = ("fp32", "bf16", "fp16")
CHANNELS_LAST = ("auto", True, False)
COMPILE = (False, True, "inductor", "aot_eager", "eager")  # true = torch.compile's default backend (inductor)
# keys added after pools were first stored: left out of ``to_dict`` at their defaults, so the
# stored spec and digest of every recipe that does not set them stay what they always were
LATER_KEYS = {"warmup": 0.0, "nesterov": False, "label_smoothing": 0.0, "precision": "fp32",
              "channels_last": "auto", "compile": False}
MAX_EPOCHS = 100_000  # beyond these a value is a typo (1e8 epochs would never end)
MAX_BATCH = 2**20


@dataclass(frozen=True)
class TrainRecipe:
    """Hyperparameters of one training run.

    ``weight_decay`` is coupled L2 (as in ``torch.optim.SGD`` / ``Adam``); ``schedule="cosine"``
    anneals the learning rate to 0 over the model's own step count, ``"linear"`` decays it
    linearly to 0; ``warmup`` (a fraction of the steps) ramps it linearly from 0 first;
    ``augment`` applies random crop (padding H/8) and horizontal flip to image inputs, on the
    training device. ``nesterov`` (SGD) and ``label_smoothing`` as in PyTorch.

    Device options (muaudit.training.accel): ``precision`` ``"bf16"``/``"fp16"`` trains under CUDA
    autocast (fp16 with loss scaling; on CPU the model trains in fp32 and the build warns);
    ``channels_last`` ``"auto"`` (conv nets on CPU), true or false; ``compile`` wraps the model
    in ``torch.compile`` (true: the default backend; or a backend name).
    """

    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    epochs: int = 30
    batch_size: int = 128
    schedule: str = "constant"
    augment: bool = False
    warmup: float = 0.0
    nesterov: bool = False
    label_smoothing: float = 0.0
    precision: str = "fp32"
    channels_last: Any = "auto"  # "auto", true or false (Any: config coercion leaves mixed types to the checks below)
    compile: Any = False  # false, true or a backend name

    def __post_init__(self):
        checks = [
            (self.optimizer in OPTIMIZERS, f"`optimizer` in {OPTIMIZERS}", self.optimizer),
            (self.schedule in SCHEDULES, f"`schedule` in {SCHEDULES}", self.schedule),
            (_num(self.lr) and self.lr > 0, "`lr` > 0", self.lr),
            (_num(self.momentum) and 0 <= self.momentum < 1, "`momentum` in [0, 1)", self.momentum),
            (_num(self.weight_decay) and self.weight_decay >= 0, "`weight_decay` >= 0", self.weight_decay),
            (_int(self.epochs) and 0 <= self.epochs <= MAX_EPOCHS, f"`epochs` an integer in [0, {MAX_EPOCHS}]", self.epochs),
            (_int(self.batch_size) and 1 <= self.batch_size <= MAX_BATCH, f"`batch_size` an integer in [1, {MAX_BATCH}]",
             self.batch_size),
            (isinstance(self.augment, bool), "`augment` true or false", self.augment),
            (_num(self.warmup) and 0 <= self.warmup < 1, "`warmup` in [0, 1)", self.warmup),
            (isinstance(self.nesterov, bool), "`nesterov` true or false", self.nesterov),
            (_num(self.label_smoothing) and 0 <= self.label_smoothing < 1, "`label_smoothing` in [0, 1)",
             self.label_smoothing),
            (self.precision in PRECISIONS, f"`precision` in {PRECISIONS}", self.precision),
            (_among(self.channels_last, CHANNELS_LAST), "`channels_last` 'auto', true or false", self.channels_last),
            (_among(self.compile, COMPILE), f"`compile` in {COMPILE}", self.compile),
        ]
        for ok, expected, got in checks:
            if not ok:
                raise ConfigError(f"Expected {expected}, got {got!r}")

    @classmethod
    def from_dict(cls, d: dict) -> "TrainRecipe":
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(valid))
        if unknown:
            raise ConfigError(f"unknown train key {unknown[0]!r}; valid: {', '.join(valid)}")
        return cls(**d)

    def to_dict(self) -> dict:
        """Every key, except the :data:`LATER_KEYS` left at their defaults (see there)."""
        return {k: v for k, v in asdict(self).items() if k not in LATER_KEYS or v != LATER_KEYS[k]
                or type(v) is not type(LATER_KEYS[k])}

    def lr_at(self, step: int, total_steps: int) -> float:
        """Learning rate before update number ``step`` (0-based) of ``total_steps``.

        Example:
            >>> r = TrainRecipe(lr=1.0, schedule="linear", warmup=0.5)
            >>> [r.lr_at(t, 4) for t in range(4)]
            [0.0, 0.5, 1.0, 0.5]
        """
        if total_steps <= 0:
            return self.lr
        ramp = int(self.warmup * total_steps)
        if step < ramp:
            return self.lr * step / ramp
        if self.schedule == "constant":
            return self.lr
        frac = (step - ramp) / max(total_steps - ramp, 1)
        if self.schedule == "linear":
            return self.lr * (1.0 - frac)
        return self.lr * 0.5 * (1.0 + math.cos(math.pi * frac))


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _among(v, allowed) -> bool:
    """``v`` is one of ``allowed``, matched by type too (``1`` is not ``True``)."""
    return any(v == a and type(v) is type(a) for a in allowed)


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
