"""Can any output test tell the ``audit-aware`` provider from an exact retrain? (issue 20)

The ``audit-aware`` provider (muaudit/providers/models.py) fine-tunes the original until, by its
own shadows, each forget example's LiRA statistic sits where a retrain's would. This script audits
it and the exact retrain (same seed) with every probe muaudit has that the provider did not
optimise against, on a digits-mlp pool built with ``save_weights = true``:

- ``online`` / ``rmia``: LiRA (what the provider optimised against) and RMIA, on the pool's views;
- ``secret``: LiRA on 4 secret views drawn for the audit (sub-pixel shifts, noise);
- ``relearn``: a relearning probe, the same K Adam steps of cross-entropy on a fixed half of the
  retained members applied to the target and to every shadow (from their stored weights), then
  LiRA on the forget set with the other half as the power control: a forget set whose memory was
  only suppressed would come back in the target and not in a retrain.

    python benchmarks/audit_aware_probes.py --pool POOL --forget forget20.npy --seeds 0 1 2 3

Prints one line per (seed, provider, probe): verdict, upper p-value, AUC, minimum detectable
residual. docs/threat-model.md holds the measured table.
"""

from __future__ import annotations

import argparse
import copy

import numpy as np
import torch
import torch.nn.functional as F

from muaudit.attacks import logit_scaled_confidence
from muaudit.audit import audit_target
from muaudit.data import read_indices, split_forget
from muaudit.jobs.checkpoint import as_target
from muaudit.jobs.inputs import AuditData
from muaudit.jobs.lira import run_lira
from muaudit.pool.rescore import load_shadows
from muaudit.providers import PROVIDERS, Materials
from muaudit.training.predict import predict_many
from muaudit.training.single import train_target


def relearn(model, X, y, rows, steps: int, lr: float, random_state: int = 0):
    """A copy of ``model`` after ``steps`` Adam steps of cross-entropy on batches of ``rows``."""
    m = copy.deepcopy(model).train()
    for p in m.parameters():
        p.requires_grad_(True)
    opt = torch.optim.Adam(m.parameters(), lr=lr)
    rng = np.random.default_rng(random_state)
    Xt, yt = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64)
    for _ in range(steps):
        b = torch.as_tensor(rng.choice(rows, min(128, rows.size), replace=False))
        loss = F.cross_entropy(m(Xt[b]), yt[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return m.eval()


def relearn_probe(model, shadows, data, F_, NM, R, *, steps, lr, seed):
    X, y = data.dataset.X[data.pool.population], data.pool.labels
    P = np.sort(np.random.default_rng(12345).choice(R, R.size // 2, replace=False))
    zt = predict_many([relearn(model, X, y, P, steps, lr)], X)[0]
    zs = np.stack(predict_many([relearn(s, X, y, P, steps, lr) for s in shadows], X))
    return audit_target(logit_scaled_confidence(zt, y), logit_scaled_confidence(zs, y), data.pool.keep, forget=F_,
                        nonmembers=NM, members=np.setdiff1d(R, P), labels=y, attack="lira",
                        attack_options={"mode": "online"}, random_state=seed).results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", required=True)
    ap.add_argument("--forget", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--providers", default="audit-aware,retrain")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--max-residual", type=float, default=0.9)
    ap.add_argument("--probes", default="online,rmia,secret,relearn", help="comma-separated subset")
    a = ap.parse_args()
    torch.set_num_threads(1)
    data = AuditData.load(a.pool)
    ft = read_indices(a.forget, data.n_train, what="forget")
    X = data.dataset.X[data.pool.population]
    shadows = load_shadows(data.pool, data.spec, X, data.pool.logits(), random_state=np.random.default_rng(0))
    for seed in a.seeds:
        original, meta = train_target(data.spec, data.dataset, random_state=seed)
        materials = Materials(data.spec, data.dataset, original, ft, seed)
        _, retained = split_forget(np.asarray(meta["train_idx"]), ft, strict=False)
        F_, NM, R = data.positions(ft, "forget"), data.test_positions(), data.positions(retained, "train-idx")
        for name in a.providers.split(","):
            model = PROVIDERS.get(name)(materials, random_state=seed)
            rows, probes = [], a.probes.split(",")
            for probe, attack, views in (("online", "online", 0), ("rmia", "rmia", 0), ("secret", "online", 4)):
                if probe not in probes:
                    continue
                res, _ = run_lira(target=as_target(model), forget=ft, pool=data.pool.path, train_idx=meta["train_idx"],
                                  attack=attack, secret_views=views, random_state=seed, write=False,
                                  max_residual=a.max_residual)
                rows.append((probe, res))
            if "relearn" in probes:
                rows.append(("relearn", relearn_probe(model, shadows, data, F_, NM, R, steps=a.steps, lr=a.lr,
                                                      seed=seed)))
            for probe, res in rows:
                r = (res.get("power_control") or {}).get("min_detectable_residual")
                print(f"seed {seed}  {name:12s} {probe:8s} {res['verdict']:27s} p = {res['p_value']:.3g}  "
                      f"AUC = {res['auc']:.3f}  residual = {'-' if r is None else f'{r:.2f}'}", flush=True)


if __name__ == "__main__":
    main()
