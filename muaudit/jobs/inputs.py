"""Loading what an audit needs: the pool, the dataset, the target's logits, and index sets.

Index files hold positions in the training split (see docs/data.md); audits work on pool
population positions, so everything is mapped through ``dataset.train_idx`` and the pool's
``population`` rows here, once.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from muaudit.audit.strata import known_class_nonmembers
from muaudit.data import TEST, Dataset, load_index_file
from muaudit.errors import CheckpointError, DataError, PoolError
from muaudit.pool import Pool, PoolSpec
from muaudit.targets import AuditTarget, TargetContext


def find_pools(root="shadow_models") -> list[str]:
    return sorted(str(p.parent) for p in Path(root).glob("*/pool.h5"))


def resolve_pool(pool, *, recipe: str = "digits-mlp") -> Pool:
    """``--pool``, else ``$MUAUDIT_POOL``, else an error listing the pools under shadow_models/.
    A missing pool names ``recipe``, the packaged recipe that builds one this command can use."""
    from muaudit.pool.reader import resolve_pool_file

    pool = pool or os.environ.get("MUAUDIT_POOL")
    if not pool:
        found = find_pools()
        hint = f"; pools found: {', '.join(found)}" if found else f"; build one with `muaudit pool build {recipe}`"
        raise PoolError(f"no pool given: pass --pool DIR or set MUAUDIT_POOL{hint}")
    if not resolve_pool_file(pool).exists():
        raise PoolError(f"no pool at {pool}; build one with `muaudit pool build {recipe} --out {pool}`")
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
    def load(cls, pool, *, recipe: str = "digits-mlp", inputs: bool = True) -> "AuditData":
        """The pool and its dataset, checked against each other: the fingerprint, and the
        population, labels and split an audit reads. ``inputs=False``: an audit that reads no model
        input (a logits target, :func:`reads_inputs`); a dataset whose loader defers its inputs
        (the synthetic one, :class:`~muaudit.data.dataset.DeferredInputs`: a function of the
        recipe's options, which the pool's digest covers) then neither generates nor hashes them,
        and :attr:`fingerprint` is the pool's record; a dataset read from files is hashed as always."""
        p = resolve_pool(pool, recipe=recipe)
        spec = PoolSpec.from_dict(p.spec)
        ds = spec.load_dataset(defer_inputs=not inputs)
        p.check_dataset(ds, inputs=inputs or not ds.inputs_deferred)
        return cls(p, spec, ds)

    @property
    def fingerprint(self) -> str:
        """The dataset's fingerprint: checked equal to the pool's at :meth:`load`, or, for an audit
        that reads no input, the pool's record (its inputs were not hashed)."""
        return self.pool.fingerprint

    @property
    def target_context(self) -> TargetContext:
        """What a target audited against this pool is checked and built against (see
        :func:`~muaudit.targets.open_target`): the dataset's input shape, classes and fingerprint,
        and the pool's architecture (a state_dict given without ``--arch`` is built as it)."""
        ds = self.dataset
        return TargetContext(input_shape=ds.input_shape, n_classes=ds.n_classes, fingerprint=self.fingerprint,
                             arch=self.spec.model["arch"], arch_kwargs=self.spec.arch_kwargs)

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


def reads_inputs(target) -> bool:
    """Whether auditing ``target`` runs a model on the dataset's inputs: False for precomputed
    logits (a ``.npy`` file, an in-memory target or array of logits)."""
    from muaudit.targets.formats import detect_format

    if isinstance(target, AuditTarget):
        return target.logits is None
    if isinstance(target, (str, Path)) and not str(target).startswith(("http://", "https://")):
        return detect_format(Path(target)) != "logits"
    return not isinstance(target, np.ndarray)


def target_logits(target: AuditTarget, data: AuditData) -> np.ndarray:
    """The target's log-scores on the pool population, float32 ``[N, V, C]`` with the pool's V."""
    pop, (_, N, V, C) = data.pool.population, data.pool.logits_shape
    if target.logits is not None:
        z = target.log_logits()
        if len(z) == data.dataset.n_samples and len(z) != N:
            z = z[pop]
        if len(z) != N or z.shape[-1] != C:
            raise CheckpointError(f"logits file {target.path} has shape {target.logits.shape}; expected "
                                  f"[{data.dataset.n_samples} (dataset rows) or {N} (pool population), V, {C}]")
    else:
        z = target.outputs(data.dataset.X[pop], C, views=data.spec.views)
    if z.shape[1] < V:
        raise CheckpointError(f"target logits have {z.shape[1]} view(s); the pool uses {V}")
    z = z[:, :V]
    if not np.isfinite(z).all():
        raise CheckpointError(f"target {target.path} produces NaN/inf logits")
    return z


