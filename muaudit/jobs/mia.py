"""``muaudit mia``: population membership-inference attacks (no shadows) on a target's forget set.

LOSS threshold (with the same verdict and power control as ``muaudit lira``), Deep Unlearn's
logistic-regression MIA (indiscernibility) and SalUn's SVC-MIA (efficacy).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from muaudit.attacks import confidence, cross_entropy_loss, logistic_regression_mia, logit_scaled_confidence, svc_mia
from muaudit.attacks.base import ReferenceSignals
from muaudit.audit import assess_scores
from muaudit.audit.decision import DEFAULT_ALPHA, DEFAULT_MAX_RESIDUAL, apply_decision, check_alpha, check_max_residual
from muaudit.audit.verdict import check_calibration, evidence_of
from muaudit.jobs.inputs import AuditData, audit_compatibility, provenance
from muaudit.data import load_dataset, load_index_file, split_forget
from muaudit.errors import CheckpointError
from muaudit.models.checkpoint import train_positions
from muaudit.report.results import write_audit_folder
from muaudit.targets import InputAdapter, compat, open_target
from muaudit.targets.v2 import QueryOptions
from muaudit.training.device import select_device


def _dataset_and_target(target, pool, arch, adapter_options, device, **options):
    """The dataset from the pool (``--pool``/``$MUAUDIT_POOL``) or else from the checkpoint's meta;
    returns ``(dataset, target, audit data or None)``; ``options``: ``output``, ``query``."""
    if pool or os.environ.get("MUAUDIT_POOL"):
        data = AuditData.load(pool)
        adapter = InputAdapter.from_options(*adapter_options, input_shape=data.dataset.input_shape)
        return data.dataset, open_target(target, data.target_context, arch=arch, adapter=adapter, device=device,
                                         **options), data
    adapter = InputAdapter.from_options(*adapter_options)
    tgt = open_target(target, arch=arch, adapter=adapter, device=device, **options)
    info = tgt.meta.get("dataset")
    if not info:
        raise CheckpointError(f"{target} carries no dataset meta; pass --pool (or set MUAUDIT_POOL) to name the data")
    ds = load_dataset(info["name"], **{k: v for k, v in info.items() if k != "name"})
    if tgt.meta.get("dataset_fingerprint") not in (None, ds.fingerprint):
        raise CheckpointError(f"{target}: its dataset {info['name']} loads with another fingerprint; pass --pool")
    InputAdapter.from_options(*adapter_options, input_shape=ds.input_shape)  # the data's channels
    return ds, tgt, None


def _logits(tgt, ds) -> np.ndarray:
    if tgt.logits is None:
        return tgt.outputs(ds.X, ds.n_classes)[:, 0]
    if len(tgt.logits) != ds.n_samples or tgt.logits.shape[-1] != ds.n_classes:
        raise CheckpointError(f"logits file {tgt.path} has shape {tgt.logits.shape}; "
                              f"expected [{ds.n_samples}, V, {ds.n_classes}]")
    return tgt.log_logits()[:, 0]


def _compatibility(tgt, logits, ds, data, F, NM, R) -> dict:
    """Against the pool's shadows when there is a pool; else only the near-chance check."""
    if data is None:
        return compat.summarize_findings(compat.chance_findings(logits[NM].argmax(-1) == ds.y[NM], ds.n_classes),
                                         pool=None, n_params={"target": tgt.n_params, "pool": None})
    inv = np.full(ds.n_samples, -1, np.int64)
    inv[data.pool.population] = np.arange(len(data.pool.population))
    pos = lambda rows: inv[rows][inv[rows] >= 0]  # noqa: E731 - dataset rows -> pool positions
    phi, correct = data.pool.signals()  # per-example signals: no shadow logits read
    z = logits[data.pool.population][:, None]
    calib, _ = check_calibration(logit_scaled_confidence(z, data.pool.labels), ReferenceSignals(phi, data.pool.keep),
                                 pos(NM), recenter=True, ks_alpha=compat.KS_ALPHA)
    return audit_compatibility(tgt, z, data, forget=pos(F), nonmembers=pos(NM), members=pos(R), calibration=calib,
                               shadow_correct=correct)


