"""The unlearning-method contract: data holder, config base class, method base class, registry.

A method is a model transform::

    new_model = method(model, forget, retain, config=cfg, random_state=g)

It returns a **new** model (the input is deep-copied first and never changed), in eval mode, with
the same architecture. ``forget`` and ``retain`` are :class:`UnlearnData`; ``retain.val`` may hold
held-out data for the methods that use it (KDE's warm-up, SCRUB's stopping rule).

Methods register by name into :data:`METHODS` (duplicates are refused); other packages add methods
through the entry-point group ``muaudit.methods``::

    # pyproject.toml of a plug-in package
    [project.entry-points."muaudit.methods"]
    mymethod = "mypkg.unlearn:MyMethod"
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from muaudit.checks import renamed_keyword
from muaudit.config import Config
from muaudit.errors import ConfigError, DataError
from muaudit.registry import Registry
from muaudit.unlearning.cost import metered

METHODS: Registry = Registry("unlearning method")
ENTRY_POINT_GROUP = "muaudit.methods"


@dataclass(frozen=True, eq=False)
class UnlearnData:
    """Examples a method may use: ``X`` float32 ``[n, ...]`` and ``y`` int64 ``[n]`` tensors.

    Attributes:
        val: optional held-out examples (Deep Unlearn's validation split; the CLI passes the
            test split) for methods that need them.
        augment: the original training augmented these inputs (random crop + flip); methods
            that train "as the original recipe did" (EU-k) then augment too.

    Example:
        >>> d = UnlearnData(np.zeros((4, 1, 8, 8)), np.array([0, 1, 2, 3]))
        >>> len(d), d.X.dtype
        (4, torch.float32)
    """

    X: torch.Tensor
    y: torch.Tensor
    val: "UnlearnData | None" = None
    augment: bool = False

    def __post_init__(self):
        X = torch.as_tensor(np.asarray(self.X, np.float32) if isinstance(self.X, np.ndarray) else self.X)
        y = torch.as_tensor(np.asarray(self.y, np.int64) if isinstance(self.y, np.ndarray) else self.y)
        if X.dim() < 2 or y.dim() != 1 or len(X) != len(y):
            raise DataError(f"Expected X [n, ...] and y [n], got shapes {tuple(X.shape)} and {tuple(y.shape)}")
        object.__setattr__(self, "X", X.float())
        object.__setattr__(self, "y", y.long())

    def __len__(self) -> int:
        return len(self.y)

    def to(self, device) -> "UnlearnData":
        val = None if self.val is None else self.val.to(device)
        return UnlearnData(self.X.to(device), self.y.to(device), val, self.augment)

    def subset(self, idx) -> "UnlearnData":
        idx = torch.as_tensor(idx, device=self.X.device)
        return UnlearnData(self.X[idx], self.y[idx], None, self.augment)

    @staticmethod
    def concat(a: "UnlearnData", b: "UnlearnData") -> "UnlearnData":
        return UnlearnData(torch.cat([a.X, b.X]), torch.cat([a.y, b.y]), None, a.augment)


# -- configs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MethodConfig(Config):
    """Base of every method's frozen config dataclass (a :class:`muaudit.config.Config`).

    Field types are checked on construction (``float`` fields accept ints, ``tuple`` fields accept
    lists); ranges follow the field name (``lr`` > 0, ``momentum`` in [0, 1), ``*epochs`` >= 0,
    ``*batch_size`` >= 1, ...) plus the names a subclass lists in ``_unit_interval`` /
    ``_nonnegative`` (plain class attributes, not fields).
    Errors read ``Expected `lr` > 0, got -1``.

    Example:
        >>> @dataclass(frozen=True)
        ... class StepConfig(MethodConfig):
        ...     lr: float = 0.1
        ...     epochs: int = 1
        >>> StepConfig(lr=1).to_dict()
        {'lr': 1.0, 'epochs': 1}
    """

    @classmethod
    def _implied_rule(cls, name: str):
        """Range rule implied by a config field's name (one vocabulary for every method)."""
        if name == "lr" or name.endswith("_lr") or name in ("temperature", "kd_t"):
            return "> 0", lambda v: v > 0
        if name.endswith("momentum"):
            return "in [0, 1)", lambda v: 0 <= v < 1
        from muaudit.training.recipe import MAX_BATCH, MAX_EPOCHS

        if name.endswith("epochs"):
            return f"in [0, {MAX_EPOCHS}]", lambda v: 0 <= v <= MAX_EPOCHS
        if name.endswith("weight_decay"):
            return ">= 0", lambda v: v >= 0
        if name.endswith("batch_size"):
            return f"in [1, {MAX_BATCH}]", lambda v: 1 <= v <= MAX_BATCH
        if name in ("k",):
            return ">= 1", lambda v: v >= 1
        return None


