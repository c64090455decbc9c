"""Audits broken down by slice: where in the forget set the leak sits.

The verdict is one decision on the whole forget set; this table says where the leak is (as
TensorFlow Privacy's membership-inference report does). Three families of slices, each a partition
of the audited examples:

- ``class``: the example's label;
- ``correct``: whether the target classifies the example correctly (top-1 of the first view);
- ``difficulty``: deciles of the pool's per-example difficulty, the mean phi of the shadows that
  never trained on the example (low = hard: atypical examples and outliers). The cut points are
  the deciles of this value over the audited rows (forget and non-members together).

Each row compares the forget examples of the slice with the non-members of the same slice: sizes,
AUC (bootstrap interval) and TPR at 1% FPR (Clopper-Pearson interval), from :mod:`muaudit.metrics`.

**Which slices leak more.** Every forget example gets its *placement* in its slice: the fraction of
the slice's non-members that score below it (ties count half), so a slice's AUC is the mean
placement of its forget examples. A slice leaks more than the whole when its forget examples place
higher than the rest of the forget set: a one-sided permutation test of the mean placement, slice
vs rest (one shuffle of the forget set's placements serves every slice of a family; sequential,
see :func:`_family_p_values`). The p-values of all tested rows
(every family together) are adjusted by Holm's step-down method, which bounds the family-wise
error rate by ``alpha`` under any dependence between the tests; a row is marked ``leaks_more`` when
its adjusted p-value is below ``alpha``. A row with no forget examples or no non-members is reported
with empty metrics (None, never NaN) and is not tested; a row empty on both sides is omitted.
"""

from __future__ import annotations

import numpy as np

from muaudit.checks import check_finite, check_positive_int, check_unit_interval
from muaudit.errors import DataError
from muaudit.metrics import auc, bootstrap_auc_ci, tpr_at_fpr_block

FAMILIES = ("class", "correct", "difficulty")
CORRECTION = "Holm step-down over every tested slice row (family-wise error rate <= alpha)"
TEST = ("one-sided permutation test, slice vs rest of the forget set, of the mean placement of forget "
        "examples among the non-members of their own slice (a slice's AUC is its mean placement)")


def out_confidence(shadow_phi, keep) -> np.ndarray:
    """Per-example difficulty: the mean phi over the shadows that did not train on the example.

    ``shadow_phi`` is ``[M, n]`` or ``[M, n, V]`` (views are averaged), ``keep`` bool ``[M, n]``.
    An example every shadow trained on has no OUT shadow: its value is NaN (it falls in no decile).

    Example:
        >>> out_confidence(np.array([[1.0, 5.0], [3.0, 7.0]]), np.array([[True, False], [False, False]])).tolist()
        [3.0, 6.0]
    """
    phi = np.asarray(shadow_phi, np.float64)
    phi = phi.mean(axis=2) if phi.ndim == 3 else phi
    keep = np.asarray(keep, bool)
    if phi.ndim != 2 or keep.shape != phi.shape:
        raise DataError(f"Expected shadow phi [M, n] and keep of the same shape, got {phi.shape} and {keep.shape}")
    out = ~keep
    count = out.sum(0)
    total = np.where(out, phi, 0.0).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def difficulty_from_logits(shadow_logits, keep, labels, rows) -> np.ndarray:
    """:func:`out_confidence` of the examples ``rows`` from the shadows' logits ``[M, N, V, C]``
    (phi is computed for those rows only). Returns float ``[len(rows)]``.

    Example:
        >>> z = np.zeros((2, 3, 1, 2)); z[1, :, 0, 0] = 2.0          # shadow 1 is confident in class 0
        >>> keep = np.array([[True, True, False], [False, False, True]])
        >>> difficulty_from_logits(z, keep, np.array([0, 0, 1]), np.array([0, 2])).round(1).tolist()
        [2.0, 0.0]
    """
    from muaudit.attacks import logit_scaled_confidence

    rows = np.asarray(rows, np.int64)
    labels = np.asarray(labels)
    phi = logit_scaled_confidence(np.asarray(shadow_logits)[:, rows], labels[rows][None])
    return out_confidence(phi, np.asarray(keep)[:, rows])


def _check_codes(name: str, values, n: int) -> np.ndarray:
    a = np.asarray(values)
    if a.shape != (n,):
        raise DataError(f"Expected `{name}` of shape ({n},), got {a.shape}")
    return a


