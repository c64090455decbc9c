"""Audits broken down by slice (muaudit.audit.slices): a planted leak confined to one class is
found there and nowhere else; empty slices are reported empty, never NaN; bad input is one error."""

import json

import numpy as np
import pytest

from muaudit.attacks.synthetic import synthetic_pool
from muaudit.attacks.base import ReferenceSignals, make_attack
from muaudit.audit.slices import audit_slices, build_slices, holm, placements, slice_table
from muaudit.errors import DataError
from muaudit.metrics import auc

N, K = 1500, 5


def _planted(leak_class: int = 2, seed: int = 0):
    """LiRA scores of a target that retrained without the forget set except the forget examples
    of ``leak_class``, which it still trained on; forget = 0..299, non-members = 750..1499."""
    pool = synthetic_pool(n_models=16, n_samples=N, random_state=seed)
    labels = np.arange(N) % K
    F, NM, R = np.arange(300), np.arange(750, N), np.arange(300, 750)
    trained = np.zeros(N, bool)
    trained[R] = True
    trained[F[labels[F] == leak_class]] = True
    return _lira(pool, pool.draw(trained, random_state=seed + 1)), labels, F, NM, pool


def _lira(pool, target):
    """Online LiRA scores of ``target`` against the synthetic pool."""
    return make_attack("lira").fit(ReferenceSignals(pool.phi, pool.keep)).score(target)


@pytest.mark.parametrize("leak_class", [0, 2, 4])
def test_planted_leak_in_one_class_is_marked_there_only(leak_class):
    scores, labels, F, NM, _ = _planted(leak_class)
    table = slice_table(scores, F, NM, build_slices(N, np.r_[F, NM], labels=labels), n_permutations=1999,
                        n_bootstrap=200)
    assert table["leaking"] == [f"class {leak_class}"]
    rows = {r["slice"]: r for r in table["rows"]}
    assert rows[str(leak_class)]["auc"] > table["whole"]["auc"] + 0.1
    assert rows[str(leak_class)]["p_adjusted"] < 0.05
    assert all(r["p_adjusted"] > 0.05 for k, r in rows.items() if k != str(leak_class))
    assert table["n_tested"] == K and "Holm" in table["correction"]


def test_no_leak_marks_nothing():
    pool = synthetic_pool(n_models=16, n_samples=N, random_state=3)
    labels, F, NM = np.arange(N) % K, np.arange(300), np.arange(750, N)
    trained = np.zeros(N, bool)
    trained[300:750] = True
    scores = _lira(pool, pool.draw(trained, random_state=4))
    correct = np.random.default_rng(0).random(N) < 0.8
    sl = build_slices(N, np.r_[F, NM], labels=labels, correct=correct, difficulty=pool.base)
    table = slice_table(scores, F, NM, sl, n_permutations=999, n_bootstrap=100)
    assert table["leaking"] == [] and table["n_tested"] == K + 2 + 10


def test_slice_auc_is_mean_placement_and_matches_metrics():
    rng = np.random.default_rng(1)
    s = rng.normal(0, 1, 200)
    mask = np.ones(200, bool)
    F, NM = np.arange(50), np.arange(50, 200)
    assert placements(s, F, NM, mask).mean() == pytest.approx(auc(np.arange(200) < 50, np.r_[s[F], s[NM]]))


def test_holm_matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = np.random.default_rng(2).random(17) ** 3
    assert np.allclose(holm(p), multipletests(p, method="holm")[1])


def test_empty_slices_are_reported_empty_never_nan():
    rng = np.random.default_rng(0)
    s = rng.normal(0, 1, 100)
    labels = np.r_[np.zeros(40, int), np.ones(60, int)]
    labels[:5] = 7  # class 7: forget examples only, no non-members
    F, NM = np.arange(20), np.arange(50, 100)
    sl = build_slices(100, np.r_[F, NM], labels=labels) + [{"family": "class", "slice": "9", "label": "class 9",
                                                             "mask": np.zeros(100, bool)}]
    table = slice_table(s, F, NM, sl, n_permutations=99, n_bootstrap=50)
    rows = {r["slice"]: r for r in table["rows"]}
    assert "9" not in rows  # empty on both sides: omitted
    assert rows["7"]["empty"] == "no non-members" and rows["7"]["auc"] is None and rows["7"]["p_value"] is None
    assert rows["1"]["empty"] == "no forget examples"
    json.dumps(table, allow_nan=False)  # no NaN anywhere


