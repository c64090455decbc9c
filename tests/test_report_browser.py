"""The report of real (small) results folders, opened in headless Chromium: it loads without
console errors, every figure is an image with a non-zero natural size, and the overview table
lists every folder. Also the progress callbacks of the runs that made the folders.

The folders: a 4-shadow digits pool with GA unlearned shadows and exact retrains, audited with
LiRA and the population MIAs, evaluated with U-LiRA and leave-one-out LiRA, and a one-seed
Gaussian-canary poisoning run: every kind of results folder muaudit writes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from muaudit.cli.main import cli
from muaudit.jobs.evaluate import evaluate_pool
from muaudit.jobs.lira import run_lira
from muaudit.jobs.mia import run_mia
from muaudit.jobs.poison import run_poison
from muaudit.jobs.ulira import run_ulira
from muaudit.models import save_checkpoint
from muaudit.pool import build_pool, load_spec
from muaudit.report import render_html, write_results
from muaudit.training.single import train_target
from tests.kit import digits_mlp_sections

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]  # five kinds of real runs (10 s CPU) and Chromium

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
RECIPE = digits_mlp_sections(hidden=16, epochs=3, batch_size=128) + """[pool]
n_models = 4
engine = "sequential"
[[unlearn]]
method = "ga"
retrain = true
forget_fraction = 0.5
"""


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    d = tmp_path_factory.mktemp("browser")
    (d / "tiny.toml").write_text(RECIPE)
    spec = load_spec(d / "tiny.toml")
    build_pool(spec, d / "pool")
    model, meta = train_target(spec, spec.load_dataset(), random_state=7)
    save_checkpoint(d / "orig.pt", model, meta)
    np.save(d / "forget.npy", np.arange(0, 1347, 10))
    calls = {"ulira": [], "poison": []}
    run_lira(target=d / "orig.pt", forget=d / "forget.npy", pool=d / "pool", out=d / "lira")
    run_mia(target=d / "orig.pt", forget=d / "forget.npy", pool=d / "pool", out=d / "mia")
    run_ulira(pool=d / "pool", method="ga", out=d / "ulira", progress=lambda *a: calls["ulira"].append(a))
    run_poison("gaussian", d / "tiny.toml", "ga", seeds=1, budget=0.1, out=d / "poison",
               progress=lambda *a: calls["poison"].append(a))
    (d / "evaluate").mkdir()
    write_results(d / "evaluate", evaluate_pool(d / "pool", n_targets=2), {})
    names = ["lira", "mia", "ulira", "poison", "evaluate"]
    return d, [d / n for n in names], calls


def test_runs_report_progress(folders):
    _, _, calls = folders
    assert calls["ulira"] == [(i, 8) for i in range(1, 9)]  # 4 targets, method and power control
    assert calls["poison"] == [(1, 3), (2, 3), (3, 3)]  # original, retrained, ga


def test_report_json_and_csv_list_every_folder(folders, tmp_path):
    _, dirs, _ = folders
    r = CliRunner().invoke(cli, ["report", *map(str, dirs), "--html", "--out", str(tmp_path / "r.html"),
                                 "--csv", str(tmp_path / "r.csv"), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert [row["folder"] for row in out["folders"]] == list(map(str, dirs))
    assert [row["kind"] for row in out["folders"]] == ["lira", "mia", "ulira", "poison", "pool-evaluate"]
    assert out["html"] == str(tmp_path / "r.html") and len((tmp_path / "r.csv").read_text().splitlines()) == 6


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium; .ci/run does)")
def test_report_in_headless_chromium(folders, tmp_path):
    from playwright.sync_api import sync_playwright  # the dev extra installs it: a missing one is a failure
    _, dirs, _ = folders
    page_file = render_html(dirs, tmp_path / "report.html")
    assert "None" not in page_file.read_text()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            problems = []
            page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url[:80]}"))
            page.goto(Path(page_file).as_uri(), wait_until="load")
            figures = page.eval_on_selector_all(
                "img", "els => els.map(e => [e.alt, e.complete, e.naturalWidth, e.naturalHeight, e.clientWidth])")
            # every number on one line (the AUC column wrapped over three before): the line boxes of a
            # cell's text all share one top
            wrapped = page.eval_on_selector_all("td.num", """els => els.filter(e => {
                const r = document.createRange(); r.selectNodeContents(e);
                return new Set(Array.from(r.getClientRects()).map(x => Math.round(x.top))).size > 1;
            }).map(e => e.innerText)""")
            page.locator("table.overview").screenshot(path=str(tmp_path / "overview.png"))
            page.locator("img[alt='scores_hist.png']").first.screenshot(path=str(tmp_path / "histogram.png"))
            listed = page.eval_on_selector_all("table.overview tbody tr td:first-child", "els => els.map(e => e.innerText)")
            sections = page.eval_on_selector_all("section h2", "els => els.length")
            text = page.inner_text("body")
        finally:
            browser.close()
    assert problems == [] and wrapped == []
    assert (tmp_path / "overview.png").stat().st_size > 0 and (tmp_path / "histogram.png").stat().st_size > 0
    expected = sum(len(list(d.glob("*.png"))) for d in dirs)
    assert len(figures) == expected and expected >= 13  # 3 each for lira, mia, ulira; 4 for gaussian poison
    for alt, complete, w, h, shown in figures:
        assert complete and w >= 500 and h >= 400 and shown >= 500, (alt, w, h, shown)
    assert listed == [str(d) for d in dirs] and sections == len(dirs)
    assert "Glossary" in text and "None" not in text