def build_slices(n: int, rows, *, labels=None, correct=None, difficulty=None, n_bins: int = 10) -> list[dict]:
    """The slices of ``n`` examples as ``{"family", "slice", "label", "mask" [n] bool}`` (plus ``range``
    for difficulty deciles); the deciles' cut points come from the examples ``rows``.

    Example:
        >>> s = build_slices(4, np.arange(4), labels=np.array([0, 1, 1, 0]), correct=np.array([1, 1, 0, 1], bool))
        >>> [(d["family"], d["slice"], int(d["mask"].sum())) for d in s]
        [('class', '0', 2), ('class', '1', 2), ('correct', 'correct', 3), ('correct', 'wrong', 1)]
    """
    n_bins = check_positive_int("n_bins", n_bins)
    out = []
    if labels is not None:
        lab = _check_codes("labels", labels, n)
        out += [{"family": "class", "slice": str(c), "label": f"class {c}", "mask": lab == c} for c in np.unique(lab)]
    if correct is not None:
        ok = _check_codes("correct", correct, n).astype(bool)
        out += [{"family": "correct", "slice": s, "label": f"{s} on the target", "mask": m}
                for s, m in (("correct", ok), ("wrong", ~ok))]
    if difficulty is not None:
        out += _deciles(_check_codes("difficulty", difficulty, n).astype(np.float64), np.asarray(rows), n_bins)
    return out


def _deciles(d: np.ndarray, rows: np.ndarray, n_bins: int) -> list[dict]:
    finite = np.isfinite(d)
    ref = d[rows][finite[rows]]
    if not ref.size:
        return []
    edges = np.quantile(ref, np.linspace(0.0, 1.0, n_bins + 1))
    codes = np.clip(np.searchsorted(edges, d, side="right") - 1, 0, n_bins - 1)
    hard = " (hardest)" if n_bins > 1 else ""
    return [{"family": "difficulty", "slice": str(b + 1), "label": f"difficulty {b + 1}/{n_bins}{hard if b == 0 else ''}",
             "range": [float(edges[b]), float(edges[b + 1])], "mask": finite & (codes == b)} for b in range(n_bins)]


def placements(scores, forget, nonmembers, mask) -> np.ndarray:
    """Placement of each forget example of slice ``mask`` among the slice's non-members: the fraction
    scoring below it (ties half). Their mean is the slice's AUC.

    Example:
        >>> placements(np.array([3.0, 1.0, 0.0, 2.0, 1.0]), [0, 1], [2, 3, 4], np.ones(5, bool)).tolist()
        [1.0, 0.5]
    """
    s = np.asarray(scores, np.float64)
    f, nm = np.asarray(forget)[mask[forget]], np.asarray(nonmembers)[mask[nonmembers]]
    ref = np.sort(s[nm])
    below = np.searchsorted(ref, s[f], side="left")
    ties = np.searchsorted(ref, s[f], side="right") - below
    return (below + 0.5 * ties) / max(ref.size, 1)


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (monotone, capped at 1).

    Example:
        >>> holm([0.01, 0.04, 0.03]).tolist()
        [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, np.float64)
    m = p.size
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return out


def _row(sl: dict, s: np.ndarray, F: np.ndarray, NM: np.ndarray, *, fpr, level, n_bootstrap, random_state) -> dict:
    f, nm = s[F[sl["mask"][F]]], s[NM[sl["mask"][NM]]]
    row = {k: v for k, v in sl.items() if k != "mask"}
    row.update(n_forget=int(f.size), n_nonmembers=int(nm.size), auc=None, auc_ci=None, tpr_at_fpr=None,
               p_value=None, p_adjusted=None, leaks_more=False)
    if not f.size or not nm.size:
        row["empty"] = "no forget examples" if not f.size else "no non-members"
        return row
    both, lab = np.r_[f, nm], np.r_[np.ones(f.size, bool), np.zeros(nm.size, bool)]
    row["auc"] = auc(lab, both)
    row["auc_ci"] = list(bootstrap_auc_ci(lab, both, level=level, n_bootstrap=n_bootstrap, random_state=random_state))
    row["tpr_at_fpr"] = tpr_at_fpr_block(lab, both, (fpr,), level=level)[f"{fpr:g}"]
    return row


SEQUENTIAL_STOP = 10  # Besag-Clifford: a slice's shuffles stop at this many exceedances


