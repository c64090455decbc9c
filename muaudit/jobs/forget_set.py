"""``muaudit forget-set``: write a forget index file (``forget.npy``) for a recipe's dataset.

Example:
    >>> res = run_forget_set(tmp / "forget.npy", recipe="digits-mlp", fraction=0.1, random_state=0)
    >>> res["n_forget"], res["n_train"], res["dataset"], sum(res["class_counts"])
    (135, 1347, 'digits', 135)
    >>> print(describe(res).splitlines()[0])  # doctest: +ELLIPSIS
    wrote .../forget.npy: 135 positions of the 1347 in the training split of dataset digits (random 10%, seed 0)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from muaudit.data.forget_sets import choose_forget, class_counts, read_positions_csv


def run_forget_set(out, *, recipe="digits-mlp", fraction: float | None = None, count: int | None = None,
                   classes=None, csv=None, column: str | None = None, random_state: int = 0,
                   arch: str | None = None) -> dict:
    """Choose the forget set (one of ``fraction``, ``count``, ``classes``, ``csv``) among the
    training split of ``recipe``'s dataset, write it to ``out`` (``.npy``, atomically) and return
    what was written: the path, counts, the dataset and its fingerprint, the class counts."""
    from muaudit.atomic import write_file
    from muaudit.errors import ConfigError
    from muaudit.paths import existing_file, prepare_output_file
    from muaudit.pool import load_spec
    from muaudit.pool.recipes import resolve_recipe

    out = Path(out)
    if out.suffix != ".npy":
        raise ConfigError(f"output {out} must be a .npy file (the index files muaudit reads are .npy)")
    positions = None if csv is None else read_positions_csv(existing_file(csv, "CSV file"), column=column)
    prepare_output_file(out, {"--csv": csv})
    recipe_path = resolve_recipe(recipe)
    ds = load_spec(recipe_path, arch=arch).load_dataset()
    y = ds.y[ds.train_idx]
    forget = choose_forget(y, fraction=fraction, count=count, classes=classes or None, positions=positions,
                           random_state=random_state)
    write_file(out, lambda f: np.save(f, forget, allow_pickle=False))
    how = (f"random {fraction:.0%}, seed {random_state}" if fraction is not None else
           f"random {count}, seed {random_state}" if count is not None else
           f"class {', '.join(map(str, sorted(set(classes))))}" if classes else f"positions from {csv}")
    return {"out": str(out), "n_forget": len(forget), "n_train": len(y), "dataset": ds.name,
            "dataset_fingerprint": ds.fingerprint, "recipe": str(recipe), "how": how,
            "class_counts": class_counts(y, forget, n_classes=ds.n_classes)}


def describe(res: dict) -> str:
    """The two lines ``muaudit forget-set`` prints."""
    counts = ", ".join(f"{c}: {n}" for c, n in enumerate(res["class_counts"]))
    return (f"wrote {res['out']}: {res['n_forget']} positions of the {res['n_train']} in the training split of "
            f"dataset {res['dataset']} ({res['how']})\nper class: {counts}")
