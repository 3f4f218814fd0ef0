"""The report's and the gallery's HTML: one stylesheet (no external assets), a banner for what a
reader must know first (``core.report.caveats``), a contents list, sections that name the paper's
figure and say in a sentence what their numbers mean, tables with friendly column names and
rounded numbers that scroll inside their box, and figures with their captions."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import polars as pl

STYLE = """
body{font:15px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1d2430;margin:0;background:#f6f7f9}
main{max-width:1040px;margin:0 auto;padding:1.5em 2em 4em;background:#fff;min-height:100vh}
h1{font-size:1.7em;margin:.2em 0}
h2{font-size:1.25em;margin:2em 0 .3em;padding-top:.4em;border-top:1px solid #e3e6ea}
.paper{color:#5b6573;font-size:.9em;margin:0 0 .4em}.meaning{margin:.2em 0 .8em}
.banner{background:#fff3cd;border:2px solid #e0a800;border-radius:6px;padding:.8em 1em;margin:1em 0;
font-weight:600}
.banner p{margin:.3em 0}nav ol{columns:2;font-size:.92em;padding-left:1.2em}
.scroll{overflow-x:auto;max-width:100%;border:1px solid #e3e6ea;border-radius:4px;margin:.5em 0 1em}
table{border-collapse:collapse;font-size:13px;white-space:nowrap}
th,td{padding:4px 10px;border-bottom:1px solid #eef0f3;text-align:right}
th{background:#f0f2f5;position:sticky;top:0}td:first-child,th:first-child{text-align:left}
td.text,th.text{text-align:left}td.text{white-space:normal;min-width:14em}
figure{margin:1.5em 0}figure img{max-width:100%;border:1px solid #e3e6ea}
figcaption{color:#5b6573;font-size:.9em}
.note{color:#5b6573;font-size:.9em}a{color:#0b5cad}
.strip{display:flex;gap:4px;align-items:center;overflow-x:auto}.strip b{min-width:9em;font-size:13px}
.strip img{height:128px;object-fit:cover}section.class{margin-bottom:1.5em}
"""

# Column names as a reader says them; any other column: its name with spaces.
LABELS = {
    "top1_equal": "top-1",
    "top5_equal": "top-5",
    "top1_laion": "top-1 (LAION-weighted)",
    "top5_laion": "top-5 (LAION-weighted)",
    "model_version": "model and weights",
    "ci_low": "95% low",
    "ci_high": "95% high",
    "n": "images",
    "wnid": "class (wnid)",
    "other_lower": "classes lower in the other",
    "v2_lower": "classes lower in ImageNetV2",
    "selection_frequency": "MTurk selection frequency",
    "produced by": "produced by",
}


def label(column: str) -> str:
    if column in LABELS:
        return LABELS[column]
    for end, word in (("_low", "95% low"), ("_high", "95% high")):
        if column.endswith(end) and column[: -len(end)] in LABELS:
            return f"{LABELS[column[: -len(end)]]}, {word}"
    return column.replace("_", " ")


def number(value) -> str:
    """A cell as text: floats to three decimals, an undefined one said so, nothing as a dash."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return "undefined" if math.isnan(value) else f"{value:.3f}"
    if isinstance(value, list):
        return ", ".join(number(v) for v in value)
    return str(value)


def table(frame: pl.DataFrame) -> str:
    text = {c for c, t in frame.schema.items() if t == pl.String}
    kind = {c: " class=text" if c in text else "" for c in frame.columns}
    head = "".join(f"<th{kind[c]}>{html.escape(label(c))}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=text' if c in text else ''}>{html.escape(number(v))}</td>"
            for c, v in zip(frame.columns, row)
        )
        + "</tr>"
        for row in frame.iter_rows()
    )
    return f"<div class='scroll'><table><tr>{head}</tr>{rows}</table></div>"


def banner(caveats: list[str]) -> str:
    if not caveats:
        return ""
    return (
        "<div class='banner' role='alert'>"
        + "".join(f"<p>⚠ {html.escape(c)}</p>" for c in caveats)
        + "</div>"
    )


def anchor(title: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in title.lower()).strip("-")


@dataclass
class Section:
    title: str
    meaning: str  # one sentence: what the numbers mean
    frame: pl.DataFrame | None = None
    paper: str | None = None  # the paper's figure or section
    note: str | None = None  # said under the table (ties, undefined values)


@dataclass
class Figure:
    file: str
    caption: str


def document(title: str, caveats: list[str], body: list[str], subtitle: str = "") -> str:
    """A whole page: the stylesheet, the title, the banner first, then ``body``."""
    return "\n".join(
        [
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
            "<meta name='viewport' content='width=device-width,initial-scale=1'>",
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body><main>",
            f"<h1>{html.escape(title)}</h1>",
            banner(caveats),
            f"<p class='note'>{html.escape(subtitle)}</p>" if subtitle else "",
            *body,
            "</main></body></html>",
        ]
    )


def report_page(
    title: str,
    subtitle: str,
    caveats: list[str],
    sections: list[Section],
    figures: list[Figure],
    links: list[tuple[str, str]],
) -> str:
    """The report: contents, each section, the pages beside it, then the figures."""
    entries = [(s.title, anchor(s.title)) for s in sections]
    if links:
        entries.append(("Pages beside this report", "pages"))
    if figures:
        entries.append(("Figures", "figures"))
    body = ["<nav><h2>Contents</h2><ol>"]
    body += [f"<li><a href='#{a}'>{html.escape(t)}</a></li>" for t, a in entries]
    body.append("</ol></nav>")
    for s in sections:
        body.append(f"<h2 id='{anchor(s.title)}'>{html.escape(s.title)}</h2>")
        if s.paper:
            body.append(f"<p class='paper'>Paper: {html.escape(s.paper)}</p>")
        body.append(f"<p class='meaning'>{html.escape(s.meaning)}</p>")
        if s.frame is not None:
            body.append(table(s.frame))
        if s.note:
            body.append(f"<p class='note'>{html.escape(s.note)}</p>")
    if links:
        body.append("<h2 id='pages'>Pages beside this report</h2><ul>")
        body += [f"<li><a href='{html.escape(n)}'>{html.escape(t)}</a></li>" for n, t in links]
        body.append("</ul>")
    if figures:
        body.append("<h2 id='figures'>Figures</h2>")
        body += [
            f"<figure id='{html.escape(f.file)}'><img src='{html.escape(f.file)}' "
            f"alt='{html.escape(f.caption)}'><figcaption>{html.escape(f.caption)}</figcaption></figure>"
            for f in figures
        ]
    return document(title, caveats, body, subtitle)
