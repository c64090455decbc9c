"""``muaudit lira``: audit one target's forget set against a shadow pool and write a results folder."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from muaudit.attacks import attack_class, logit_scaled_confidence
from muaudit.attacks.presets import AUDIT_PRESETS, PRESETS, resolve_preset
from muaudit.audit.families import AuditInputs, UnlearnedShadows, audit_with
from muaudit.audit.slices import audit_slices
from muaudit.audit.decision import DEFAULT_ALPHA, DEFAULT_MAX_RESIDUAL, apply_decision, check_alpha, check_max_residual
from muaudit.audit.verdict import evidence_of
from muaudit.jobs.inputs import AuditData, audit_compatibility, provenance, reads_inputs
from muaudit.jobs.queries import label_signals, query_signals
from muaudit.data import read_indices, split_forget
from muaudit.errors import DataError
from muaudit.checks import StatisticsWarning
from muaudit.report import write_audit_folder
from muaudit.report.figure_worker import draw_figures
from muaudit.report.results import audit_curves
from muaudit.targets import InputAdapter, open_target
from muaudit.targets.v2 import QueryOptions
from muaudit.targets.compat import compat_blockers


def _members(data: AuditData, target, train_idx_file, forget_train: np.ndarray) -> tuple[np.ndarray, str]:
    """Retained training examples (population positions) for the power control, and their source."""
    if train_idx_file is not None:
        train = read_indices(train_idx_file, data.n_train, what="train-idx")
        source = str(train_idx_file) if isinstance(train_idx_file, (str, Path)) else "train_idx array"
    elif "train_idx" in target.meta:
        train, source = np.asarray(target.meta["train_idx"], np.int64), "checkpoint meta"
    else:
        return np.zeros(0, np.int64), "none"
    _, retained = split_forget(train, forget_train, strict=False)
    return (data.positions(retained, "train-idx") if len(retained) else np.zeros(0, np.int64)), source


def _audit_rows(data: AuditData, tgt, forget, nonmembers, train_idx):
    """Population positions of the forget set, the non-members and the retained members (minus
    non-members), and where the members came from."""
    forget_train = read_indices(forget, data.n_train, what="forget")
    F = data.positions(forget_train, f"forget file {forget}" if isinstance(forget, (str, Path)) else "forget")
    NM = data.load_positions(nonmembers, "nonmembers") if nonmembers else data.test_positions()
    R, member_source = _members(data, tgt, train_idx, forget_train)
    return F, NM, np.setdiff1d(R, NM), member_source


def _audit(data: AuditData, target, shadows, F, NM, R, *, attack, options, group, on_scores=None, **opts):
    """Audit with the registered ``attack`` (and ``options``) through its family's auditor
    (:func:`muaudit.audit.families.audit_with`): ``target`` is the target's signals in the attack's
    ``signal``, ``shadows`` the base shadows' ``(phi, correct)`` ``[M, N, V]`` (read once by the
    caller, :func:`~muaudit.jobs.queries.query_signals`), ``group`` the pool's unlearned shadows
    of ``--method`` or None; ``on_scores`` as in :func:`~muaudit.audit.audit_target`.
    ``opts``: ``alpha``, ``max_residual``, ``random_state``; the verdict is left to the caller."""
    unlearned = None if group is None else UnlearnedShadows(data.pool.phi(group=group.path), group.forget, group.name)
    inputs = AuditInputs(target, {"phi": shadows[0], "correct": shadows[1]}, data.pool.keep, data.pool.labels,
                         forget=F, nonmembers=NM, members=R, inputs=lambda: data.dataset.X[data.pool.population],
                         n_classes=data.dataset.n_classes, unlearned=unlearned)
    return audit_with(attack, inputs, options=options, on_scores=on_scores, decide=False, **opts)


def run_lira(*, target, forget, pool=None, arch=None, nonmembers=None, train_idx=None, attack="online",
             output=None, batch_size=None, timeout=None, retries=None, max_queries=None,
             alpha=DEFAULT_ALPHA, max_residual=DEFAULT_MAX_RESIDUAL, out=None, random_state=0, method=None, input_layout="auto", input_mean=None,
             input_std=None, device=None, secret_views=0, write=True) -> tuple[dict, Path | None]:
    """Audit ``target`` on ``forget``; return ``(results, results_dir)`` (``None`` without ``write``).

    ``target`` is a file (checkpoint, state_dict, safetensors, TorchScript, ONNX, logits ``.npy``),
    a deployed model's ``http(s)://`` URL (Open Inference Protocol; ``batch_size``, ``timeout``,
    ``retries`` and ``max_queries`` say how it is queried, :mod:`~muaudit.targets.endpoint`; ``output``
    names the output of an ONNX model or an endpoint to read)
    or an in-memory ``nn.Module``, logits array or :class:`~muaudit.targets.AuditTarget`, all opened by
    :func:`~muaudit.targets.open_target`; ``forget`` and ``train_idx`` are index
    files or arrays of training-split positions. With ``method`` (an ``[[unlearn]]`` entry of the
    pool) the IN distribution of every forget example is the pool's shadows that trained on it and
    unlearned it with that method (U-LiRA). ``input_layout`` / ``input_mean`` / ``input_std``
    describe the target's input convention (:class:`~muaudit.targets.InputAdapter`); ``device``
    runs the target (default: cuda if present). ``secret_views`` (model targets, pools with stored
    weights): query every example under that many random views drawn for this audit only
    (:mod:`muaudit.jobs.queries`). A target whose outputs are one-hot is audited with the
    label-only attack. :func:`muaudit.audit_checkpoint` is the in-memory front end.

    Example:
        With a pool from ``muaudit pool build`` and a checkpoint from ``muaudit train`` (here the
        tiny ones the doctest setup in ``conftest.py`` builds):

        >>> from muaudit.audit import VERDICTS
        >>> results, folder = run_lira(target=checkpoint, forget=forget_file, pool=pool_dir, out=tmp / "lira")
        >>> results["kind"], results["verdict"] in VERDICTS, (folder / "results.json").is_file()
        ('lira', True, True)
    """
    resolve_preset(attack, AUDIT_PRESETS)
    alpha, max_residual = check_alpha(alpha), check_max_residual(max_residual)
    if method is not None and attack != "online":
        raise DataError(f"Expected --attack online with --method (U-LiRA), got {attack!r}")
    if device is not None:  # checked before any work (torch: only when a device is named)
        from muaudit.training.device import select_device

        select_device(device)
    query = QueryOptions.from_options(batch_size, timeout, retries, max_queries)
    data = AuditData.load(pool, inputs=reads_inputs(target))  # a logits target: no copy of the inputs
    adapter = InputAdapter.from_options(input_layout, input_mean, input_std, input_shape=data.dataset.input_shape)
    group = None
    if method is not None:
        from muaudit.jobs.ulira import unlearned_group

        group = unlearned_group(data.pool, method)
    tgt = open_target(target, data.target_context, arch=arch, adapter=adapter, device=device, output=output,
                      query=query)
    F, NM, R, member_source = _audit_rows(data, tgt, forget, nonmembers, train_idx)
    # the pool's per-example signals (read and checksummed once) or the secret views' (from the shadows' weights)
    z, shadows, queries = query_signals(tgt, data, secret_views=secret_views)
    if queries["labels_only"] and group is None:
        attack = "label-only"
    name, options = resolve_preset("ulira" if group is not None else attack, PRESETS)  # --method: U-LiRA
    signals = label_signals if attack_class(name).signal == "correct" else logit_scaled_confidence
    phi_t = signals(z, data.pool.labels)
    figures = []  # started (in the figure worker, if any) as soon as the scores exist, beside the statistics
    on_scores = (lambda scores: figures.append(draw_figures(*audit_curves(scores, F, NM, R)))) if write else None
    with warnings.catch_warnings():  # recorded in results["warnings"] and printed in the summary
        warnings.simplefilter("ignore", StatisticsWarning)
        res = _audit(data, phi_t, shadows, F, NM, R, attack=name, options=options, group=group, alpha=alpha,
                     max_residual=max_residual, random_state=random_state, on_scores=on_scores)
    compat = audit_compatibility(tgt, z, data, forget=F, nonmembers=NM, members=R,
                                 calibration=res.results.get("calibration"), shadow_correct=shadows[1])
    apply_decision(res.results, evidence_of(res.results, blockers=compat_blockers(compat), max_residual=max_residual))
    res.results["slices"] = audit_slices(res.arrays["scores"], F, res.arrays["nonmembers"], labels=data.pool.labels,
                                         target_logits=z, shadow_phi=shadows[0], keep=data.pool.keep,
                                         alpha=alpha, random_state=random_state)  # where the leak is (docs/reports.md)
    name = tgt.path.name
    title = f"LiRA audit of {name}" if method is None else f"U-LiRA audit of {name} ({method})"
    results = {**res.results, "kind": "lira", "title": title, "compatibility": compat, "queries": queries,
               "config": {"attack": attack, "alpha": alpha, "max_residual": max_residual, "pool": str(data.pool.path), "n_shadows": data.pool.n_models,
                          "members_from": member_source, "random_state": random_state, "method": method,
                          "secret_views": secret_views},
               "inputs": provenance(target, tgt, forget, data.dataset, data.pool, data.fingerprint)}
    arrays = {k: v for k, v in res.arrays.items() if k not in ("scores", "forget", "nonmembers", "members")}
    if not write:
        return results, None
    out_dir = write_audit_folder(out, kind="lira", results=results, scores=res.arrays["scores"], forget=F,
                                 nonmembers=res.arrays["nonmembers"], members=R, arrays={**arrays, "population": data.pool.population},
                                 figures=figures[0] if figures else None)
    return results, out_dir
