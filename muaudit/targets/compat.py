"""The ``compatibility`` block of an audit: can this pool model this target?

LiRA's null (and its power control) assume the shadows are trained like the target. Every audit
checks what it can and reports ``status`` (``ok`` / ``warn`` / ``fail``), the ``reasons`` and one
line of ``advice``:

- accuracy: the target's accuracy on non-members, retained members and the forget set against
  the shadows' on the same rows (OUT for non-members and forget, IN for members). Classes the
  forget set removes as a whole (class-wise forgetting: no retained member) are left out of the
  non-member comparison and the forget set is not flagged: a correct unlearning gets them wrong. A drop of more
  than :data:`WARN_SDS` model-to-model standard deviations (and :data:`MIN_GAP`) is ``warn``;
  on non-members it is ``fail`` when the accuracy also lost more than :data:`FAIL_SHARE` of the
  shadows' accuracy above chance or the error rate is over :data:`ERROR_RATIO` times theirs
  (almost always an input-convention mismatch: layout or normalisation);
- calibration: the KS check of :func:`muaudit.audit.verdict.check_calibration` (``warn``);
- recipe: the architecture and training recipe a muaudit checkpoint carries against the pool's
  (``warn`` per difference); for other formats, the kinds of layers (a conv net against an MLP
  pool, ``warn``);
- size: the parameter count against the pool's architecture, beyond a factor :data:`SIZE_FACTOR`
  (``warn``).

``fail`` never yields ``consistent with retraining`` (:func:`compat_blockers`). The thresholds
and the false-warning rate on targets of the pool's own recipe are in docs/third-party.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


FAIL_SHARE = 0.25
ERROR_RATIO = 2.5
WARN_SDS = 4.0
MIN_GAP = 0.02
SIZE_FACTOR = 4.0
KS_ALPHA = 0.01
LEVELS = ("ok", "warn", "fail")
INPUT_ADVICE = ("pass the target's input convention: --input-mean/--input-std (the normalisation it was trained "
                "with) and --input-layout, or check that it was trained on this dataset")
WEAK_ADVICE = ("check the target's input convention (--input-mean/--input-std, --input-layout); if it is right, "
               "build a pool of the target's training recipe")


def _rate(correct: np.ndarray) -> float | None:
    return float(correct.mean()) if correct.size else None


def shadow_accuracy(correct: np.ndarray, keep: np.ndarray, rows: np.ndarray, side: bool) -> tuple[float | None, float]:
    """Mean accuracy of the shadows on ``rows`` where they trained (``side=True``) or not, and the
    standard deviation of the per-model accuracies."""
    c, k = correct[:, rows], keep[:, rows] == side
    per_model = np.array([c[m][k[m]].mean() for m in range(len(c)) if k[m].any()])
    if not per_model.size:
        return None, 0.0
    return float(c[k].mean()), float(per_model.std(ddof=1)) if per_model.size > 1 else 0.0


def accuracy_findings(target_correct, shadow_correct, keep, *, forget, nonmembers, members, n_classes,
                      whole_classes: bool = False):
    """``(block, findings)``: target vs shadows on the three sets; findings are ``(level, reason, advice)``.

    ``whole_classes``: the forget set holds classes forgotten as a whole (no retained member), which a
    correct unlearning gets wrong where the shadows (which trained on the class) do not, so its
    forget-set accuracy is reported but not flagged."""
    chance = 1.0 / max(n_classes, 1)
    block, findings = {}, []
    for name, rows, side in (("nonmembers", nonmembers, False), ("members", members, True), ("forget", forget, False)):
        acc = _rate(target_correct[rows])
        ref, sd = shadow_accuracy(shadow_correct, keep, rows, side) if len(rows) else (None, 0.0)
        block[name] = {"target": acc, "shadows": ref, "shadows_sd": sd, "shadows_side": "IN" if side else "OUT"}
        if acc is None or ref is None:
            continue
        label = {"nonmembers": "non-members", "members": "retained members", "forget": "the forget set"}[name]
        text = f"accuracy on {label} {acc:.3f} vs the shadows' {ref:.3f} ({'IN' if side else 'OUT'})"
        if ref - acc <= max(WARN_SDS * sd, MIN_GAP) or (name == "forget" and whole_classes):
            continue
        far = acc < ref - FAIL_SHARE * (ref - chance) or (1 - acc) > ERROR_RATIO * (1 - ref)
        if name == "nonmembers" and far:
            findings.append(("fail", f"{text}: far below (preprocessing or data mismatch?)", INPUT_ADVICE))
        elif name == "forget":
            findings.append(("warn", f"{text}: less accurate than on never-seen data (over-unlearning?)",
                             "none: the verdict's over-unlearning check covers it"))
        else:
            findings.append(("warn", f"{text}: the target is weaker than the shadows", WEAK_ADVICE))
    return block, findings


def chance_findings(nonmember_correct: np.ndarray, n_classes: int):
    """Without shadows: non-member accuracy within twice chance is ``fail`` (inputs not understood)."""
    acc, chance = _rate(nonmember_correct), 1.0 / max(n_classes, 1)
    if acc is None or acc > 2 * chance:
        return []
    return [("fail", f"accuracy on non-members {acc:.3f} is near chance ({chance:.3f})", INPUT_ADVICE)]


def calibration_findings(calibration: dict | None):
    if not calibration or calibration.get("ks_p_value") is None:
        return []
    out, p = [], calibration["ks_p_value"]
    if p < KS_ALPHA:
        out.append(("warn", f"the target's non-member phi differs from the shadows' OUT phi (KS D = "
                            f"{calibration['ks_statistic']:.3f}, p = {p:.2g})",
                    "build a pool of the target's training recipe"))
    iqr = calibration.get("out_iqr") or 0.0
    if abs(calibration.get("offset", 0.0)) > max(iqr, 1e-12):
        out.append(("warn", f"the target's non-member phi is shifted by {calibration['offset']:+.3g} from the "
                            f"shadows' OUT phi (more than one IQR, {iqr:.3g})",
                    "build a pool of the target's training recipe"))
    return out


def recipe_findings(meta: dict, spec, *, recipes_dir="shadow_models"):
    """Architecture and training recipe of a muaudit checkpoint vs the pool's; ``(block, findings)``."""
    arch, kwargs, recipe = meta.get("arch"), meta.get("arch_kwargs"), meta.get("recipe")
    if not isinstance(arch, str):
        return {"target": None, "pool": {"model": spec.model, "train": spec.train.to_dict()}, "differences": []}, []
    model = {"arch": arch, **(kwargs if isinstance(kwargs, dict) else {})}
    diffs = [f"model.{k}: {model.get(k)!r} (target) vs {spec.model.get(k)!r} (pool)"
             for k in sorted(set(model) | set(spec.model)) if model.get(k) != spec.model.get(k)]
    findings = []
    if diffs:
        findings.append(("warn", f"the target's architecture differs from the pool's ({'; '.join(diffs)})",
                         _arch_advice(model, spec, recipes_dir)))
    train_diffs = []
    if isinstance(recipe, dict):
        pool_train = spec.train.to_dict()
        train_diffs = [f"train.{k}: {recipe.get(k)!r} (target) vs {pool_train[k]!r} (pool)"
                       for k in sorted(pool_train) if k in recipe and recipe[k] != pool_train[k]]
        if train_diffs:
            findings.append(("warn", f"the target was trained with another recipe ({'; '.join(train_diffs)})",
                             "build a pool with the target's training recipe: a recipe with its [train] values, "
                             "then muaudit pool build"))
    sisa = _sisa_difference(meta, spec)
    if sisa:  # a SISA target needs SISA shadows of the same S, R and aggregation (sisa.md)
        train_diffs.append(sisa)
        findings.append(("warn", f"the target and the pool's shadows differ in SISA training ({sisa})",
                         "build a pool from the target's recipe, its [sisa] section included"))
    block = {"target": {"model": model, "train": recipe if isinstance(recipe, dict) else None},
             "pool": {"model": spec.model, "train": spec.train.to_dict()}, "differences": diffs + train_diffs}
    return block, findings


