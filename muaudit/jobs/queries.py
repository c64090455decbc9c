"""What an audit queries: the target's and the shadows' outputs on the audit's views, and what they show.

- Known views: the pool's recipe views (stored shadow logits; the target is run on the same views).
- Secret views (``secret_views=N``, model targets only): N views drawn for this audit
  (:mod:`muaudit.targets.views`), scored by the target and by the shadows' stored weights
  (:mod:`muaudit.pool.rescore`).
- Label-only targets: when the target's outputs are one-hot (up to a shift and scale: a label and
  nothing else), the audit uses the label-only attack (:class:`muaudit.attacks.LabelOnly`) on the
  correctness of each query's label (:func:`label_signals`).

:func:`query_logits` returns the arrays and the ``queries`` block of ``results.json``;
:func:`query_signals` the shadows' per-example signals instead of their logits (what LiRA reads).
"""

from __future__ import annotations

import numpy as np

from muaudit.errors import ConfigError
from muaudit.jobs.inputs import AuditData, target_logits
from muaudit.targets import AuditTarget

RECOGNITION = {
    "logits": "cannot be ruled out: the provider computed these outputs knowing which examples the audit "
              "asks about (a logits file), and may have answered the forget examples from another model",
    "known": "not ruled out: the queries were the pool's fixed views of the examples, which a provider who "
             "knows the forget set can recognise (audit with --secret-views N, on a pool with stored weights)",
    "secret": "ruled out for exact and shifted copies: every example was queried under {n} random views drawn "
              "for this audit only (seed recorded after the audit); a provider routing every input near a "
              "forget example to another model is not ruled out",
}
# what no output-based audit rules out, whoever chose the queries (docs/threat-model.md: audit-aware)
OUTPUT_LIMIT = ("; nor, by any output audit, a provider who fine-tuned the model until the attack's statistics on the "
                "forget set look like a retrain's (its outputs are then an unlearned model's; the verdict reads no "
                "weights, and the weight probes tried on digits rarely tell such a model from a retrain: "
                "docs/threat-model.md)")


def query_logits(tgt: AuditTarget, data: AuditData, *, secret_views: int = 0,
                 shadow_logits: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """``(target [N, V, C], shadows [M, N, V, C], queries block)`` on the audit's views.

    ``shadow_logits``: the pool's stored logits when the caller has read them already.
    """
    stored = data.pool.logits() if shadow_logits is None else shadow_logits
    if not secret_views:
        z = target_logits(tgt, data)
        kind = "logits" if tgt.logits is not None else "known"
        return z, stored, _block(kind, data.spec.view_names, None, z)
    if tgt.logits is not None:
        raise ConfigError(f"target {tgt.path} holds precomputed outputs: secret views need a model to query; "
                          "drop --secret-views")
    z, shadows, secret = _secret_logits(tgt, data, secret_views, stored)
    block = _block("secret", [v.name for v in secret.views], secret, z)
    return z, shadows, block


def query_signals(tgt: AuditTarget, data: AuditData, *, secret_views: int = 0):
    """``(target [N, V, C], (phi [M, N, V] float32, correct [M, N, V] bool) of the shadows, queries
    block)``: what LiRA, the label-only attack, the slices and the compatibility block read of the
    shadows. Known views: the pool's per-example signals (:meth:`~muaudit.pool.Pool.signals`; no
    logits are read, so time and memory do not grow with the number of classes). Secret views: the
    shadows' logits on the drawn views (:func:`query_logits`), reduced to the same signals."""
    if not secret_views:
        z = target_logits(tgt, data)
        kind = "logits" if tgt.logits is not None else "known"
        return z, data.pool.signals(), _block(kind, data.spec.view_names, None, z)
    from muaudit.pool.signals import many_signals

    z, shadows, block = query_logits(tgt, data, secret_views=secret_views)
    return z, many_signals(shadows, data.pool.labels), block


def _secret_logits(tgt: AuditTarget, data: AuditData, n: int, stored: np.ndarray):
    from muaudit.pool.rescore import load_shadows, score_shadows
    from muaudit.targets.views import draw_secret_views
    from muaudit.training.views import apply_view_numpy

    X = data.dataset.X[data.pool.population]
    secret = draw_secret_views(n, X, flips="flip" in data.spec.view_names)
    models = load_shadows(data.pool, data.spec, X, stored, random_state=np.random.default_rng(secret.seed))
    C = stored.shape[-1]
    plan = getattr(tgt, "plan_queries", None)  # an endpoint refuses, before its first query, an audit over budget
    if plan is not None:
        plan(len(X), len(secret.views))
    zs, shadows = [], []
    for view in secret.views:  # one view of the whole population at a time: one noise draw for every model
        Xv = apply_view_numpy(X, view)
        zs.append(tgt.outputs(Xv, C)[:, 0])
        shadows.append(score_shadows(models, Xv))
    z = np.stack(zs, axis=1)
    if not np.isfinite(z).all():
        from muaudit.errors import CheckpointError

        raise CheckpointError(f"target {tgt.path} produces NaN/inf logits")
    return z, np.stack(shadows, axis=2), secret


def _block(kind: str, names: list[str], secret, z: np.ndarray) -> dict:
    labels_only = outputs_are_labels(z)
    return {"views": names, "n_views": len(names), "kind": kind,
            "secret_views": None if secret is None else secret.describe(),
            "recognition": RECOGNITION[kind].format(n=len(names)) + ("" if kind == "logits" else OUTPUT_LIMIT),
            "labels_only": labels_only,
            "labels_only_reason": ("the target's outputs are one-hot (a label and nothing else on every query): "
                                   "confidence attacks have nothing to read, the label-only attack is used")
            if labels_only else None}


def outputs_are_labels(z: np.ndarray) -> bool:
    """True when every row of log-scores ``z`` ``[..., C]`` is one-hot up to a shift and scale: one
    top entry and all others equal to one common value below it (labels, or top-1 one-hot outputs).

    Example:
        >>> outputs_are_labels(np.log(np.maximum(np.eye(3)[[0, 2, 1]], 1e-30)))
        True
        >>> outputs_are_labels(np.array([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0]]))
        False
    """
    z = np.asarray(z, np.float64)
    if z.size == 0 or z.shape[-1] < 2:
        return False
    rows = z.reshape(-1, z.shape[-1])
    return _one_hot(rows[:1]) and _one_hot(rows)  # the first row settles most targets (scores are not one-hot)


def _one_hot(z: np.ndarray) -> bool:
    """Every row of ``z`` ``[n, C]`` has one top entry, and all other entries equal one common value."""
    d = z - z.max(axis=-1, keepdims=True)
    top = d == 0
    return bool((top.sum(axis=-1) == 1).all() and (top | (d == d.min())).all())


def label_signals(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """float ``[..., N, V]``: 1 where the top label of ``logits`` ``[..., N, V, C]`` is ``labels[n]``.

    Example:
        >>> label_signals(np.array([[[0.0, 1.0], [1.0, 0.0]]]), np.array([1])).tolist()
        [[1.0, 0.0]]
    """
    return (np.asarray(logits).argmax(-1) == np.asarray(labels)[:, None]).astype(np.float64)
