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
    assert table[0].split(" | ")[-2] == "speed-up vs retrain" and "RTE" not in table[0]
    got = [(line.split(" | ")[1], line.split(" | ")[2]) for line in table[2:]]
    assert got == [("1 (tied)", "`retrain`"), ("1 (tied)", "`ft`"), ("1 (tied)", "`ga`"), ("4", "`bt`"),
                   ("5 (tied)", "`x`"), ("5 (tied)", "`y`")]
    ga = next(line for line in table if "`ga`" in line)
    assert "| 149.6× |" in ga  # the same on every seed: the mean alone, not "149.6 [149.6, 149.6]"
    assert "0.007 [0.002, 0.012]" in ga


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
