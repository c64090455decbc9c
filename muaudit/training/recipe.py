"""The training recipe shared by both engines (and by ``retrain`` and the fine-tuning methods)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from muaudit.errors import ConfigError

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "cosine")
MAX_EPOCHS = 100_000  # beyond these a value is a typo (1e8 epochs would never end)
MAX_BATCH = 2**20


@dataclass(frozen=True)
class TrainRecipe:
    """Hyperparameters of one training run.

    ``weight_decay`` is coupled L2 (as in ``torch.optim.SGD`` / ``Adam``); ``schedule="cosine"``
    anneals the learning rate to 0 over the model's own step count; ``augment`` applies random
    crop (padding H/8) and horizontal flip to image inputs.
    """

    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    epochs: int = 30
    batch_size: int = 128
    schedule: str = "constant"
    augment: bool = False

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
        return asdict(self)

    def lr_at(self, step: int, total_steps: int) -> float:
        """Learning rate before update number ``step`` (0-based) of ``total_steps``."""
        if self.schedule == "constant" or total_steps <= 0:
            return self.lr
        return self.lr * 0.5 * (1.0 + math.cos(math.pi * step / total_steps))


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
