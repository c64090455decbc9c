"""``muaudit pool verify``: check every committed row of every group against its sha256, and the
design (keep matrix, seeds, the groups' forget matrices) against the stored seeds."""

from __future__ import annotations

import numpy as np

from muaudit.errors import PoolError
from muaudit.pool.layout import row_checksum
from muaudit.pool.reader import Pool
from muaudit.pool.validate import _ids


def bad_rows(pool: Pool) -> dict[str, list[int]]:
    """``{group: [models]}`` of committed rows that fail their checksum or are not finite
    (group ``"base"`` for the base shadows); read one row at a time."""
    bad = {}
    for group in [None, *pool.groups]:
        stored = pool._checksums[group or ""]
        for m in np.flatnonzero(pool.done_of(group)):
            try:
                row = pool.logits([m], group=group, verify=False)[0]
            except PoolError:
                ok = False
            else:
                ok = np.isfinite(row).all() and (stored is None or np.array_equal(row_checksum(row), stored[m]))
            if not ok:
                bad.setdefault(group or "base", []).append(int(m))
    return bad


def verify_pool(path) -> dict:
    """Check everything; return a summary (``rows_checked``, ``digest``, ...) or raise
    :class:`PoolError` naming the models whose rows fail."""
    pool = Pool(path)  # validates the header, the arrays' shapes and types, the keep, seeds and forget matrices
    bad = bad_rows(pool)
    if bad:
        where = "; ".join(f"{g}: models {_ids(ms)}" for g, ms in bad.items())
        raise PoolError(f"pool {pool.path}: rows fail their checksum ({where}); the file was damaged or "
                        "edited; rebuild it")
    rows = int(pool.done.sum()) + sum(int(g.done.sum()) for g in pool.groups.values())
    return {"path": str(pool.path), "ok": True, "schema_version": pool.schema_version,
            "checksums": "sha256" if pool.schema_version >= 2 else "none stored (schema version 1)",
            "n_models": pool.n_models, "n_done": pool.n_done, "groups": sorted(pool.groups),
            "rows_checked": rows, "design": "keep matrix, seeds and forget matrices match the stored seeds",
            "digest": pool.digest()}


def format_verify(s: dict) -> str:
    """One line: ``pool P: ok, 16 rows verified (sha256; 16/16 models done, 2 groups); design matches; digest ...``."""
    return (f"pool {s['path']}: ok, {s['rows_checked']} rows verified ({s['checksums']}; {s['n_done']}/{s['n_models']} "
            f"models done, {len(s['groups'])} groups); design matches its seeds; digest {s['digest']}")
