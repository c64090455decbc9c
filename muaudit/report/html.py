"""The self-contained HTML report (one file, figures embedded as data URIs) and the CSV overview.

The page is rendered from ``templates/report.html.j2`` with Jinja2 autoescaping on for every
value: file names and strings from ``results.json`` are text, never markup.
"""

from __future__ import annotations

import csv
import math
from functools import cache
from pathlib import Path

import muaudit
from muaudit.errors import MuauditError
from muaudit.report.results import read_results
from muaudit.report.view import CSV_COLUMNS, glossary, overview_cells, overview_row, section

FORMULA_STARTS = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")  # and full-width = + - @


@cache
def _environment():
    """The Jinja2 environment, built on first use: commands that only write results folders (an
    audit) do not import Jinja2 (0.2-0.4 s)."""
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("muaudit.report", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def load_folders(folders: list) -> list[tuple[Path, dict]]:
    """``[(folder, results)]`` for every results folder (errors name the folder)."""
    if not folders:
        raise MuauditError("no results folders given")
    return [(folder, r) for r, folder in (read_results(f) for f in folders)]


def overview(folders: list) -> list[dict]:
    """One row per folder with the overview's columns (:data:`~muaudit.report.view.CSV_COLUMNS`)."""
    return [overview_row(folder, r) for folder, r in load_folders(folders)]


def render_page(loaded: list[tuple[Path, dict]], *, title: str = "muaudit report") -> str:
    """The HTML text of the report of ``[(folder, results)]``."""
    rows = [{**overview_cells(overview_row(folder, r)), "id": f"folder-{i}"} for i, (folder, r) in enumerate(loaded)]
    return _environment().get_template("report.html.j2").render(
        title=title, version=muaudit.__version__, overview=rows if len(rows) > 1 else [],
        show_compatibility=any(row["compatibility"] != "n/a" for row in rows),
        folders=[section(i, folder, r) for i, (folder, r) in enumerate(loaded)], glossary=glossary())


def default_html_out(folders: list) -> Path:
    """Where the page goes without ``--out``: ``FOLDER/report.html`` for one folder, else
    ``./report.html`` (a page over several folders belongs to none of them)."""
    return Path(folders[0]) / "report.html" if len(folders) == 1 else Path("report.html")


def render_html(folders: list, out=None) -> Path:
    """Render results folders into one HTML page (default: :func:`default_html_out`)."""
    loaded = load_folders(folders)
    out = Path(out) if out else default_html_out(folders)
    _write(out, render_page(loaded))
    return out


def write_csv(folders: list, out) -> Path:
    """Write the overview as CSV, one row per folder; empty cells for missing values."""
    import io

    rows = overview(folders)
    out = Path(out)
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row[k]) for k in CSV_COLUMNS})
    _write(out, buf.getvalue())
    return out


def _cell(v) -> str:
    """A CSV cell: empty for missing (None, NaN), ``true``/``false``, numbers as Python writes them;
    a text cell that a spreadsheet could run as a formula gets a leading ``'``: one that starts,
    after any whitespace (spaces, tabs, non-breaking spaces), with ``= + - @`` or their full-width
    forms ``＝ ＋ － ＠``, or with a tab or carriage return."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str) and (v[:1] in ("\t", "\r") or v.lstrip()[:1] in FORMULA_STARTS):
        return "'" + v
    return v


def _check_dir(out: Path) -> None:
    if not out.parent.is_dir():
        raise MuauditError(f"cannot write {out}: the directory {out.parent} does not exist")


def _write(out: Path, text: str) -> None:
    """Write ``out`` atomically (a temporary sibling, moved into place when complete)."""
    from muaudit.atomic import write_text

    _check_dir(out)
    write_text(out, text)
