"""The HTML report and CSV overview: layout, labels, formats, figures and escaping of hostile input.

Results folders here are written by the real writer (``write_audit_folder``) from synthetic scores,
so they have the files and keys of a LiRA audit without training anything.
"""

import csv
import json
import shutil
import struct
from html.parser import HTMLParser

import matplotlib.pyplot as plt
import numpy as np
import pytest
from click.testing import CliRunner

from muaudit.cli.main import cli
from muaudit.errors import MuauditError
from muaudit.metrics import roc
from muaudit.report import overview, read_results, render_html, write_audit_folder, write_csv
from muaudit.report.figures import LEGEND_PT, plot_histogram, plot_roc
from muaudit.report.labels import format_value, pct
from muaudit.report.view import CSV_COLUMNS, NEUTRAL_CLASS, VERDICT_CLASSES

TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "a", "table", "thead", "tbody",
        "tr", "th", "td", "span", "section", "ul", "li", "div", "figure", "img", "figcaption", "details",
        "summary", "pre", "dl", "dt", "dd"}
ATTRS = {"charset", "name", "content", "lang", "href", "class", "id", "title", "alt", "src"}
CLASSES = {"muted", "rules-out", "overview", "verdict", "metrics", "num", "figures", "reasons", "warnings", "warn", "glossary",
           NEUTRAL_CLASS, *VERDICT_CLASSES.values()}