def pool_digest(pool: Pool) -> str:
    """The pool's digest (everything an audit reads: recipe, fingerprint, population, labels,
    split, keep, seeds, groups and every committed row; see :mod:`muaudit.pool.digest`), what ``results.json`` records as ``pool_digest``: equal
    digests mean equal pools, whatever their file layout, and ``muaudit pool info`` prints it."""
    return pool.digest()


def recipe_hash(pool: Pool) -> str:
    """sha256 of the pool's resolved recipe (its ``spec`` attribute as sorted-key JSON)."""
    return hashlib.sha256(json.dumps(pool.spec, sort_keys=True).encode()).hexdigest()


def _sha256(source) -> str | None:
    """SHA-256 of an input file; None for in-memory inputs."""
    return file_sha256(source) if isinstance(source, (str, Path)) and Path(source).is_file() else None


def _describe(source, target=None) -> str:
    """How an input is named in the results: its path, else what it is."""
    if isinstance(source, (str, Path)):
        return str(source)
    if target is not None:
        return str(target.path)
    return f"array of {len(source)} positions"


def provenance(target_path, target: AuditTarget, forget_path, dataset: Dataset, pool: Pool | None,
               fingerprint: str | None = None) -> dict:
    """The ``inputs`` block of ``results.json``: every input file's digest, the adapter, the pool.
    ``fingerprint``: the dataset's, where known without hashing it (:attr:`AuditData.fingerprint`)."""
    out = {"target": _describe(target_path, target), "target_kind": target.kind, "target_sha256": _sha256(target_path),
           "target_details": target.describe(), "forget": _describe(forget_path), "forget_sha256": _sha256(forget_path),
           "dataset": dataset.name, "dataset_fingerprint": fingerprint or dataset.fingerprint}
    if pool is not None:
        out.update(pool=str(pool.path), pool_digest=pool_digest(pool), recipe_hash=recipe_hash(pool))
    return out


def audit_compatibility(target: AuditTarget, z: np.ndarray, data: AuditData, *, forget, nonmembers, members,
                        calibration: dict | None, shadow_logits: np.ndarray | None = None,
                        shadow_correct: np.ndarray | None = None) -> dict:
    """The ``compatibility`` block (see :mod:`muaudit.targets.compat`) of ``target`` whose log-scores
    on the pool population are ``z`` ``[N, V, C]``, against the pool of ``data``. The shadows'
    accuracy comes from ``shadow_correct`` bool ``[M, N, V]`` (the pool's stored signals,
    :meth:`~muaudit.pool.Pool.signals`, when neither it nor ``shadow_logits`` is given)."""
    from muaudit.targets import compat
    from muaudit.targets.runner import layer_kinds, n_parameters

    labels, keep = data.pool.labels, data.pool.keep
    if shadow_correct is None:
        shadow_correct = (data.pool.signals()[1] if shadow_logits is None
                          else shadow_logits.argmax(-1) == labels[None, :, None])
    # a class forgotten as a whole is expected wrong (a retrain never saw it): left out of the accuracy checks
    known, gone = known_class_nonmembers(labels, forget, nonmembers, members)
    acc, found = compat.accuracy_findings(z[:, 0].argmax(-1) == labels, shadow_correct[:, :, 0],
                                          keep, forget=forget, nonmembers=known, members=members,
                                          n_classes=data.dataset.n_classes, whole_classes=bool(gone.size))
    acc["nonmembers"]["excluded_classes"] = gone.tolist()
    recipe, found_recipe = compat.recipe_findings(target.meta, data.spec)
    n_pool = kinds = None  # a target without a model (logits) has no size or structure to compare
    if target.n_params is not None or target.layer_kinds is not None:
        pool_model = data.spec.make_model(0, data.dataset.input_shape, data.dataset.n_classes)
        n_pool, kinds = n_parameters(pool_model), layer_kinds(pool_model)
    found += compat.calibration_findings(calibration) + found_recipe + compat.size_findings(target.n_params, n_pool)
    if recipe["target"] is None:  # no muaudit meta: compare what the model's structure shows
        found += compat.structure_findings(target.layer_kinds, kinds, data.spec)
    return compat.summarize_findings(found, accuracy=acc, recipe=recipe,
                                     n_params={"target": target.n_params, "pool": n_pool},
                                     layer_kinds={"target": target.layer_kinds, "pool": kinds})