def _sisa_difference(meta: dict, spec) -> str | None:
    """``sisa: ... (target) vs ... (pool)`` when the target's SISA section (S, R, aggregation) is
    not the pool's (one of them may have none), else None."""
    t = meta.get("sisa")
    t = {k: t.get(k) for k in ("shards", "slices", "aggregation")} if isinstance(t, dict) else None
    p = spec.sisa.to_dict() if getattr(spec, "sisa", None) is not None else None
    return None if t == p else f"sisa: {t!r} (target) vs {p!r} (pool)"


def _recipes(spec, recipes_dir):
    """The readable recipes under ``recipes_dir`` on the pool's dataset."""
    from muaudit.errors import MuauditError
    from muaudit.pool.spec import load_spec

    for path in sorted(Path(recipes_dir).glob("*.toml")):
        try:
            s = load_spec(path)
        except MuauditError:
            continue
        if s.dataset.get("name") == spec.dataset.get("name"):
            yield path, s


def _arch_advice(model: dict, spec, recipes_dir) -> str:
    best = None
    for path, s in _recipes(spec, recipes_dir):
        if s.model.get("arch") == model["arch"] and (best is None or s.model == model):
            best = path
    if best is not None:
        return f"build a pool with the target's architecture: muaudit pool build {best}"
    return f"write a recipe with the target's architecture ({model['arch']}) and build a pool of it"