def audit_folder(path, *, seed=0, shift=1.0, n=600):
    """A LiRA-style results folder of synthetic scores: forget shifted by ``shift`` above non-members."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=n)
    F, NM, R = np.arange(0, 100), np.arange(100, 400), np.arange(400, n)
    scores[F] += shift
    scores[R] += 1.0
    scores[5] = 1e6  # an outlier that must not squash the histogram
    results = {"kind": "lira", "attack": "lira", "title": f"LiRA audit of target{seed}.pt", "verdict": "not unlearned",
               "p_value": 1e-5, "alpha": 0.01, "auc": 0.75, "auc_ci": [0.7, 0.8], "balanced_accuracy": 0.68,
               "balanced_accuracy_ci": [0.62, 0.73], "epsilon_lower_bound": 1.2, "n_forget": 100, "n_nonmembers": 300,
               "n_members": 200, "min_power": 0.95, "inconclusive_reasons": [], "warnings": [],
               "tpr_at_fpr": {"0.001": {"measurable": False, "tpr": None, "ci": None},
                              "0.01": {"measurable": True, "tpr": 0.12, "ci": [0.06, 0.2]},
                              "0.1": {"measurable": True, "tpr": 0.4, "ci": [0.3, 0.5]}},
               "power_control": {"auc": 0.8, "auc_ci": [0.76, 0.84], "power": 1.0},
               "config": {"attack": "online", "alpha": 0.01}, "inputs": {"target": f"/data/target{seed}.pt"}}
    write_audit_folder(path, kind="lira", results=results, scores=scores, forget=F, nonmembers=NM, members=R)
    return path


class Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)


def parse(page: str) -> Collect:
    c = Collect()
    c.feed(page)
    c.close()
    return c


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_page_has_overview_sections_percentages_and_no_none(tmp_path):
    a, b = audit_folder(tmp_path / "a", seed=0), audit_folder(tmp_path / "b", seed=1)
    r = json.loads((b / "results.json").read_text())
    r.update(verdict="inconclusive", inconclusive_reasons=["not enough power"], compatibility={
        "status": "warn", "reasons": ["input scaling differs"], "advice": "check the adapter"},
        stratified={"strata": 10, "reason": "class mixes differ"})
    r["power_control"]["min_detectable_residual"] = 0.25
    (b / "results.json").write_text(json.dumps(r))
    page = render_html([a, b], tmp_path / "report.html").read_text()
    c = parse(page)
    assert "None" not in page
    text = " ".join(c.text)
    overview_table = page.split('<table class="overview">')[1].split("</table>")[0]
    assert str(a) in overview_table and str(b) in overview_table and overview_table.count("<tr>") == 3
    assert "compatibility" in overview_table and "warn" in overview_table
    assert "100%" in text and "12% [6%, 20%]" in text and "68% [62%, 73%]" in text
    assert "unmeasurable (needs at least 1,000 non-members)" in text
    assert "check the adapter" in text and "input scaling differs" in text and "class mixes differ" in text
    assert "minimum detectable residual" in text and "Glossary" in text
    imgs = [dict(attrs) for tag, attrs in c.tags if tag == "img"]
    assert [i["alt"] for i in imgs] == ["roc.png", "roc_loglog.png", "scores_hist.png"] * 2
    for img in imgs:
        w, h = png_size(__import__("base64").b64decode(img["src"].split(",", 1)[1]))
        assert w >= 600 and h >= 500


def test_single_folder_has_no_overview_and_ulira_poison_evaluate_kinds_render(tmp_path):
    a = audit_folder(tmp_path / "a")
    page = render_html([a]).read_text()
    assert '<table class="overview">' not in page and (a / "report.html").is_file()
    pages = {}
    for kind, extra in (("ulira", {"attack": "ulira", "method": "ga", "power": 0.875,
                                    "ulira_accuracy": {"accuracy": 0.66, "ci": [0.65, 0.67]},
                                    "sections": {"U-LiRA": {"power (single targets caught)": 1.0, "shadows": 8}}}),
                        ("poison", {"attack": "gaussian", "method": "ft", "power": {"powered": True},
                                    "sections": {"Poisoning efficacy": {"efficacy std over seeds": None,
                                                                        "fraction_of_training": 0.095}}}),
                        ("pool-evaluate", {"attack": "lira", "pool": "/x/digits/pool.h5"})):
        d = tmp_path / kind
        d.mkdir()
        (d / "results.json").write_text(json.dumps({"kind": kind, "title": f"a {kind} run", "auc": 0.6, **extra}))
        pages[kind] = render_html([a, d], tmp_path / f"{kind}.html").read_text()
        assert f"a {kind} run" in pages[kind] and "None" not in pages[kind]
    poison = pages["poison"].replace("\n", "")
    assert 'efficacy std over seeds</th><td class="num">n/a' in poison
    assert 'share of the original training</th><td class="num">9.5%' in poison
    assert 'power (single targets caught)</th><td class="num">100%' in pages["ulira"].replace("\n", "")
    rows = overview([tmp_path / "ulira", tmp_path / "poison", tmp_path / "pool-evaluate"])
    assert (rows[0]["power"], rows[0]["target"], rows[0]["attack"]) == (0.875, "method ga", "U-LiRA")
    assert (rows[1]["power"], rows[1]["powered"], rows[1]["attack"]) == (None, True, "poisoning: gaussian")
    assert (rows[2]["target"], rows[2]["attack"]) == ("pool digits", "LiRA leave-one-out")


def test_formats():
    assert pct(1.0) == "100%" and pct(0.953) == "95.3%" and pct(None) == "n/a" and pct(float("nan")) == "n/a"
    assert format_value(None, "efficacy std over seeds") == "n/a"
    assert format_value(1.0, "power (single targets caught)") == "100%"
    assert format_value(0.5, "AUC") == "0.5" and format_value([0.1, 0.2], "AUC interval") == "[0.1, 0.2]"
    assert format_value(True, "powered") == "yes" and format_value(12345, "sample_gradients") == "12,345"


@pytest.mark.slow  # measured: 1.0 s CPU (the fast loop, docs/development.md)
def test_csv_round_trips_the_overview(tmp_path):
    folders = [audit_folder(tmp_path / "a", seed=0), audit_folder(tmp_path / "b", seed=1)]
    rows = overview(folders)
    out = write_csv(folders, tmp_path / "o.csv")
    with out.open(newline="") as f:
        back = list(csv.DictReader(f))
    assert list(back[0]) == CSV_COLUMNS and len(back) == 2
    parse_cell = {"": None, "true": True, "false": False}
    for row, got in zip(rows, back):
        for key, value in row.items():
            cell = got[key]
            if isinstance(value, float):
                assert float(cell) == value, key
            else:
                assert parse_cell.get(cell, cell) == value, key
    r = CliRunner().invoke(cli, ["report", *map(str, folders), "--csv", str(tmp_path / "c.csv"), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["folders"] == json.loads(json.dumps(rows))
    assert (tmp_path / "c.csv").read_text() == out.read_text()


def test_csv_neutralises_formula_cells(tmp_path):
    a = audit_folder(tmp_path / "a")
    r = json.loads((a / "results.json").read_text())
    (a / "results.json").write_text(json.dumps({**r, "title": "=HYPERLINK(\"http://x\")"}))
    with write_csv([a], tmp_path / "o.csv").open(newline="") as f:
        assert next(csv.DictReader(f))["title"] == "'=HYPERLINK(\"http://x\")"


def test_figures_use_metrics_roc_readable_legends_and_clipped_histograms():
    rng = np.random.default_rng(0)
    s, y = rng.normal(size=200), np.r_[np.ones(100), np.zeros(100)]
    ax = plot_roc({"a": (s, y)})
    fpr, tpr, _ = roc(y, s)
    assert np.array_equal(ax.lines[0].get_xdata(), fpr) and np.array_equal(ax.lines[0].get_ydata(), tpr)
    assert all(t.get_fontsize() >= 10 for t in ax.get_legend().get_texts()) and LEGEND_PT >= 10
    plt.close("all")
    forget, nonmembers = np.r_[rng.normal(size=200), 1e6], rng.normal(size=200)
    ax = plot_histogram({"forget": forget, "non-members": nonmembers})
    lo, hi = ax.get_xlim()
    per_group = np.array([np.percentile(forget, [5, 95]), np.percentile(nonmembers, [5, 95])])
    assert (lo, hi) == (per_group[:, 0].min(), per_group[:, 1].max())
    assert -5 < lo < 0 < hi < 5  # the outlier at 1e6 does not stretch the axis
    below, above = (forget < lo).sum(), (forget > hi).sum()
    assert above >= 1 and ax.get_legend().get_texts()[0].get_text() == \
        f"forget (n=201; {below} below, {above} above the range)"
    plt.close("all")


HOSTILE = ['"><script>alert(1)</script>', "x'><img src=x onerror=alert(2)>", "<svg onload=alert(3)>",
           "javascript:alert(4)", '</pre><iframe src="//evil"></iframe>']


def hostile_values(obj, i=[0]):  # noqa: B006 - a counter to vary the payloads
    """Every string (and every key of ``sections``) replaced by a payload; numbers kept."""
    if isinstance(obj, dict):
        return {k: hostile_values(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [hostile_values(v) for v in obj]
    if isinstance(obj, str):
        i[0] += 1
        return HOSTILE[i[0] % len(HOSTILE)]
    return obj


def test_hostile_names_and_values_never_become_markup(tmp_path):
    folder = audit_folder(tmp_path / "<b onmouseover=alert(9)>x")
    r = hostile_values(json.loads((folder / "results.json").read_text()))
    bad = {**r, "verdict": 'x"><script>alert(5)</script>'}  # a verdict outside the vocabulary is refused outright
    (folder / "results.json").write_text(json.dumps(bad))
    with pytest.raises(MuauditError, match="verdict: 'x\"><script>alert\\(5\\)</script>' is not one of"):
        read_results(folder)
    r["decision"] = {"verdict": "inconclusive", "reasons": HOSTILE, "alpha": 0.01, "max_residual": 0.5,
                     "min_power": 0.95, "rules_out": HOSTILE[3]}
    r.update(verdict="inconclusive", warnings=HOSTILE, inconclusive_reasons=HOSTILE,
             compatibility={"status": HOSTILE[1], "reasons": HOSTILE, "advice": HOSTILE[0]},
             stratified=HOSTILE[2], sections={h: {h2: h2 for h2 in HOSTILE} for h in HOSTILE})
    # (a tpr_at_fpr entry under a hostile key or with string values is refused by read_results)
    (folder / "results.json").write_text(json.dumps(r))
    shutil.copy(folder / "roc.png", folder / '"><img src=x onerror=alert(3)>.png')
    (folder / "<script>alert(6)<\\script>.png").write_bytes(b"<script>alert(6)</script>")
    other = audit_folder(tmp_path / "plain")
    page = render_html([folder, other], tmp_path / "report.html").read_text()
    c = parse(page)
    for tag, attrs in c.tags:
        assert tag in TAGS, tag
        for name, value in attrs:
            assert name in ATTRS, (tag, name)
            if name == "class":
                assert set(value.split()) <= CLASSES, value
            if name in ("href", "src"):
                assert value.startswith(("#folder-", "#glossary", "data:image/png;base64,")), value
            if name == "id":
                assert value in ("overview", "glossary") or value.startswith("folder-"), value
    assert sum(tag == "img" for tag, _ in c.tags) == 7  # 3 + 3 + the hostile-named copy; the non-PNG left out
    text = "".join(c.text)
    for payload in HOSTILE + ['"><img src=x onerror=alert(3)>']:
        assert payload in text  # shown as text
    assert '"><img src=x onerror=alert(3)>.png' in [dict(a).get("alt") for t, a in c.tags if t == "img"]
    assert "<script>alert(6)<\\script>.png is not a PNG image" in text
    assert f"{NEUTRAL_CLASS}" in page


def test_malformed_results_are_one_error(tmp_path):
    a = audit_folder(tmp_path / "a")
    r = json.loads((a / "results.json").read_text())
    (a / "results.json").write_text(json.dumps({**r, "auc": "high"}))
    with pytest.raises(MuauditError, match="is not a muaudit results file: auc: 'high' is not of type 'number', 'null'"):
        read_results(a)
    (a / "results.json").write_text("[1, 2]")
    result = CliRunner().invoke(cli, ["report", str(a), "--html"])
    assert result.exit_code == 2 and result.output.strip().splitlines()[-1] == \
        f"Error: {a / 'results.json'} is not a muaudit results file (a JSON object), got a list"


def test_summary_text_handles_missing_values_and_every_kind():
    from muaudit.report import summary_text

    r = {"kind": "lira", "attack": "lira", "verdict": "inconclusive", "p_value": 0.2, "alpha": 0.01, "auc": 0.5,
         "auc_ci": None, "n_forget": 10, "n_nonmembers": 50, "tpr_at_fpr": {"0.01": {"measurable": True, "tpr": None}},
         "power_control": {"auc": None, "power": None}, "compatibility": {"status": "fail", "reasons": ["no adapter"]}}
    text = summary_text(r)
    assert "None" not in text and "AUC 0.5 n/a" in text and "TPR@1%FPR unmeasurable (needs >= 100 non-members)" in text
    assert "Compatibility: FAIL (no adapter)." in text
    poison = {"kind": "poison", "verdict": "inconclusive", "efficacy": {"value": None, "ci": None},
              "power": {"powered": False}}
    assert summary_text(poison) == ("Verdict: INCONCLUSIVE. Poisoning efficacy n/a n/a (1 = as good as retraining); "
                                    "the test did not have power.")


def test_report_outputs_into_a_missing_directory_are_created(tmp_path):
    a = audit_folder(tmp_path / "a")
    for option in ("--out", "--csv"):
        target = tmp_path / "missing" / option.strip("-") / "x"
        extra = ["--html"] if option == "--out" else []
        r = CliRunner().invoke(cli, ["report", str(a), *extra, option, str(target)])
        assert r.exit_code == 0, r.output
        assert target.is_file() and target.stat().st_size > 0




@pytest.mark.slow  # measured: 0.8 s CPU (the fast loop, docs/development.md)
def test_figures_of_degenerate_inputs_are_drawn_without_warnings(tmp_path):
    import warnings

    from muaudit.report.figures import save_audit_figures

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. a division by an empty log axis (one non-member clips it at 1)
        for i, (s, y) in enumerate(((np.array([0.9, 0.1]), np.array([1, 0])), (np.full(3, 0.5), np.array([1, 0, 1])))):
            (tmp_path / str(i)).mkdir()
            assert save_audit_figures(tmp_path / str(i), {"a": (s, y)}, {"a": s, "empty": np.array([np.nan])}) == [
                "roc.png", "roc_loglog.png", "scores_hist.png"]
