"""How much memorisation an audit could have caught: its power and its minimum detectable residual.

Both simulate forget sets from the target's own scores: the power control draws ``|F|`` retained
members (a forget set remembered as well as the members), the residual search draws mixtures (a
fraction r of members, 1 - r of non-members, which then leave the comparison set) and finds the
smallest r that the audit's test rejects with the wanted probability. Draws follow a
:class:`~muaudit.audit.strata.Design` (the forget set's class counts when the test is stratified;
one stratum otherwise).
"""

from __future__ import annotations

import numpy as np

from muaudit.audit.permutation import one_sided_p_values
from muaudit.audit.strata import Design, allocate, draw_rows


def single_stratum(size: int, n_members: int) -> Design:
    """The design of an unstratified test: one class 0 of ``min(size, n_members)`` examples."""
    return Design(np.array([0]), np.array([min(size, n_members)]), True)


def estimate_power(member_scores, nonmember_scores, size: int | None = None, *, alpha: float, n_draws: int,
                   random_state: int | np.random.Generator, design: Design | None = None, member_labels=None,
                   nonmember_labels=None) -> float:
    """Fraction of ``n_draws`` simulated remembered forget sets whose one-sided test rejects at ``alpha``.

    Each draw is ``size`` random members (or, with a stratified ``design``, per class its count of
    members of that class, tested within class strata against ``nonmember_labels``). It estimates
    the probability that the test would catch a forget set the target still remembers as well as
    its retained members. ``random_state``: a seed or a ``numpy.random.Generator`` (drawn from, so
    successive calls with one generator draw different subsets).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> estimate_power(rng.normal(2, 1, 100), rng.normal(0, 1, 200), 10, alpha=0.01, n_draws=20, random_state=rng)
        1.0
    """
    rng = np.random.default_rng(random_state)
    m, nm = np.asarray(member_scores, np.float64), np.asarray(nonmember_scores, np.float64)
    if design is None:
        design, member_labels, nonmember_labels = single_stratum(size, m.size), None, None
    ml = np.zeros(m.size, int) if member_labels is None else np.asarray(member_labels)
    rows = draw_rows(ml, design, n_draws, rng)
    strata = None if nonmember_labels is None else (design.strata, np.asarray(nonmember_labels))
    p = one_sided_p_values(m[rows], nm, n_permutations=1_000, random_state=int(rng.integers(2**31)), strata=strata)
    return float(np.mean(p < alpha))


class _MixtureDraws:
    """Common random numbers for the mixtures of every r: per draw and class, a fixed order of the
    members and of the non-members; a mixture with m_c members takes the first m_c members and
    the first k_c - m_c non-members.

    While a class's count is at most half of its non-members, the mixture's non-members leave the
    comparison set (disjoint sets, as in the audit). A larger forget set (e.g. 30% of digits'
    training split against its 450 test examples) would leave too few: its non-member part is then
    drawn WITH replacement from the class's non-members and compared with all of them
    (``resampled``). Sharing values between the two sides makes the difference of means vary
    less than the permutation null assumes, so the test rejects less often: the simulated power
    is an underestimate and r an upper bound, as before, but at the forget set's real size.
    """

    def __init__(self, m_scores, m_labels, nm_scores, nm_labels, design: Design, n_draws: int, rng):
        self.design, self.parts, self.capped, self.resampled = design, [], False, False
        for c, k in zip(design.classes, design.counts):
            ms, ns = m_scores[m_labels == c], nm_scores[nm_labels == c]
            mx = np.array([rng.permutation(ms)[:k] for _ in range(n_draws)]).reshape(n_draws, -1)
            if k <= ns.size // 2:
                nx = np.array([rng.permutation(ns) for _ in range(n_draws)]).reshape(n_draws, ns.size)
                self.parts.append((mx, nx, None))
            else:
                self.resampled = True
                boot = rng.choice(ns, size=(n_draws, k), replace=True) if ns.size else np.zeros((n_draws, 0))
                self.parts.append((mx, boot, np.broadcast_to(ns, (n_draws, ns.size))))

    def feasible(self) -> bool:
        """Every class has members for its count and keeps a comparison set when the whole set is non-members."""
        return self.design.counts.sum() > 0 and all(
            mx.shape[1] >= k and (ny.shape[1] > 0 if ny is not None else nx.shape[1] > k)
            for (mx, nx, ny), k in zip(self.parts, self.design.counts))

    def mixture(self, r: float):
        """``x [B, k]``, ``y [B, n']`` and the strata of x's and y's columns for a fraction ``r``."""
        k = self.design.counts
        m = allocate(int(round(r * k.sum())), k)
        xs, ys, sx, sy = [], [], [], []
        for c, (mx, nx, ny), kc, mc in zip(self.design.classes, self.parts, k, m):
            xs += [mx[:, :mc], nx[:, :kc - mc]]
            comp = nx[:, kc - mc:] if ny is None else ny
            ys.append(comp)
            sx.append(np.full(kc, c))
            sy.append(np.full(comp.shape[1], c))
        return np.concatenate(xs, 1), np.concatenate(ys, 1), np.concatenate(sx), np.concatenate(sy)


