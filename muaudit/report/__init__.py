"""Reports: results folders (JSON + scores), figures (PNG, drawn with Pillow), self-contained HTML, CSV, summaries."""

from muaudit.report.figures import histogram_plot, roc_plot, save_audit_figures
from muaudit.report.html import overview, render_html, write_csv
from muaudit.report.results import new_results_dir, read_results, write_audit_folder, write_results
from muaudit.report.summary import summary_text

__all__ = ["histogram_plot", "new_results_dir", "overview", "read_results", "render_html", "roc_plot",
           "save_audit_figures", "summary_text", "write_audit_folder", "write_csv", "write_results"]
