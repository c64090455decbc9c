"""``muaudit demo``: the end-to-end audit on built-in digits.

Build (or reuse) the default pool, train an "original" target on the whole training split and a
"retrained" one without a random 10% forget set, audit both with LiRA, and render the HTML report.
The original must come out ``not unlearned`` and the retrained one ``consistent with retraining``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from muaudit.audit.lira import run_lira
from muaudit.models import save_checkpoint
from muaudit.pool import Pool, build_pool, load_spec
from muaudit.report import render_html
from muaudit.training.single import train_target

DEFAULT_RECIPE = Path("shadow_models/digits-mlp.toml")


def run_demo(*, recipe=DEFAULT_RECIPE, pool=None, out="results/demo", forget_fraction: float = 0.1,
             seed: int = 0, progress: Callable | None = None, log: Callable[[str], None] = print) -> dict:
    """Run the demo; return ``{name: results}`` for the audited targets and the report path."""
    spec = load_spec(recipe)
    pool_dir = Path(pool) if pool else Path(recipe).with_suffix("")
    if not (pool_dir / "pool.h5").exists() or not Pool(pool_dir).done.all():
        log(f"building the shadow pool {pool_dir} ({spec.n_models} models; resumable if interrupted) ...")
        build_pool(spec, pool_dir, progress=progress)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ds = spec.load_dataset()
    rng = np.random.default_rng(seed)
    n_train = len(ds.train_idx)
    forget = np.sort(rng.choice(n_train, int(round(forget_fraction * n_train)), replace=False))
    np.save(out / "forget.npy", forget)
    targets = {"original": None, "retrained": forget}
    results = {}
    for name, exclude in targets.items():
        log(f"training the {name} target ...")
        model, meta = train_target(spec, ds, exclude=exclude, seed=10_000 + seed)
        save_checkpoint(out / f"{name}.pt", model, meta)
        res, _ = run_lira(target=out / f"{name}.pt", forget=out / "forget.npy", pool=pool_dir, out=out / name)
        results[name] = res
        log(f"{name}: {res['verdict']} (AUC {res['auc']:.3f}, p = {res['p_value']:.2g})")
    results["report"] = str(render_html([out / name for name in targets], out / "report.html"))
    return results