def min_detectable_residual(member_scores, nonmember_scores, design: Design, *, alpha: float,
                            member_labels=None, nonmember_labels=None, target_power: float = 0.95,
                            n_draws: int = 100, n_permutations: int = 500, steps: int = 6,
                            random_state: int = 0) -> dict:
    """The smallest fraction r of members' signal that the test catches with ``target_power``.

    A simulated forget set of the design's size holds a fraction r of retained members and 1 - r
    of non-members (removed from the comparison set); its power is the fraction of ``n_draws``
    draws rejected at ``alpha``. Bisection over r in [0, 1] (``steps`` halvings, common random
    numbers across r) returns the upper end of the last bracket, so ``r`` is an upper bound up to
    the simulation's noise (resolution 2**-steps). ``r`` is None when even r = 1 falls short of
    ``target_power``, or when there are too few non-members to simulate (``reason`` says which).
    A class whose count exceeds half of its non-members draws the mixture's non-members with
    replacement (``resampled``; see :class:`_MixtureDraws`: still an upper bound on r).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> res = min_detectable_residual(rng.normal(3, 1, 300), rng.normal(0, 1, 400), single_stratum(40, 300),
        ...                               alpha=0.01, n_draws=50)
        >>> 0.1 < res["r"] < 0.4
        True
    """
    m, nm = np.asarray(member_scores, np.float64), np.asarray(nonmember_scores, np.float64)
    ml = np.zeros(m.size, int) if member_labels is None else np.asarray(member_labels)
    nl = np.zeros(nm.size, int) if nonmember_labels is None else np.asarray(nonmember_labels)
    draws = _MixtureDraws(m, ml, nm, nl, design, n_draws, np.random.default_rng(random_state))
    out = {"r": None, "target_power": target_power, "draws": n_draws, "resolution": 2.0 ** -steps,
           "subset_size": int(draws.design.counts.sum()), "subset_capped": draws.capped,
           "resampled": draws.resampled, "curve": {}, "reason": None}
    if not draws.feasible():
        out["reason"] = "too few non-members to simulate a forget set of this size and keep a comparison set"
        return out

    def power(r: float) -> float:
        x, y, sx, sy = draws.mixture(r)
        p = one_sided_p_values(x, y, n_permutations=n_permutations, random_state=random_state, strata=(sx, sy))
        out["curve"][f"{r:.4f}"] = float(np.mean(p < alpha))
        return out["curve"][f"{r:.4f}"]

    if power(1.0) < target_power:
        out["reason"] = f"even a fully remembered forget set is caught in fewer than {target_power:.0%} of draws"
        return out
    lo, hi = 0.0, 1.0
    for _ in range(steps):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if power(mid) >= target_power else (mid, hi)
    out["r"] = hi
    return out


def weakest_class_power(member_scores, member_labels, nonmember_scores, nonmember_labels, size: int, *,
                        alpha: float, n_draws: int, random_state: int | np.random.Generator) -> tuple[Design, float, dict]:
    """Power for a forget set of ``size`` examples of ONE class, for every member class; the weakest.

    Used when the forget set's own classes have no retained members (class-wise forgetting): the
    power of its class is unknown, and classes leak differently (digits: a remembered class 0 was
    missed at alpha 0.01 where the other classes were caught), so the audit assumes the forgotten
    class is as hard to catch as the hardest class it can measure. Returns that class's design
    (``size`` capped at its member count), its power and the power of every class.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> ml, nl = np.repeat([0, 1], 100), np.repeat([0, 1], 50)
        >>> m = rng.normal(0, 1, 200) + np.where(ml == 0, 3.0, 0.0)   # class 1 leaks nothing
        >>> d, p, per = weakest_class_power(m, ml, rng.normal(0, 1, 100), nl, 20, alpha=0.01, n_draws=20, random_state=rng)
        >>> int(d.classes[0]), per[0] > 0.9, p < 0.5
        (1, True, True)
    """
    rng = np.random.default_rng(random_state)
    ml, nl = np.asarray(member_labels), np.asarray(nonmember_labels)
    per, designs = {}, {}
    for c in np.intersect1d(ml, nl):
        designs[c] = Design(np.array([c]), np.array([min(size, int(np.sum(ml == c)))]), False)
        per[c] = estimate_power(member_scores, nonmember_scores, alpha=alpha, n_draws=n_draws, random_state=rng,
                                design=designs[c], member_labels=ml, nonmember_labels=nl)
    weakest = min(per, key=per.get)
    return designs[weakest], per[weakest], {int(c): p for c, p in per.items()}