def test_difficulty_deciles_and_correctness_from_logits():
    rng = np.random.default_rng(5)
    n = 400
    labels = np.arange(n) % 2
    z = rng.normal(0, 1, (n, 1, 2))
    shadows, keep = rng.normal(0, 1, (6, n, 1, 2)), rng.random((6, n)) < 0.5
    keep[0, :390] = False  # rows 390.. may have no OUT shadow: no difficulty, in no decile
    keep[:, 395:] = True
    t = audit_slices(rng.normal(0, 1, n), np.arange(100), np.arange(100, 400), labels=labels, target_logits=z,
                     shadow_logits=shadows, keep=keep, n_permutations=99, n_bootstrap=50)
    dec = [r for r in t["rows"] if r["family"] == "difficulty"]
    assert len(dec) == 10 and sum(r["n_forget"] + r["n_nonmembers"] for r in dec) == n - 5 - int(keep[:, 390:395].all(0).sum())
    assert all(a["range"][1] <= b["range"][0] + 1e-12 for a, b in zip(dec, dec[1:]))
    corr = {r["slice"]: r["n_forget"] + r["n_nonmembers"] for r in t["rows"] if r["family"] == "correct"}
    assert corr["correct"] == int((z[:, 0].argmax(-1) == labels).sum())
    json.dumps(t, allow_nan=False)


@pytest.mark.parametrize("kwargs, match", [
    (dict(labels=np.zeros(5)), "labels"),
    (dict(scores=np.r_[np.nan, np.zeros(99)]), "non-finite"),
    (dict(forget=np.array([], int)), "non-empty"),
    (dict(forget=np.array([100])), r"\[0, 100\)"),
])
def test_bad_input_is_one_error(kwargs, match):
    args = dict(scores=np.zeros(100), forget=np.arange(10), nonmembers=np.arange(50, 100), labels=np.arange(100) % 2)
    args.update(kwargs)
    with pytest.raises(DataError, match=match) as e:
        audit_slices(args.pop("scores"), args.pop("forget"), args.pop("nonmembers"), **args, n_permutations=9)
    assert "\n" not in str(e.value)


@pytest.mark.slow  # ~30 s on a loaded 2-core machine (a whole muaudit lira audit)
def test_lira_results_summary_and_html_carry_the_slices(tiny_audit_base, tmp_path):
    from muaudit.jobs.lira import run_lira
    from muaudit.report.html import render_html
    from muaudit.report.summary import summary_text
    from tests.helpers_audit import tiny_audit_kit

    tiny_audit_kit(tiny_audit_base, tmp_path)
    results, folder = run_lira(target=tmp_path / "orig.pt", forget=tmp_path / "forget.npy", pool=tmp_path / "pool",
                               out=tmp_path / "out")
    sl = json.loads((folder / "results.json").read_text())["slices"]
    assert {r["family"] for r in sl["rows"]} == {"class", "correct", "difficulty"}
    assert sum(r["n_forget"] for r in sl["rows"] if r["family"] == "class") == results["n_forget"]
    assert "Where the leak is" in summary_text(results)
    html = render_html([folder]).read_text()
    assert "Leakage by slice" in html and "difficulty decile" in html and "Holm" in html


def test_sequential_permutation_p_values_hold_their_level():
    """Under H0 (placements exchangeable across slices) P(p <= a) <= a, and a planted shift is found."""
    from muaudit.audit.slices import _family_p_values

    rng = np.random.default_rng(7)
    codes = np.arange(60) % 3
    ps = np.concatenate([_family_p_values(rng.random(60), codes, 3, n_permutations=999, rng=rng) for _ in range(400)])
    for a in (0.05, 0.1, 0.2):
        assert np.mean(ps <= a) <= a + 0.025, (a, np.mean(ps <= a))
    shifted = rng.random(60) + 0.5 * (codes == 1)
    p = _family_p_values(shifted, codes, 3, n_permutations=999, rng=rng)
    assert p[1] < 0.01 < min(p[0], p[2])
