"""``muaudit pool verify``: check every part of a pool and say which differ: the design (keep
matrix, seeds, the groups' forget matrices) against the stored seeds, the content checksums of
every part under the digest (:mod:`muaudit.pool.digest`), the population, labels and split
against the dataset (when it can be loaded here), and every committed row of every group
against its checksum (and, version 4, its stored signals against theirs and against the signals
its logits give)."""

from __future__ import annotations

import numpy as np

from muaudit.errors import MuauditError, PoolError
from muaudit.pool.reader import Pool, dataset_problems
from muaudit.pool.signals import row_signals
from muaudit.pool.validate import first_line, rebuild_advice

CHECKSUMS = {1: "none stored (schema version 1)",
             2: "sha256 of the logits, not bound to their model (schema version 2; `muaudit pool build` migrates it)",
             3: "sha256 bound to model and group; no stored signals (schema version 3; `muaudit pool build` migrates it)",
             4: "sha256 of logits and signals bound to model and group"}


def bad_rows(pool: Pool, *, labels_ok: bool = True) -> dict[str, list[int]]:
    """``{group: [models]}`` of committed rows that fail their checksum or are not finite, or
    whose stored signals fail theirs or (``labels_ok``: the labels passed their own checks) are
    not the ones the row gives (group ``"base"`` for the base shadows); read one row at a time."""
    bad = {}
    for group in [None, *pool.groups]:
        for m in np.flatnonzero(pool.done_of(group)):
            try:
                row = pool.logits([m], group=group, verify=False)[0]
            except PoolError:
                ok = False
            else:
                ok = pool.row_ok(row, int(m), group) and _signals_ok(pool, row, int(m), group, labels_ok)
            if not ok:
                bad.setdefault(group or "base", []).append(int(m))
    return bad


def _signals_ok(pool: Pool, row: np.ndarray, m: int, group: str | None, labels_ok: bool) -> bool:
    """Version 4: the stored signals of row ``m`` pass their checksum and are the ones its logits
    give with the pool's labels (forged labels are named as such instead, by their own check)."""
    if not pool.has_signals:
        return True
    try:
        phi, correct = (a[0] for a in pool.signals([m], group=group))
    except PoolError:
        return False
    if not labels_ok:
        return True
    want_phi, want_correct = row_signals(row, pool.labels)
    return bool(np.array_equal(phi, want_phi) and np.array_equal(correct, want_correct))


def check_against_dataset(pool: Pool, problems: dict) -> str:
    """Compare population, labels and split with the recipe's dataset; returns what was checked."""
    from muaudit.pool.spec import PoolSpec

    try:
        ds = PoolSpec.from_dict(pool.spec).load_dataset()
    except MuauditError as e:
        return f"not checked against the dataset (it cannot be loaded here: {first_line(e)})"
    if ds.fingerprint != pool.fingerprint:
        return f"not checked against the dataset (the local {ds.name} has another fingerprint)"
    problems.update({k: why for k, why in dataset_problems(pool, ds).items() if k not in problems})
    return f"match dataset {ds.name}"


def verify_pool(path) -> dict:
    """Check everything; return a summary (``rows_checked``, ``digest``, ``parts``, ...) or raise
    :class:`PoolError` naming every part that fails (``labels``, ``keep``, ``row 3 of logits``, ...)."""
    problems: dict[str, str] = {}
    pool = Pool(path, problems=problems)  # structure first (raises); content problems are collected
    data = check_against_dataset(pool, problems)
    for group, ms in bad_rows(pool, labels_ok="labels" not in problems).items():
        where = "logits" if group == "base" else f"{group}/logits"
        for m in ms:
            problems[f"row {m} of {where}"] = "fails its checksum"
    if problems:
        what = "; ".join(f"{part}: {why}" for part, why in problems.items())
        n = len(problems)
        raise PoolError(f"pool {pool.path} fails verification in {n} part{'s' if n > 1 else ''}: {what}; "
                        f"{rebuild_advice(pool.path)}")
    rows = int(pool.done.sum()) + sum(int(g.done.sum()) for g in pool.groups.values())
    return {"path": str(pool.path), "ok": True, "schema_version": pool.schema_version,
            "checksums": CHECKSUMS[pool.schema_version], "n_models": pool.n_models, "n_done": pool.n_done,
            "groups": sorted(pool.groups), "rows_checked": rows, "dataset": data,
            "design": "keep matrix, seeds and forget matrices match the stored seeds",
            "parts": pool.parts, "digest": pool.digest()}


def format_verify(s: dict) -> str:
    """One line: ``pool P: ok, 16 rows verified (sha256 ...; 16/16 models done, 2 groups); ...; digest ...``."""
    return (f"pool {s['path']}: ok, {s['rows_checked']} rows verified ({s['checksums']}; {s['n_done']}/{s['n_models']} "
            f"models done, {len(s['groups'])} groups); design matches its seeds; population, labels and split "
            f"{s['dataset']}; digest {s['digest']}")
