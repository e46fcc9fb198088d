"""The page skeleton of ``bayesvol report``: inline CSS, escaping, tables and sections.

Everything here returns HTML text. Every string that comes from data (asset names, model
names, parameter names, verdicts) goes through :func:`esc`, so a name holding ``<`` or ``&``
is shown as written and cannot break the page. The page links to nothing outside itself: no
scripts, no web fonts, no style sheets, only the in-page anchors of its table of contents
(docs/report.md).
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

GENERATOR = "bayesvol report"

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
       margin: 0 auto; max-width: 1180px; padding: 1.5em 2em 4em; color: #1d1f21;
       background: #ffffff; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 2px solid #3f51b5; padding-bottom: 0.2em;
     margin-top: 2em; }
h3 { font-size: 1.05em; margin-top: 1.4em; }
p.meta { color: #555; margin-top: 0; }
nav ol { columns: 2; padding-left: 1.4em; }
nav a, nav a:visited { color: #3f51b5; }
table { border-collapse: collapse; margin: 0.6em 0 1em; font-size: 0.88em; }
p.caption { font-weight: 600; margin: 1em 0 0.2em; }
th, td { border: 1px solid #d0d4da; padding: 0.25em 0.6em; }
th { background: #eef0f7; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.best { background: #e3f4e1; font-weight: 600; }
td.flag { background: #fde8e6; }
.scroll { max-height: 36em; overflow: auto; display: inline-block; max-width: 100%; }
figure { margin: 0.8em 0 1.4em; }
figure img { max-width: 100%; height: auto; border: 1px solid #e2e4e8; }
figcaption { color: #555; font-size: 0.88em; }
p.empty { background: #fff8e1; border-left: 4px solid #f0a800; padding: 0.5em 0.8em; }
p.note { color: #444; font-size: 0.92em; }
ul.verdict li { margin-bottom: 0.3em; }
"""


def esc(value: object) -> str:
    """HTML-escape ``str(value)`` (quotes too, so it is safe in attributes)."""
    return html.escape(str(value), quote=True)


def fmt(value: object, digits: int = 4) -> str:
    """A table cell's text: numbers to ``digits`` significant digits, None/NaN as an en dash,
    booleans as yes/no, anything else as its string (not yet escaped)."""
    if value is None:
        return "\u2013"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    try:
        x = float(value)  # numpy scalars
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(x):
        return "\u2013"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if float(x).is_integer() and abs(x) < 1e9 and not isinstance(value, float):
        return str(int(x))
    return f"{x:.{digits}g}"


@dataclass(frozen=True)
class Cell:
    """A table cell with a CSS class (``best``: the best value of its column, ``flag``: a
    rejection or a loss) and an optional tooltip."""

    value: object
    css: str = ""
    title: str = ""


def _is_number(value: object) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return not isinstance(value, str)


def table(columns: Sequence[str], rows: Iterable[Sequence[object]], caption: str = "",
          digits: int = 4, scroll: bool = False) -> str:
    """An HTML table; cells may be plain values or :class:`Cell`. Numbers are right-aligned
    and formatted by :func:`fmt`; every text is escaped."""
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for value in row:
            cell = value if isinstance(value, Cell) else Cell(value)
            classes = [c for c in (("num" if _is_number(cell.value) else ""), cell.css) if c]
            cls = f' class="{" ".join(classes)}"' if classes else ""
            tip = f' title="{esc(cell.title)}"' if cell.title else ""
            cells.append(f"<td{cls}{tip}>{esc(fmt(cell.value, digits))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = f'<p class="caption">{esc(caption)}</p>' if caption else ""
    out = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return cap + (f'<div class="scroll">{out}</div>' if scroll else out)


def paragraph(text: str, css: str = "") -> str:
    """A paragraph of plain (escaped) text."""
    cls = f' class="{css}"' if css else ""
    return f"<p{cls}>{esc(text)}</p>"


def empty(text: str) -> str:
    """The plain statement that a section (or part of one) has no data, and why."""
    return paragraph(text, "empty")


def bullets(items: Iterable[str], css: str = "") -> str:
    """An unordered list of plain (escaped) texts."""
    cls = f' class="{css}"' if css else ""
    return f"<ul{cls}>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"


def heading(text: str) -> str:
    """A sub-heading inside a section."""
    return f"<h3>{esc(text)}</h3>"


@dataclass
class Section:
    """One section of the page: a stable ``id`` (the anchor and what tests look for), a
    title and its body HTML (already built from escaped parts)."""

    id: str
    title: str
    body: str


def page(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    """The whole self-contained document: inline CSS, a table of contents of in-page anchors
    and the sections in order."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    toc = "".join(f'<li><a href="#{esc(s.id)}">{esc(s.title)}</a></li>' for s in sections)
    parts = [f'<section id="{esc(s.id)}"><h2>{esc(s.title)}</h2>\n{s.body}\n</section>'
             for s in sections]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f'<meta name="generator" content="{GENERATOR}">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            f"<header><h1>{esc(title)}</h1><p class=\"meta\">{esc(subtitle)} \u00b7 written "
            f"{esc(stamp)} by {GENERATOR}</p></header>\n"
            f"<nav><ol>{toc}</ol></nav>\n" + "\n".join(parts) + "\n</body>\n</html>\n")


def is_report(text: str) -> bool:
    """Whether ``text`` (the start of a file) is a page written by :func:`page`."""
    return f'<meta name="generator" content="{GENERATOR}">' in text
