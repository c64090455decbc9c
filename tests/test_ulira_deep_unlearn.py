"""Deep Unlearn's U-LiRA protocol (in-sample fit, per-example np.std, NaN cases counted) against
numbers computed by hand from the formula of munl/lira/consolidate_predictions.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from muaudit.attacks.ulira import ShadowFamilies, deep_unlearn_membership
from muaudit.audit.ulira import evaluate_deep_unlearn
from muaudit.errors import DataError

# 4 models x 3 examples; models 0, 1 unlearned every example, models 2, 3 never saw them.
S = np.array([[0.9, 1.0, 0.2],
              [0.7, 1.0, 0.4],
              [0.1, 0.0, 0.5],
              [0.3, 1.0, 0.9]])
FORGOT = np.array([[1, 1, 1], [1, 1, 1], [0, 0, 0], [0, 0, 0]], bool)


def pdf(z, mu, sd):
    return math.exp(-0.5 * ((z - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))


def reference():
    """By hand: x0 forgotten {0.9, 0.7} (mean 0.8, np.std 0.1), never {0.1, 0.3} (0.2, 0.1);
    x1 forgotten {1, 1} has np.std 0, so both its cases are undefined (NaN in Deep Unlearn);
    x2 forgotten {0.2, 0.4} (0.3, 0.1), never {0.5, 0.9} (0.7, 0.2)."""
    p = lambda z, a, b: pdf(z, *a) / (pdf(z, *a) + pdf(z, *b))  # noqa: E731
    x0, x2 = ((0.8, 0.1), (0.2, 0.1)), ((0.3, 0.1), (0.7, 0.2))
    # cases in (model, example) row-major order
    return [p(0.9, *x0), math.nan, p(0.2, *x2), p(0.7, *x0), math.nan, p(0.4, *x2)]


def test_matches_the_transcribed_formula():
    res = deep_unlearn_membership(S, FORGOT, ~FORGOT)
    want = np.array(reference())
    assert res.model.tolist() == [0, 0, 0, 1, 1, 1] and res.example.tolist() == [0, 1, 2] * 2
    np.testing.assert_allclose(res.probability[res.defined], want[~np.isnan(want)], rtol=1e-12, atol=0)
    assert res.defined.tolist() == [True, False, True, True, False, True]
    assert res.n_cases == 6 and res.n_undefined == 2
    # spot values: x0 at z=0.9 is 1 / (1 + e^-24); x2 at z=0.4 mixes two sigmas
    assert res.probability[0] == pytest.approx(1 / (1 + math.exp(-24)), rel=1e-12)
    assert 0.5 < res.probability[5] < 1


def test_bad_masks_are_errors():
    with pytest.raises(DataError, match="disjoint"):
        deep_unlearn_membership(S, FORGOT, np.ones_like(FORGOT))
    with pytest.raises(DataError, match=r"shape \[M, N\]"):
        deep_unlearn_membership(S[None], FORGOT, ~FORGOT)


def test_pool_level_protocol_reports_undefined_cases():
    keep = np.array([[1, 1, 1], [1, 1, 1], [0, 0, 0], [0, 0, 0]], bool)
    fam = ShadowFamilies(S, keep, S, FORGOT)
    out = evaluate_deep_unlearn(fam)
    want = [v for v in reference() if not math.isnan(v)]
    assert out["protocol"] == "deep-unlearn" and out["n_cases"] == 6 and out["n_undefined"] == 2
    assert out["fraction_undefined"] == pytest.approx(1 / 3)
    assert out["mean_probability"] == pytest.approx(float(np.mean(want)), rel=1e-12)
