"""``muaudit mia``: population membership-inference attacks (no shadows) on a target's forget set.

LOSS threshold (with the same verdict and power control as ``muaudit lira``), Deep Unlearn's
logistic-regression MIA (indiscernibility) and SalUn's SVC-MIA (efficacy).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from muaudit.attacks import confidence, cross_entropy_loss, logistic_regression_mia, svc_mia
from muaudit.audit import assess_scores
from muaudit.jobs.inputs import AuditData, file_sha256, load_audit_target
from muaudit.data import load_dataset, load_index_file
from muaudit.errors import CheckpointError
from muaudit.models import load_target
from muaudit.report.results import write_audit_folder
from muaudit.training import predict_logits


def _dataset_and_target(target, pool, arch):
    """The dataset from the pool (``--pool``/``$MUAUDIT_POOL``) or else from the checkpoint's meta."""
    if pool or os.environ.get("MUAUDIT_POOL"):
        data = AuditData.load(pool)
        return data.dataset, load_audit_target(target, data, arch=arch)
    tgt = load_target(target)
    info = tgt.meta.get("dataset")
    if not info:
        raise CheckpointError(f"{target} carries no dataset meta; pass --pool (or set MUAUDIT_POOL) to name the data")
    ds = load_dataset(info["name"], **{k: v for k, v in info.items() if k != "name"})
    if tgt.meta.get("dataset_fingerprint") not in (None, ds.fingerprint):
        raise CheckpointError(f"{target}: its dataset {info['name']} loads with another fingerprint; pass --pool")
    return ds, tgt


def _logits(tgt, ds) -> np.ndarray:
    if tgt.logits is None:
        return predict_logits(tgt.model, ds.X)[:, 0]
    if len(tgt.logits) != ds.n_samples or tgt.logits.shape[-1] != ds.n_classes:
        raise CheckpointError(f"logits file {tgt.path} has shape {tgt.logits.shape}; expected [{ds.n_samples}, V, {ds.n_classes}]")
    return tgt.logits[:, 0]


def run_mia(*, target, forget, pool=None, arch=None, nonmembers=None, train_idx=None, alpha=0.01, out=None,
            random_state=0) -> tuple[dict, Path]:
    """Population attacks on ``target``'s forget set; return ``(results, results_dir)``."""
    ds, tgt = _dataset_and_target(target, pool, arch)
    n_train = len(ds.train_idx)
    f_pos = load_index_file(forget, n_train, what="forget")
    F = ds.train_idx[f_pos]
    NM = ds.train_idx[load_index_file(nonmembers, n_train, what="nonmembers")] if nonmembers else ds.test_idx
    if train_idx is not None:
        train = load_index_file(train_idx, n_train, what="train-idx")
    else:
        train = np.asarray(tgt.meta.get("train_idx", []), np.int64)
    R = np.setdiff1d(ds.train_idx[np.setdiff1d(train, f_pos)], NM)
    logits = _logits(tgt, ds)
    loss, conf = cross_entropy_loss(logits, ds.y), confidence(logits, ds.y)
    scores = -loss  # LOSS attack: lower loss = member
    results = assess_scores(scores, F, NM, R, labels=ds.y, alpha=alpha, random_state=random_state)
    lr = logistic_regression_mia(loss[F], loss[NM])
    population = {"logistic_regression_accuracy": lr.accuracy, "indiscernibility": lr.indiscernibility,
                  "logistic_regression_n_per_class": lr.n_per_class}
    if len(R):
        svc = svc_mia(conf[R], conf[NM], conf[F], random_state=random_state)
        population.update(svc_mia_efficacy=svc.efficacy, svc_train_accuracy=svc.train_accuracy)
    acc = lambda rows: float((logits[rows].argmax(-1) == ds.y[rows]).mean()) if len(rows) else None  # noqa: E731
    population.update(forget_accuracy=acc(F), retain_accuracy=acc(R), test_accuracy=acc(ds.test_idx))
    results.update({"kind": "mia", "attack": "loss", "title": f"Population MIAs on {Path(target).name}",
                    "population_mia": population, "sections": {"Population MIAs": population},
                    "config": {"alpha": alpha, "random_state": random_state, "nonmembers": str(nonmembers or "test split")},
                    "inputs": {"target": str(target), "target_kind": tgt.kind, "target_sha256": file_sha256(target),
                               "forget": str(forget), "forget_sha256": file_sha256(forget),
                               "dataset": ds.name, "dataset_fingerprint": ds.fingerprint}, "warnings": []})
    out_dir = write_audit_folder(out, kind="mia", results=results, scores=scores, forget=F, nonmembers=NM, members=R,
                                 label="LOSS: forget vs non-members")
    return results, out_dir
