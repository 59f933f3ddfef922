"""Render a validation report to HTML (jinja2, self-contained) and PDF (reportlab).

Both take the report's JSON dictionary (aggregates only) and its figures (PNG bytes);
HTML embeds figures as data URIs, so the file needs no network and no other files.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from spinerisk.report.content import Section, build_sections, subtitle, title
from spinerisk.report.plots import data_uri, report_figures


def render_html(report: dict[str, Any], figures: dict[str, bytes]) -> str:
    """The report as one self-contained HTML page."""
    return document_html(title(report), subtitle(report), report["disclaimer"],
                         build_sections(report), figures)


def render_pdf(report: dict[str, Any], figures: dict[str, bytes]) -> bytes:
    """The same sections as the HTML page, as a PDF document."""
    return document_pdf(title(report), subtitle(report), report["disclaimer"],
                        build_sections(report), figures)


def document_html(heading: str, sub: str, disclaimer: str, sections: list[Section],
                  figures: dict[str, bytes]) -> str:
    """Any report's sections as one self-contained HTML page (the site report's style)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("spinerisk.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    template = env.get_template("validation.html.j2")
    return template.render(title=heading, subtitle=sub, disclaimer=disclaimer,
                           sections=sections,
                           figures={k: data_uri(v) for k, v in figures.items()})


def document_pdf(heading: str, sub: str, disclaimer: str, sections: list[Section],
                 figures: dict[str, bytes]) -> bytes:
    """The same sections as :func:`document_html`, as a PDF document."""
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import (
        Image,
        ListFlowable,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        TableStyle,
    )
    from reportlab.platypus import Table as PdfTable

    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=7, leading=8.5)
    story: list[Any] = [Paragraph(escape(heading), styles["Title"]),
                        Paragraph(escape(sub), styles["BodyText"]),
                        Paragraph(escape(disclaimer), styles["Italic"])]
    width = A4[0] - 3 * cm

    def image(png: bytes) -> Image:
        from reportlab.lib.utils import ImageReader

        w, h = ImageReader(io.BytesIO(png)).getSize()
        scale = min(width * 0.7 / w, 9 * cm / h)
        return Image(io.BytesIO(png), w * scale, h * scale)

    for section in sections:
        story += [Spacer(1, 6), Paragraph(escape(section.title), styles["Heading2"])]
        story += [Paragraph(escape(p), styles["BodyText"]) for p in section.paragraphs]
        if section.bullets:
            story.append(ListFlowable([Paragraph(escape(b), styles["BodyText"])
                                       for b in section.bullets], bulletType="bullet"))
        story += [image(figures[n]) for n in section.figures if n in figures]
        for table in section.tables:
            if table.caption:
                story.append(Paragraph(escape(table.caption), styles["Italic"]))
            cells = [[Paragraph(escape(str(c)), small) for c in row]
                     for row in [table.header, *table.rows]]
            t = PdfTable(cells, repeatRows=1, colWidths=[width / len(table.header)] * len(table.header))
            t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                                   ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                                   ("VALIGN", (0, 0), (-1, -1), "TOP")]))
            story.append(t)
    buffer = io.BytesIO()
    SimpleDocTemplate(buffer, pagesize=A4, title=heading, leftMargin=1.5 * cm,
                      rightMargin=1.5 * cm, topMargin=1.5 * cm, bottomMargin=1.5 * cm).build(story)
    return buffer.getvalue()


def write_document(data: dict[str, Any], out: str | Path, stem: str, heading: str, sub: str,
                   sections: list[Section], figures: dict[str, bytes]) -> dict[str, Path]:
    """Write ``<stem>.json`` (``data``), ``<stem>.html`` and ``<stem>.pdf`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {kind: out / f"{stem}.{kind}" for kind in ("json", "html", "pdf")}
    paths["json"].write_text(json.dumps(data, indent=1))
    paths["html"].write_text(document_html(heading, sub, data["disclaimer"], sections, figures))
    paths["pdf"].write_bytes(document_pdf(heading, sub, data["disclaimer"], sections, figures))
    return paths


def write_report(report: dict[str, Any], out: str | Path) -> dict[str, Path]:
    """Write ``report.json``, ``report.html`` and ``report.pdf`` into ``out``.

    Returns
    -------
    dict of kind -> path
    """
    return write_document(report, out, "report", title(report), subtitle(report),
                          build_sections(report), report_figures(report))


__all__ = ["Section", "document_html", "document_pdf", "render_html", "render_pdf",
           "write_document", "write_report"]
