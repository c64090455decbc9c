"""Reports: results folders (JSON + scores), matplotlib figures, self-contained HTML, CSV, summaries."""

from muaudit.report.figures import plot_histogram, plot_roc, save_audit_figures
from muaudit.report.html import overview, render_html, write_csv
from muaudit.report.results import new_results_dir, read_results, write_audit_folder, write_results
from muaudit.report.summary import summary_text

__all__ = ["new_results_dir", "overview", "plot_histogram", "plot_roc", "read_results", "render_html",
           "save_audit_figures", "summary_text", "write_audit_folder", "write_csv", "write_results"]
