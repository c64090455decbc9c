"""Weight-reading probes against the ``audit-aware`` provider, with a calibrated null (issue 20).

``benchmarks/audit_aware_probes.py`` audits one forget set with the test split as non-members; a
probe's p-values for real retrains then depend on that one forget set. Here every seed draws its
own forget set F and a held-out set H (each a fifth of the training split, disjoint); the original
and the retrain are trained without H, so H are non-members exchangeable with F, and a probe's
p-value for the retrain is uniform under the null. Per seed and provider (``original``,
``audit-aware``, ``retrain``), on a digits-mlp pool built with ``save_weights = true``:

- ``lira``: online LiRA on the pool's signals, F against H (the audit's test);
- ``relearn``: the same K Adam steps of cross-entropy on a fixed half P of the retained members
  applied to the target and to every shadow (from their stored weights), then LiRA, F against H;
- ``gradnorm``: LiRA on minus the log of each example's cross-entropy gradient norm (all weights),
  target and shadows alike (a white-box membership signal).

    python benchmarks/weight_probes_null.py --pool POOL --seeds 0 1 2 ... [--probes lira,relearn,gradnorm]

Prints one line per seed and provider, then per probe and provider the count of p < 0.01 and how
often ``audit-aware``'s p-value is below the retrain's. docs/threat-model.md holds the numbers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from audit_aware_probes import relearn  # noqa: E402

from muaudit.attacks import logit_scaled_confidence  # noqa: E402
from muaudit.audit import audit_target  # noqa: E402
from muaudit.jobs.inputs import AuditData  # noqa: E402
from muaudit.pool.rescore import load_shadows  # noqa: E402
from muaudit.providers import PROVIDERS, Materials  # noqa: E402
from muaudit.providers.honest import layer_grad_norms  # noqa: E402
from muaudit.training.predict import predict_many  # noqa: E402
from muaudit.training.single import train_target  # noqa: E402


class HeldOut(Materials):
    """Materials whose original was trained without ``held`` too: retain and the retrain leave it out."""

    held: np.ndarray = np.zeros(0, np.int64)

    @property
    def retain(self) -> np.ndarray:
        return np.setdiff1d(np.arange(len(self.dataset.train_idx)), np.union1d(self.forget, self.held))

    def retrained(self):
        if self.retrained_model is None:
            out = np.union1d(self.forget, self.held)
            self.retrained_model = train_target(self.spec, self.dataset, exclude=out, random_state=self.seed)[0].eval()
        return self.retrained_model


def grad_signal(model, X, y) -> np.ndarray:
    """``-log ||grad of cross-entropy||`` per example ``[N, 1]`` (higher = better fitted)."""
    out = []
    for s in range(0, len(X), 512):
        g = layer_grad_norms(model.eval(), torch.as_tensor(X[s:s + 512], dtype=torch.float32),
                             torch.as_tensor(y[s:s + 512], dtype=torch.int64))
        out.append(-torch.log(g.pow(2).sum(1).sqrt() + 1e-12).detach().numpy())
    return np.concatenate(out)[:, None]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(20)))
    ap.add_argument("--providers", default="original,audit-aware,retrain")
    ap.add_argument("--probes", default="lira,relearn,gradnorm")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--lr", type=float, default=1e-3)
    a = ap.parse_args()
    torch.set_num_threads(1)
    probes, names = a.probes.split(","), a.providers.split(",")
    data = AuditData.load(a.pool)
    X, y = data.dataset.X[data.pool.population], data.pool.labels
    shadows = load_shadows(data.pool, data.spec, X, data.pool.logits(), random_state=np.random.default_rng(0))
    base = np.stack(predict_many(shadows, X))
    grads = np.stack([grad_signal(s, X, y) for s in shadows]) if "gradnorm" in probes else None
    n, p_values = data.n_train, {}
    for seed in a.seeds:
        perm = np.random.default_rng([seed, 2024]).permutation(n)
        forget, held = np.sort(perm[:n // 5]), np.sort(perm[n // 5:2 * (n // 5)])
        original, _ = train_target(data.spec, data.dataset, exclude=held, random_state=seed)
        mat = HeldOut(data.spec, data.dataset, original, forget, seed)
        mat.held = held
        F_, H, R = data.positions(forget, "forget"), data.positions(held, "held"), data.positions(mat.retain, "retain")
        P = np.sort(np.random.default_rng([seed, 5]).choice(R, R.size // 2, replace=False))
        relearned = (np.stack(predict_many([relearn(s, X, y, P, a.steps, a.lr) for s in shadows], X))
                     if "relearn" in probes else None)
        for name in names:
            model = original if name == "original" else PROVIDERS.get(name)(mat, random_state=seed)
            row = []
            for probe in probes:
                if probe == "gradnorm":
                    t, s = grad_signal(model, X, y), grads
                else:
                    zt = predict_many([relearn(model, X, y, P, a.steps, a.lr) if probe == "relearn" else model], X)[0]
                    zs = relearned if probe == "relearn" else base
                    t, s = logit_scaled_confidence(zt, y), logit_scaled_confidence(zs, y)
                r = audit_target(t, s, data.pool.keep, forget=F_, nonmembers=H, members=np.setdiff1d(R, P), labels=y,
                                 attack="lira", attack_options={"mode": "online"}, random_state=seed).results
                p_values.setdefault((probe, name), []).append(r["p_value"])
                row.append(f"{probe} p = {r['p_value']:.3g}")
            print(f"seed {seed:2d}  {name:12s} " + "  ".join(row), flush=True)
    for probe in probes:
        for name in names:
            p = np.array(p_values[(probe, name)])
            print(f"{probe:9s} {name:12s} p < 0.01 in {int((p < 0.01).sum())}/{p.size}, median p {np.median(p):.3g}")
        if {"audit-aware", "retrain"} <= set(names):
            aw, rt = np.array(p_values[(probe, "audit-aware")]), np.array(p_values[(probe, "retrain")])
            print(f"{probe:9s} audit-aware's p below the retrain's in {int((aw < rt).sum())}/{aw.size} seeds")


if __name__ == "__main__":
    main()