# -- methods --------------------------------------------------------------------------------------


class UnlearningMethod:
    """Base class: subclasses set the class attributes and implement :meth:`unlearn`.

    Class attributes:
        name: registry key (short, lower case: ``"ng+"``).
        description: one line for ``muaudit methods``.
        source: paper and code the implementation follows.
        touches: which data the method reads (``"forget"``, ``"retain"``, ``"val"``).
        Config: the frozen :class:`MethodConfig` subclass holding the source's defaults.

    After a call, ``cost_`` holds ``{"seconds", "sample_gradients", ...}`` of that call.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    source: ClassVar[str] = ""
    touches: ClassVar[tuple[str, ...]] = ()
    Config: ClassVar[type[MethodConfig]] = MethodConfig

    def __call__(self, model: nn.Module, forget: UnlearnData, retain: UnlearnData, *,
                 config: MethodConfig | None = None, random_state: torch.Generator | int | None = None,
                 generator: torch.Generator | None = None) -> nn.Module:
        """A new model: ``unlearn`` on a deep copy; all randomness from ``random_state`` (a
        ``torch.Generator``, or an int seed of one; default seed 0). ``generator`` is its deprecated name."""
        random_state = renamed_keyword(f"method {self.name!r}", "generator", generator, "random_state", random_state)
        config = self.Config() if config is None else config
        if not isinstance(config, self.Config):
            raise ConfigError(f"method {self.name!r} expects a {self.Config.__name__}, got {type(config).__name__}")
        if random_state is None or isinstance(random_state, (int, np.integer)):
            random_state = torch.Generator().manual_seed(int(random_state or 0))
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        with metered(reuse=True) as meter:
            new = self.unlearn(copy.deepcopy(model), forget.to(device), retain.to(device), config, random_state)
            self.cost_ = meter.report()
        for p in new.parameters():
            p.grad = None
        return new.eval()

    def unlearn(self, model: nn.Module, forget: UnlearnData, retain: UnlearnData, config, random_state) -> nn.Module:
        """Change ``model`` (already a private copy, on the data's device) and return it."""
        raise NotImplementedError

    @classmethod
    def config_from_meta(cls, meta: dict) -> dict:
        """Defaults taken from a checkpoint's meta (``retrain`` reads the training recipe)."""
        return {}


def register_method(cls):
    """Class decorator: register ``cls`` under ``cls.name`` (duplicates are refused)."""
    METHODS.register(cls.name, cls)
    return cls


_PLUGINS_LOADED = False


def load_entry_points() -> None:
    """Register methods of installed packages (entry-point group ``muaudit.methods``), once.

    A plug-in that fails to import, or whose name is already taken (built-ins win), is skipped
    with a warning: one broken package must not break every method.
    """
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as e:  # a broken plug-in must not break muaudit
            warnings.warn(f"muaudit.methods plug-in {ep.name!r} failed to load: {e}", stacklevel=2)
            continue
        name = getattr(obj, "name", ep.name)
        if name in METHODS:
            warnings.warn(f"muaudit.methods plug-in {ep.name!r}: method {name!r} is already registered; skipped",
                          stacklevel=2)
            continue
        METHODS.register(name, obj)


def get_method(name: str) -> UnlearningMethod:
    """An instance of the registered method ``name`` (built-ins and plug-ins)."""
    import muaudit.unlearning.methods  # noqa: F401  (registers the built-ins)

    load_entry_points()
    return METHODS.get(name)()


def make_config(method: UnlearningMethod | type, overrides: dict | None = None, *, meta: dict | None = None):
    """Build ``method``'s config from its defaults, checkpoint ``meta`` defaults and ``overrides``.

    Unknown keys raise a :class:`ConfigError` listing the valid ones.

    Example:
        >>> make_config(get_method("ft"), {"lr": 0.01}).lr
        0.01
    """
    defaults = method.config_from_meta(meta) if meta else {}
    return method.Config.from_options(overrides, owner=f"unlearning method {method.name!r}", defaults=defaults)

