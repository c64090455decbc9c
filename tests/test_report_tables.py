"""Tables and terminal lines that read at a glance: ties share a rank, cost columns say what they
are, one precision per number."""

from muaudit.benchmark.summary import markdown, rank


def iv(m, h=0.0, n=3):
    return {"mean": m, "low": max(m - h, 0.0), "high": m + h, "n": n}


def bench_row(method, retdev, h, rte=None, forget="random10"):
    keys = ("forget_gap", "acc_retain", "acc_forget", "acc_test", "indisc_test")
    return {"forget": forget, "method": method, "retdev": iv(retdev, h), "trials": 4,
            "rte_sg": None if rte is None else iv(rte), **{k: iv(0.9, 0.01) for k in keys}}


def test_ties_share_a_rank_and_the_cost_column_is_a_speed_up():
    rows = rank([bench_row("retrain", 0.001, 0.001, 1.0), bench_row("ft", 0.006, 0.005, 20.0),
                 bench_row("ga", 0.007, 0.005, 149.6), bench_row("bt", 0.1, 0.01, 15.0),
                 bench_row("x", 0.3, 0.05, 3.0), bench_row("y", 0.32, 0.05, 3.0)])
    table = markdown(rows).splitlines()
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in table]
    assert cells[0][-2] == "speed-up vs retrain" and "RTE" not in table[0]
    assert len({len(line) for line in table}) == 1  # fixed-width columns: every line as long
    got = [(c[1], c[2]) for c in cells[2:]]
    assert got == [("1 (tied)", "`retrain`"), ("1 (tied)", "`ft`"), ("1 (tied)", "`ga`"), ("4", "`bt`"),
                   ("5 (tied)", "`x`"), ("5 (tied)", "`y`")]
    ga = next(c for c in cells if c[2] == "`ga`")
    assert ga[9] == "149.6×"  # the same on every seed: the mean alone, not "149.6 [149.6, 149.6]"
    assert ga[3] == "0.007 [0.002, 0.012]"


def test_poison_prints_its_efficacy_once():
    from muaudit.cli.poison import _efficacy_line
    from muaudit.report import summary_text

    r = {"kind": "poison", "method": "ga", "metric": "gus", "verdict": "inconclusive", "p_value": 0.2, "alpha": 0.05,
         "efficacy": {"value": 0.81234, "ci": [0.5, 0.95], "per_seed": [0.8, 0.82], "mean": 0.81, "std": 0.0141},
         "power": {"powered": False, "original_vs_retrained": {"p_value": 0.03}, "original_vs_null": {"z": -3.2}},
         "models": {m: {"metric": v} for m, v in (("original", -0.5), ("ga", -0.1), ("retrained", 0.0))},
         "mia": {m: {"tpr": 0.02} for m in ("original", "ga", "retrained")}}
    text = summary_text(r) + "\n" + _efficacy_line(r)
    assert text.count("0.8123") == 1 and "0.812 " not in text and "0.812]" not in text
    assert "TPR at 1% FPR on the same forget set: original 2%, ga 2%, retrained 2%" in text


def test_histogram_range_shows_every_group_bulk_despite_heavy_tails():
    """LiRA-like scores: a bulk within ~1 of 0 and 4% at |score| = 30; the pooled 1-99% range is
    [-30, 30] here (a bulk of one or two bins). Each group's central 90% is now on the axis."""
    import numpy as np

    from muaudit.report.figures import clip_range

    rng = np.random.default_rng(0)

    def tails(x):
        x[rng.choice(len(x), len(x) // 25, replace=False)] = rng.choice([-30.0, 30.0], len(x) // 25)
        return x

    groups = {"forget": tails(rng.normal(0.8, 0.4, 134)), "non-members": tails(rng.normal(0.0, 0.4, 450)),
              "retained members": tails(rng.normal(1.0, 0.4, 1213))}
    lo, hi = clip_range(groups)
    assert hi - lo < 4 and lo < -0.4 and hi > 1.4  # measured [-0.69, 1.69]
    bins = np.linspace(lo, hi, 41)
    modes = {k: bins[np.argmax(np.histogram(v, bins)[0])] for k, v in groups.items()}
    assert modes["forget"] - modes["non-members"] > 0.4  # separated by several bins
    for v in groups.values():
        assert ((v >= lo) & (v <= hi)).mean() >= 0.85


def test_residuals_are_percentages_wherever_they_are_shown():
    from muaudit.report.labels import format_value

    for key in ("min_detectable_residual", "minimum detectable residual", "max_residual"):
        assert format_value(0.9531, key) == "95.3%"
    assert format_value(0.25, "gradient_residual") == "0.25"  # a norm, not a proportion
    assert format_value({"power": 0.9, "min_detectable_residual": 0.9531}, "power control") == \
        "power: 90%; minimum detectable residual: 95.3%"
