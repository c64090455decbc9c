"""``muaudit demo``: the end-to-end audit on built-in digits.

Build (or reuse) the default pool, train an "original" target on the whole training split and a
"retrained" one without a random 30% forget set (the smallest whose audit can pass on digits:
docs/power.md), audit both with LiRA, and render the HTML report.
The original must come out ``not unlearned`` and the retrained one ``consistent with retraining``.
A third target is the original unlearned with FT (fine-tuning on retain, a fraction of a second),
audited the same way (with ``--method ft`` U-LiRA when the pool has unlearned FT shadows); if the
pool has ``[[unlearn]]`` groups, the first one is also evaluated with U-LiRA (``muaudit ulira``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np

from muaudit.jobs.lira import run_lira
from muaudit.models import save_checkpoint
from muaudit.pool import Pool, build_pool, load_spec
from muaudit.progress import Progress
from muaudit.pool.recipes import RECIPES_DIR, default_pool_dir, resolve_recipe
from muaudit.report import render_html
from muaudit.training.single import train_target

DEFAULT_RECIPE = RECIPES_DIR / "digits-mlp.toml"

ProgressFor = Callable[[str], Optional[Progress]]


def run_demo(*, recipe=DEFAULT_RECIPE, pool=None, out="results/demo", forget_fraction: float = 0.3,
             random_state: int = 0, progress_for: ProgressFor | None = None, log: Callable[[str], None] = print,
             executor=None) -> dict:
    """Run the demo; return ``{name: results}`` for the audited targets and the report path.

    ``recipe``: a TOML path or a packaged recipe's name; the pool goes to ``pool`` (default:
    ``./shadow_models/NAME/`` for a packaged recipe, else beside the recipe file).
    ``progress_for(label)`` gives the ``progress(done, total)`` callback (or None) of each long
    phase: the pool build, each target's training, the U-LiRA evaluation. ``executor`` (a
    :mod:`muaudit.execution` executor) builds the pool when it is not built (default: in this process).

    Example:
        (Trains three targets and renders a report, half a minute even on the tiny pool;
        ``tests/test_digits_audit.py`` runs it on the default pool.)

        >>> res = run_demo(recipe=recipe, pool=pool_dir, out=tmp / "demo")   # doctest: +SKIP
        >>> res["original"]["verdict"]                                        # doctest: +SKIP
        'not unlearned'
    """
    progress_for = progress_for or (lambda label: None)
    recipe = resolve_recipe(recipe)
    spec = load_spec(recipe)
    pool_dir = Path(pool) if pool else default_pool_dir(recipe)
    if not _complete(pool_dir):
        log(f"building the shadow pool {pool_dir} ({spec.n_models} models; resumable if interrupted) ...")
        build_pool(spec, pool_dir, progress=progress_for("training shadow pool"), executor=executor)
    from muaudit.atomic import write_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ds = spec.load_dataset()
    rng = np.random.default_rng(random_state)
    n_train = len(ds.train_idx)
    forget = np.sort(rng.choice(n_train, int(round(forget_fraction * n_train)), replace=False))
    write_file(out / "forget.npy", lambda f: np.save(f, forget, allow_pickle=False))  # whole or not at all
    targets = {"original": None, "retrained": forget}
    results = {}
    for name, exclude in targets.items():
        log(f"training the {name} target ...")
        model, meta = train_target(spec, ds, exclude=exclude, random_state=10_000 + random_state,
                                   progress=progress_for(f"training the {name} target (epochs)"))
        save_checkpoint(out / f"{name}.pt", model, meta)
        res, _ = run_lira(target=out / f"{name}.pt", forget=out / "forget.npy", pool=pool_dir, out=out / name)
        results[name] = res
        log(f"{name}: {res['verdict']} (AUC {res['auc']:.3f}, p = {res['p_value']:.2g})")
    folders = [out / name for name in targets] + _unlearning_demo(spec, ds, pool_dir, out, forget, random_state, results, log,
                                                                  progress_for)
    results["report"] = str(render_html(folders, out / "report.html"))
    return results


def _complete(pool_dir: Path) -> bool:
    if not (pool_dir / "pool.h5").exists():
        return False
    p = Pool(pool_dir)
    return bool(p.done.all() and all(g.done.all() for g in p.groups.values()))


def _unlearning_demo(spec, ds, pool_dir, out, forget, seed, results, log, progress_for) -> list[Path]:
    """Audit an FT-unlearned original, and evaluate the pool's first unlearned group with U-LiRA."""
    from muaudit.jobs.ulira import run_ulira
    from muaudit.models import load_checkpoint
    from muaudit.unlearning import run_unlearning
    from muaudit.jobs.unlearn import split_data

    model, meta = load_checkpoint(out / "original.pt")
    f, r, _, retain_pos = split_data(ds, np.asarray(meta["train_idx"]), forget, augment=spec.train.augment)
    res = run_unlearning("ft", model, f, r, random_state=seed, meta=meta)
    save_checkpoint(out / "ft-unlearned.pt", res.model, {**meta, "train_idx": retain_pos.tolist(),
                                                         "unlearning": {"method": "ft", "cost": res.cost}})
    groups = Pool(pool_dir).unlearned
    method = "ft" if "ft" in groups else None
    results["ft-unlearned"], _ = run_lira(target=out / "ft-unlearned.pt", forget=out / "forget.npy", pool=pool_dir,
                                          out=out / "ft-unlearned", method=method)
    r = results["ft-unlearned"]
    log(f"ft-unlearned ({'U-LiRA' if method else 'LiRA'}): {r['verdict']} (AUC {r['auc']:.3f}, p = {r['p_value']:.2g})")
    folders = [out / "ft-unlearned"]
    if groups:
        name = sorted(groups)[0]
        log(f"evaluating the pool's unlearned shadows of {name!r} with U-LiRA ...")
        results["ulira"], folder = run_ulira(pool=pool_dir, method=name, out=out / f"ulira-{name}",
                                             progress=progress_for("U-LiRA (held-out targets)"))
        log(f"ulira {name}: {results['ulira']['verdict']} (AUC {results['ulira']['auc']:.3f})")
        folders.append(folder)
    return folders