def _family_p_values(u: np.ndarray, codes: np.ndarray, n_slices: int, *, n_permutations: int,
                     rng: np.random.Generator, h: int = SEQUENTIAL_STOP) -> np.ndarray:
    """One-sided permutation p-values of every slice of one family at once: the forget examples'
    placements ``u`` (slice ``codes``) are shuffled, and each slice's sum is compared with the sum of
    the same number of shuffled values; one shuffle serves every slice of the partition (each slice's
    null is that of slice vs rest). Sequential (Besag and Clifford 1991): a slice whose ``h``-th
    exceedance comes at shuffle L gets ``p = h / L`` (a valid p-value; clearly unremarkable slices
    stop after a few dozen shuffles); the others ``p = (1 + #{perm >= obs}) / (1 + n_permutations)``.
    The shuffles stop when every slice has its p-value."""
    onehot = np.zeros((u.size, n_slices))
    onehot[np.arange(u.size), codes] = 1.0
    obs = u @ onehot
    tol = 1e-9 * (float(np.abs(u).max(initial=0.0)) + 1.0) * u.size
    count, stop_at, done = np.zeros(n_slices), np.zeros(n_slices), 0
    cap = max(1, (1 << 22) // max(u.size, 1))
    while done < n_permutations and (stop_at == 0).any():
        n = min(cap, max(100, done), n_permutations - done)  # growing chunks: early stops stay cheap
        shuffled = rng.permuted(np.broadcast_to(u, (n, u.size)), axis=1)
        cum = count + np.cumsum(shuffled @ onehot - obs >= -tol, axis=0)
        for j in np.flatnonzero((stop_at == 0) & (cum[-1] >= h)):
            stop_at[j] = done + 1 + int(np.argmax(cum[:, j] >= h))
        count, done = cum[-1], done + n
    return np.where(stop_at > 0, h / np.maximum(stop_at, 1), (1.0 + count) / (1.0 + n_permutations))


def _test_rows(rows: list[dict], slices: list[dict], scores, F, NM, *, alpha, n_permutations, random_state) -> int:
    """Fill p_value / p_adjusted / leaks_more of the testable rows in place; return how many were tested."""
    for k, fam in enumerate(FAMILIES):
        idx = [i for i, sl in enumerate(slices) if sl["family"] == fam and rows[i]["auc"] is not None]
        u, codes = np.full(F.size, np.nan), np.full(F.size, -1)  # each forget example's placement in its slice
        for j, i in enumerate(idx):
            in_s = slices[i]["mask"][F]
            u[in_s], codes[in_s] = placements(scores, F, NM, slices[i]["mask"]), j
        ok = codes >= 0
        if len(idx) < 2:  # a slice holding every tested forget example has no rest to compare with
            continue
        p = _family_p_values(u[ok], codes[ok], len(idx), n_permutations=n_permutations,
                             rng=np.random.default_rng([random_state, k]))
        for j, i in enumerate(idx):
            rows[i]["p_value"] = float(p[j])
    tested = [i for i, r in enumerate(rows) if r["p_value"] is not None]
    for i, p in zip(tested, holm([rows[i]["p_value"] for i in tested])):
        rows[i]["p_adjusted"] = float(p)
        rows[i]["leaks_more"] = bool(p < alpha)
    return len(tested)


def _rows_of(forget, nonmembers, n: int) -> tuple[np.ndarray, np.ndarray]:
    F, NM = (np.asarray(a).reshape(-1) for a in (forget, nonmembers))
    if not F.size or not NM.size:
        raise DataError("Expected a non-empty forget set and non-empty non-members for the slice table")
    if not (np.issubdtype(F.dtype, np.integer) and np.issubdtype(NM.dtype, np.integer)):
        raise DataError(f"Expected integer forget and non-member rows, got {F.dtype} and {NM.dtype}")
    if min(F.min(), NM.min()) < 0 or max(F.max(), NM.max()) >= n:
        raise DataError(f"Expected forget and non-member rows in [0, {n})")
    return F.astype(np.int64), NM.astype(np.int64)


def slice_table(scores, forget, nonmembers, slices: list[dict], *, alpha: float = 0.05, fpr: float = 0.01,
                level: float = 0.95, n_bootstrap: int = 1000, n_permutations: int = 9999,
                random_state: int = 0) -> dict:
    """The per-slice table of an audit (see the module text): JSON-ready, no NaN.

    ``scores`` ``[N]`` (higher = member), ``forget`` / ``nonmembers`` row indices, ``slices`` from
    :func:`build_slices`. Returns ``{"rows", "leaking", "n_tested", "test", "correction", "alpha",
    "fpr", "whole"}``; ``leaking`` lists the labels of the marked rows.

    Example:
        A leak planted in class 1 only (its forget examples score 3 higher):

        >>> rng = np.random.default_rng(0)
        >>> labels = np.arange(1200) % 3
        >>> F, NM = np.arange(300), np.arange(300, 1200)
        >>> scores = rng.normal(0, 1, 1200) + 3.0 * ((labels == 1) & (np.arange(1200) < 300))
        >>> table = slice_table(scores, F, NM, build_slices(1200, np.r_[F, NM], labels=labels), n_permutations=999)
        >>> table["leaking"], [round(r["auc"], 2) for r in table["rows"]]
        (['class 1'], [0.51, 0.99, 0.49])
    """
    alpha, fpr = check_unit_interval("alpha", alpha), check_unit_interval("fpr", fpr)
    s = np.asarray(scores, np.float64)
    if s.ndim != 1:
        raise DataError(f"Expected `scores` of shape [N], got {s.shape}")
    check_finite("scores", s)
    F, NM = _rows_of(forget, nonmembers, s.size)
    for sl in slices:
        if np.shape(sl.get("mask")) != s.shape:
            raise DataError(f"Expected every slice mask of shape ({s.size},), got {np.shape(sl.get('mask'))}")
    opts = {"fpr": fpr, "level": level, "n_bootstrap": n_bootstrap, "random_state": random_state}
    kept = [sl for sl in slices if sl["mask"][F].any() or sl["mask"][NM].any()]
    rows = [_row(sl, s, F, NM, **opts) for sl in kept]
    n_tested = _test_rows(rows, kept, s, F, NM, alpha=alpha, n_permutations=n_permutations, random_state=random_state)
    whole = {"n_forget": int(F.size), "n_nonmembers": int(NM.size),
             "auc": auc(np.r_[np.ones(F.size, bool), np.zeros(NM.size, bool)], np.r_[s[F], s[NM]])}
    return {"rows": rows, "leaking": [r["label"] for r in rows if r["leaks_more"]], "n_tested": n_tested,
            "test": TEST, "correction": CORRECTION, "alpha": alpha, "fpr": fpr, "whole": whole}


def audit_slices(scores, forget, nonmembers, *, labels, target_logits=None, shadow_logits=None, keep=None,
                 alpha: float = 0.05, random_state: int = 0, shadow_phi=None, **options) -> dict:
    """The slice table of an audit from what a LiRA audit has: labels ``[N]``, the target's logits
    ``[N, V, C]`` (correctness; None: no ``correct`` slices), and the shadows' logits ``[M, N, V, C]``
    with ``keep`` (difficulty; None: no ``difficulty`` slices), or instead of those logits the
    shadows' phi ``[M, N, V]`` (``shadow_phi``, e.g. :meth:`muaudit.pool.Pool.phi`: no classes read).
    ``options`` go to :func:`slice_table`.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> N, labels = 400, np.arange(400) % 2
        >>> z = rng.normal(0, 1, (N, 1, 2)); shadows = rng.normal(0, 1, (4, N, 1, 2))
        >>> keep = np.arange(4)[:, None] % 2 == np.arange(N)[None] % 2
        >>> t = audit_slices(rng.normal(0, 1, N), np.arange(100), np.arange(100, 400), labels=labels,
        ...                  target_logits=z, shadow_logits=shadows, keep=keep, n_permutations=99)
        >>> sorted({r["family"] for r in t["rows"]}), t["leaking"]
        (['class', 'correct', 'difficulty'], [])
    """
    N = np.size(scores)
    rows = np.r_[_rows_of(forget, nonmembers, N)]
    lab = _check_codes("labels", labels, N)
    correct = difficulty = None
    if target_logits is not None:
        z = np.asarray(target_logits)
        if z.ndim != 3 or z.shape[0] != N:
            raise DataError(f"Expected target logits [{N}, V, C], got {z.shape}")
        correct = z[:, 0].argmax(-1) == lab
    if shadow_phi is not None and keep is not None:
        difficulty = np.full(N, np.nan)
        difficulty[rows] = out_confidence(np.asarray(shadow_phi)[:, rows], np.asarray(keep)[:, rows])
    elif shadow_logits is not None and keep is not None:
        difficulty = np.full(N, np.nan)
        difficulty[rows] = difficulty_from_logits(shadow_logits, keep, lab, rows)
    sl = build_slices(N, rows, labels=lab, correct=correct, difficulty=difficulty)
    return slice_table(scores, forget, nonmembers, sl, alpha=alpha, random_state=random_state, **options)
