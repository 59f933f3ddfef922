"""Reports rendered from result objects: self-contained HTML (jinja2) and PDF (reportlab).

write_report(report_dict, out_dir) -> {"json": ..., "html": ..., "pdf": ...}
render_html(report_dict, figures) -> str ; render_pdf(report_dict, figures) -> bytes
report_figures(report_dict) -> {name: PNG bytes}
"""

from spinerisk.report.plots import report_figures
from spinerisk.report.render import render_html, render_pdf, write_report

__all__ = ["render_html", "render_pdf", "report_figures", "write_report"]