def run_mia(*, target, forget, pool=None, arch=None, nonmembers=None, train_idx=None, alpha=DEFAULT_ALPHA,
            max_residual=DEFAULT_MAX_RESIDUAL, out=None, random_state=0, input_layout="auto", input_mean=None, input_std=None, device=None,
            output=None, batch_size=None, timeout=None, retries=None, max_queries=None) -> tuple[dict, Path]:
    """Population attacks on ``target``'s forget set; return ``(results, results_dir)``.

    ``input_*``, ``device``, ``output`` and the endpoint options (``batch_size``, ``timeout``,
    ``retries``, ``max_queries``) as in :func:`muaudit.jobs.lira.run_lira`.

    Example:
        On the tiny checkpoint and pool of the doctest setup (``conftest.py``):

        >>> results, folder = run_mia(target=checkpoint, forget=forget_file, pool=pool_dir, out=tmp / "mia")
        >>> results["attack"], 0 <= results["population_mia"]["indiscernibility"] <= 1
        ('loss', True)
    """
    alpha, max_residual = check_alpha(alpha), check_max_residual(max_residual)
    select_device(device)
    query = QueryOptions.from_options(batch_size, timeout, retries, max_queries)
    ds, tgt, data = _dataset_and_target(target, pool, arch, (input_layout, input_mean, input_std), device,
                                        output=output, query=query)
    n_train = len(ds.train_idx)
    f_pos = load_index_file(forget, n_train, what="forget")
    F = ds.train_idx[f_pos]
    NM = ds.train_idx[load_index_file(nonmembers, n_train, what="nonmembers")] if nonmembers else ds.test_idx
    if train_idx is not None:
        train = load_index_file(train_idx, n_train, what="train-idx")
    elif "train_idx" in tgt.meta:
        train = train_positions(tgt.meta, n_train, target)
    else:
        train = np.zeros(0, np.int64)
    R = np.setdiff1d(ds.train_idx[split_forget(train, f_pos, strict=False)[1]], NM)
    logits = _logits(tgt, ds)
    loss, conf = cross_entropy_loss(logits, ds.y), confidence(logits, ds.y)
    scores = -loss  # LOSS attack: lower loss = member
    results = assess_scores(scores, F, NM, R, labels=ds.y, alpha=alpha, max_residual=max_residual,
                            random_state=random_state, decide=False)
    block = _compatibility(tgt, logits, ds, data, F, NM, R)
    apply_decision(results, evidence_of(results, blockers=compat.compat_blockers(block), max_residual=max_residual))
    lr = logistic_regression_mia(loss[F], loss[NM])
    population = {"logistic_regression_accuracy": lr.accuracy, "indiscernibility": lr.indiscernibility,
                  "logistic_regression_n_per_class": lr.n_per_class}
    if len(R):
        svc = svc_mia(conf[R], conf[NM], conf[F], random_state=random_state)
        population.update(svc_mia_efficacy=svc.efficacy, svc_train_accuracy=svc.train_accuracy)
    acc = lambda rows: float((logits[rows].argmax(-1) == ds.y[rows]).mean()) if len(rows) else None  # noqa: E731
    population.update(forget_accuracy=acc(F), retain_accuracy=acc(R), test_accuracy=acc(ds.test_idx))
    results.update({"kind": "mia", "attack": "loss", "title": f"Population MIAs on {tgt.path.name}",
                    "population_mia": population, "sections": {"Population MIAs": population},
                    "config": {"alpha": alpha, "max_residual": max_residual, "random_state": random_state, "nonmembers": str(nonmembers or "test split")},
                    "compatibility": block, "inputs": provenance(target, tgt, forget, ds, data and data.pool),
                    "warnings": []})
    out_dir = write_audit_folder(out, kind="mia", results=results, scores=scores, forget=F, nonmembers=NM, members=R,
                                 label="LOSS: forget vs non-members")
    return results, out_dir
