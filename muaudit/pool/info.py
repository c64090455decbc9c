"""Summary of a pool: progress, keep balance and the shadows' accuracy."""

from __future__ import annotations

import json

import numpy as np

from muaudit.pool.signals import logits_chunks

from muaudit.data import TEST
from muaudit.pool.store import Pool


def pool_summary(pool: Pool) -> dict:
    """Plain-dict summary used by ``muaudit pool info``.

    ``accuracy`` is the mean over done shadows of top-1 accuracy (view 0) on their own training
    examples (``in``), on the population examples they did not train on (``out``), and on the
    test-split examples they did not train on (``test``).
    """
    M, N = pool.keep.shape
    per_example = pool.keep.sum(0)
    out = {"path": str(pool.path), "name": pool.spec.get("name"), "n_models": M, "n_done": pool.n_done,
           "n_examples": N, "schema_version": pool.attrs["schema_version"],
           "dataset_fingerprint": pool.fingerprint, "engine": pool.attrs.get("engine"),
           "forget_aware": pool.forget is not None,
           "keep_balance": {"min_in_per_example": int(per_example.min()), "max_in_per_example": int(per_example.max()),
                            "exactly_half": bool((per_example == M // 2).all()),
                            "train_size_per_model": [int(pool.keep.sum(1).min()), int(pool.keep.sum(1).max())]},
           "train_seconds_per_model": float(pool.seconds[pool.done].mean()) if pool.n_done else None,
           "digest": pool.digest(), "spec": pool.spec}
    if "train_settings" in pool.attrs:  # what the build did on its device (muaudit.training.accel.recorded)
        out["train_settings"] = json.loads(pool.attrs["train_settings"])
    if pool.n_done:
        done = np.flatnonzero(pool.done)
        correct = np.empty((len(done), pool.logits_shape[1]), bool)
        for pos, z in logits_chunks(pool, done):  # every row checked, in bounded memory (muaudit.pool.signals)
            correct[pos] = z[:, :, 0].argmax(-1) == pool.labels[None]
        keep = pool.keep[done]
        test = (pool.split == TEST)[None] & ~keep
        out["accuracy"] = {k: float(correct[m].sum() / max(m.sum(), 1)) for k, m in
                           (("in", keep), ("out", ~keep), ("test", test))}
    out["groups"] = {name: group_summary(g) for name, g in pool.groups.items()}
    return out


def group_summary(g) -> dict:
    """Progress and cost of one unlearned / retrain group."""
    done = g.done
    sizes = g.forget.sum(1)
    return {"kind": g.kind, "name": g.name, "method": g.attrs.get("method"), "n_done": int(done.sum()),
            "n_models": int(done.size), "forget_size_per_model": [int(sizes.min()), int(sizes.max())],
            "seconds_per_model": float(g.seconds[done].mean()) if done.any() else None,
            "sample_gradients_per_model": float(g.sample_gradients[done].mean()) if done.any() else None,
            "entry": g.entry}


def format_summary(s: dict) -> str:
    lines = [f"pool {s['name']} at {s['path']}",
             f"  models done   {s['n_done']}/{s['n_models']} ({s['engine']} engine)",
             f"  examples      {s['n_examples']} (each IN for {s['keep_balance']['min_in_per_example']}"
             f"-{s['keep_balance']['max_in_per_example']} models; exactly half: {s['keep_balance']['exactly_half']})",
             f"  forget-aware  {s['forget_aware']}",
             f"  digest        {s['digest']}"]
    if "accuracy" in s:
        a = s["accuracy"]
        lines.append(f"  shadow acc    train(IN) {a['in']:.3f}  held-out(OUT) {a['out']:.3f}  test {a['test']:.3f}")
    t = s.get("train_settings") or {}
    if t and (t["precision"] != "fp32" or t["compile"] is not False or t["notes"]):
        lines.append(f"  training      {t['device_type']}, {t['precision']}, channels_last {t['channels_last']}, "
                     f"compile {t['compile']}" + "".join(f"\n  note          {n}" for n in t["notes"]))
    if s.get("train_seconds_per_model"):
        lines.append(f"  train time    {s['train_seconds_per_model']:.2f} s/model")
    for name, g in (s.get("groups") or {}).items():
        cost = f", {g['seconds_per_model']:.2f} s/model" if g["seconds_per_model"] is not None else ""
        lo, hi = g["forget_size_per_model"]
        lines.append(f"  {name:<13} {g['n_done']}/{g['n_models']} done ({g['method']}; |F_m| {lo}-{hi}{cost})")
    return "\n".join(lines)
