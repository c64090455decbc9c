"""``[[unlearn]]`` entries of a pool recipe: which unlearning methods run on every shadow.

```toml
[[unlearn]]
method = "ga"            # a registered unlearning method (`muaudit methods`)
config = { epochs = 2 }  # overrides of the method's defaults (optional)
forget_fraction = 0.1    # F_m = a random 10% of shadow m's training examples (default)
retrain = true           # also train an exact retrain on keep_m minus F_m
```

Optional keys: ``name`` (the group name, default the method; give two entries of one method
different names), ``forget = "pool"`` (use the fixed forget set of a forget-aware pool instead of
a random fraction), ``forget_seed`` (default 0) and ``budget`` (a fraction of the shadow's
training sample-gradients, see ``muaudit unlearn --budget``).

``F_m`` depends only on the shadow's seed, its training set and the entry's ``forget_fraction``
and ``forget_seed``, so entries with the same forget settings unlearn the same examples, share
their exact retrains (see :func:`forget_key`) and can be compared example by example.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from muaudit.errors import ConfigError, PoolError

FORGET_CHOICES = ("random", "pool")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+.-]{0,63}")  # an HDF5 group and file name


@dataclass(frozen=True)
class UnlearnEntry:
    """One ``[[unlearn]]`` entry of a recipe (validated; ``config`` holds the overrides only)."""

    method: str
    name: str = ""
    config: dict = field(default_factory=dict)
    forget: str = "random"
    forget_fraction: float = 0.1
    forget_seed: int = 0
    retrain: bool = False
    budget: float | None = None

    def __post_init__(self):
        if not self.name:
            object.__setattr__(self, "name", str(self.method))
        checks = [
            (isinstance(self.method, str), "[[unlearn]] `method` a string", self.method),
            (isinstance(self.name, str) and NAME.fullmatch(self.name) is not None,
             "[[unlearn]] `name` of letters, digits and '_-+.' starting with a letter or digit (at most 64)", self.name),
            (isinstance(self.config, dict), "[[unlearn]] `config` a table", self.config),
            (self.forget in FORGET_CHOICES, f"[[unlearn]] `forget` in {FORGET_CHOICES}", self.forget),
            (_number(self.forget_fraction) and 0 < self.forget_fraction < 1,
             "[[unlearn]] `forget_fraction` in (0, 1)", self.forget_fraction),
            (isinstance(self.forget_seed, int) and not isinstance(self.forget_seed, bool) and 0 <= self.forget_seed < 2**32,
             "[[unlearn]] `forget_seed` an integer in [0, 2**32)", self.forget_seed),
            (isinstance(self.retrain, bool), "[[unlearn]] `retrain` true or false", self.retrain),
            (self.budget is None or (_number(self.budget) and self.budget > 0), "[[unlearn]] `budget` > 0", self.budget),
        ]
        for ok, expected, got in checks:
            if not ok:
                raise ConfigError(f"Expected {expected}, got {got!r}")

    @classmethod
    def from_dict(cls, d, *, recipe=None) -> "UnlearnEntry":
        """Parse one entry; the method and its config are checked against the registry."""
        if not isinstance(d, dict):
            raise ConfigError(f"Expected every [[unlearn]] entry to be a table, got {d!r}")
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(valid))
        if unknown:
            raise ConfigError(f"unknown unlearn key {unknown[0]!r}; valid: {', '.join(valid)}")
        if "method" not in d:
            raise ConfigError("every [[unlearn]] entry needs a `method`")
        entry = cls(**d)
        entry.method_config(recipe)  # unknown methods and bad options fail at parse time
        return entry

    def method_config(self, recipe=None):
        """The resolved config dataclass (``retrain`` takes the pool's training recipe as defaults)."""
        from muaudit.unlearning import get_method, make_config

        if self.method == "sisa":  # exact SISA unlearning of SISA shadows (muaudit.sisa.pool): no options
            from muaudit.sisa.config import SisaUnlearnConfig

            return SisaUnlearnConfig.from_options(self.config, owner="[[unlearn]] method 'sisa'")
        meta = {"recipe": recipe.to_dict()} if recipe is not None else None
        return make_config(get_method(self.method), self.config, meta=meta)

    def to_json(self) -> str:
        """The entry as stored in the pool (``entry`` attribute); resuming compares this."""
        return json.dumps(asdict(self), sort_keys=True)


def parse_entries(raw, *, recipe=None) -> tuple[UnlearnEntry, ...]:
    """The ``unlearn`` array of a recipe; names must be unique."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError("recipe key `unlearn` must be an array of tables ([[unlearn]])")
    entries = tuple(UnlearnEntry.from_dict(d, recipe=recipe) for d in raw)
    names = [e.name for e in entries]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise ConfigError(f"two [[unlearn]] entries are named {dup!r}; give one a different `name`")
    return entries


def forget_key(entry: UnlearnEntry) -> tuple:
    """Entries with equal keys have equal forget matrices (and so may share exact retrains)."""
    return ("pool",) if entry.forget == "pool" else ("random", float(entry.forget_fraction), entry.forget_seed)


def forget_matrix(entry: UnlearnEntry, keep: np.ndarray, seeds: np.ndarray, pool_forget: np.ndarray | None) -> np.ndarray:
    """Bool ``[M, N]``: ``F_m``, a subset of shadow m's training examples ``keep[m]``.

    ``forget = "random"``: ``round(forget_fraction * |keep_m|)`` examples (at least 1, never all),
    drawn with ``default_rng([seed_m, forget_seed, ...])``; ``forget = "pool"``: the forget-aware
    pool's fixed set intersected with ``keep_m`` (empty for the half that never trained on it).
    """
    if entry.forget == "pool":
        if pool_forget is None:
            raise PoolError(f"[[unlearn]] entry {entry.name!r} uses forget = \"pool\", but the pool is not "
                            "forget-aware; build it with --forget IDX")
        return keep & pool_forget[None, :]
    out = np.zeros_like(keep)
    for m, seed in enumerate(seeds):
        rows = np.flatnonzero(keep[m])
        k = min(max(1, round(entry.forget_fraction * len(rows))), len(rows) - 1)
        rng = np.random.default_rng([int(seed), entry.forget_seed, 0x666F7267])  # "forg"
        out[m, rows[rng.permutation(len(rows))[:k]]] = True
    return out


def method_seed(model_seed: int, entry: UnlearnEntry) -> int:
    """The unlearning method's seed on shadow m: from the shadow's seed and the entry's name."""
    return int(np.random.SeedSequence([int(model_seed), zlib.crc32(entry.name.encode())]).generate_state(1)[0])


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
