"""Loading what an audit needs: the pool, the dataset, the target's logits, and index sets.

Index files hold positions in the training split (see docs/data.md); audits work on pool
population positions, so everything is mapped through ``dataset.train_idx`` and the pool's
``population`` rows here, once.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from muaudit.data import TEST, Dataset, load_index_file
from muaudit.errors import CheckpointError, DataError, PoolError
from muaudit.models import Target, load_target
from muaudit.models.factory import allowed_arch
from muaudit.pool import Pool, PoolSpec
from muaudit.training import predict_logits


def find_pools(root="shadow_models") -> list[str]:
    return sorted(str(p.parent) for p in Path(root).glob("*/pool.h5"))


def resolve_pool(pool) -> Pool:
    """``--pool``, else ``$MUAUDIT_POOL``, else an error listing the pools under shadow_models/."""
    pool = pool or os.environ.get("MUAUDIT_POOL")
    if not pool:
        found = find_pools()
        hint = f"; pools found: {', '.join(found)}" if found else "; build one with `muaudit pool build shadow_models/digits-mlp.toml`"
        raise PoolError(f"no pool given: pass --pool DIR or set MUAUDIT_POOL{hint}")
    return Pool(pool).require_complete()


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class AuditData:
    """Pool, dataset and spec of an audit, with position mapping helpers."""

    pool: Pool
    spec: PoolSpec
    dataset: Dataset

    @classmethod
    def load(cls, pool) -> "AuditData":
        p = resolve_pool(pool)
        spec = PoolSpec.from_dict(p.spec)
        ds = spec.load_dataset()
        p.check_fingerprint(ds.fingerprint)
        return cls(p, spec, ds)

    @property
    def n_train(self) -> int:
        return len(self.dataset.train_idx)

    def positions(self, train_positions: np.ndarray, what: str) -> np.ndarray:
        """Training-split positions -> pool population positions."""
        rows = self.dataset.train_idx[np.asarray(train_positions, np.int64)]
        where = {int(r): i for i, r in enumerate(self.pool.population)}
        missing = [int(r) for r in rows if int(r) not in where]
        if missing:
            raise DataError(f"{what}: dataset row {missing[0]} is not in the pool's population")
        return np.array([where[int(r)] for r in rows], np.int64)

    def load_positions(self, path, what: str) -> np.ndarray:
        return self.positions(load_index_file(path, self.n_train, what=what), f"{what} file {path}")

    def test_positions(self) -> np.ndarray:
        test = np.flatnonzero(self.pool.split == TEST)
        if not len(test):
            raise DataError("the pool's population has no test split; pass --nonmembers")
        return test


def load_audit_target(path, data: AuditData, *, arch: str | None = None) -> Target:
    """Load ``--target``; a raw state_dict without ``--arch`` gets the pool's architecture."""
    spec, ds = data.spec, data.dataset
    if arch is None and _needs_arch(path):
        arch = allowed_arch(spec.model["arch"], source=f"pool {data.pool.path} (its recipe's [model] arch)")
    kwargs = spec.arch_kwargs if arch is not None and arch == spec.model["arch"] else None
    target = load_target(path, arch=arch, arch_kwargs=kwargs, input_shape=ds.input_shape, n_classes=ds.n_classes)
    fp = target.meta.get("dataset_fingerprint")
    if fp and fp != ds.fingerprint:
        raise CheckpointError(f"target {path} was trained on other data (fingerprint {fp[:12]} != pool's "
                              f"{ds.fingerprint[:12]}); audit it with a pool built on its dataset")
    return target


def _needs_arch(path) -> bool:
    """True for a raw state_dict (no muaudit meta); logits and TorchScript need no architecture."""
    from muaudit.models.checkpoint import _is_torchscript, read_checkpoint

    p = Path(path)
    if not p.is_file() or p.suffix == ".npy" or _is_torchscript(p):
        return False
    return not read_checkpoint(p)[1]


def target_logits(target: Target, data: AuditData) -> np.ndarray:
    """The target's logits on the pool population, float32 ``[N, V, C]`` with the pool's V."""
    pop, (_, N, V, C) = data.pool.population, data.pool.logits_shape
    if target.logits is not None:
        z = target.logits
        if len(z) == data.dataset.n_samples and len(z) != N:
            z = z[pop]
        if len(z) != N or z.shape[-1] != C:
            raise CheckpointError(f"logits file {target.path} has shape {z.shape}; expected [{data.dataset.n_samples} "
                                  f"(dataset rows) or {N} (pool population), V, {C}]")
    else:
        z = predict_logits(target.model, data.dataset.X[pop], n_views=V)
    if z.shape[1] < V:
        raise CheckpointError(f"target logits have {z.shape[1]} view(s); the pool uses {V}")
    z = z[:, :V]
    if not np.isfinite(z).all():
        raise CheckpointError(f"target {target.path} produces NaN/inf logits")
    return z