def structure_findings(target_kinds, pool_kinds, spec, *, recipes_dir="shadow_models"):
    """For targets without muaudit meta: a conv / recurrent / attention net against a pool without
    (or the other way round) is ``warn``."""
    if target_kinds is None or pool_kinds is None:
        return []
    differ = sorted(k for k in ("conv", "recurrent", "attention") if (k in target_kinds) != (k in pool_kinds))
    if not differ:
        return []
    from muaudit.models import build_model
    from muaudit.targets.runner import layer_kinds

    advice = f"write a recipe whose architecture has the target's layers ({', '.join(target_kinds)}) and build a pool of it"
    for path, s in _recipes(spec, recipes_dir):
        try:
            kinds = layer_kinds(build_model(s.model["arch"], *_shape_and_classes(spec), **s.arch_kwargs))
        except Exception:  # noqa: BLE001 - a recipe that does not build here is no advice
            continue
        if kinds == list(target_kinds):
            advice = f"build a pool with the target's kind of architecture: muaudit pool build {path}"
            break
    return [("warn", f"the target's layers ({', '.join(target_kinds)}) differ from the pool's {spec.model['arch']} "
                     f"({', '.join(pool_kinds)}) in {', '.join(differ)}", advice)]


def _shape_and_classes(spec):
    ds = spec.load_dataset()
    return ds.input_shape, ds.n_classes


def size_findings(n_target: int | None, n_pool: int | None):
    if not n_target or not n_pool:
        return []
    ratio = n_target / n_pool
    if 1 / SIZE_FACTOR <= ratio <= SIZE_FACTOR:
        return []
    return [("warn", f"the target has {n_target:,} parameters, the pool's architecture {n_pool:,} "
                     f"({ratio:.2g}x)", "build a pool with the target's architecture")]


def summarize_findings(findings: list, **parts) -> dict:
    """The block: status = the worst level, reasons (worst first), one line of advice."""
    order = sorted(findings, key=lambda f: -LEVELS.index(f[0]))
    status = order[0][0] if order else "ok"
    return {"status": status, "reasons": [f"{lvl}: {text}" for lvl, text, _ in order],
            "advice": order[0][2] if order else "none needed", **parts}


def compat_blockers(block: dict) -> list[str]:
    """A ``fail`` is a reason that forbids ``consistent with retraining`` (the one rule,
    :func:`muaudit.audit.decision.decide`, reads it); ``ok`` and ``warn`` block nothing.

    Example:
        >>> compat_blockers({"status": "ok", "reasons": [], "advice": "none needed"})
        []
    """
    if block["status"] != "fail":
        return []
    return [f"the target failed the compatibility check ({block['reasons'][0][len('fail: '):]}); {block['advice']}"]
