"""The report's HTML building blocks: escaped paragraphs and lists, tables of names and
values or of a DataFrame (numbers right-aligned and formatted), and the page's style sheet.
Every text that comes from the user or the data goes through :func:`esc`."""

from __future__ import annotations

import html as _html
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd


def esc(value: Any) -> str:
    return _html.escape(str(value))


def para(text: str) -> str:
    return f"<p>{esc(text)}</p>"


def muted(text: str) -> str:
    return f'<p class="muted">{esc(text)}</p>'


def bullets(items: Sequence[Any]) -> str:
    return "<ul>" + "".join(f"<li>{esc(item)}</li>" for item in items) + "</ul>"


def pairs(rows: Sequence[tuple[str, Any]]) -> str:
    """A two-column table of names and values."""
    body = "".join(f'<tr><th scope="row">{esc(name)}</th><td>{esc(cell_text(value))}</td>'
                   "</tr>" for name, value in rows)
    return f'<table class="pairs"><tbody>{body}</tbody></table>'


def table(frame: pd.DataFrame, badges: str | None = None) -> str:
    """A DataFrame as a plain table: escaped text, numbers right-aligned and formatted;
    the ``badges`` column's values drawn as coloured labels."""
    numeric = {column: pd.api.types.is_numeric_dtype(frame[column])
               and not pd.api.types.is_bool_dtype(frame[column]) for column in frame.columns}
    head = "".join(f'<th class="{"num" if numeric[c] else ""}">{esc(c)}</th>'
                   for c in frame.columns)
    rows = []
    for values in frame.itertuples(index=False, name=None):
        cells = []
        for column, value in zip(frame.columns, values, strict=True):
            text = esc(cell_text(value))
            if column == badges and text:
                slug = "".join(ch for ch in text.lower() if ch.isalpha())
                text = f'<span class="badge b-{slug}">{text}</span>'
            cells.append(f'<td class="{"num" if numeric[column] else ""}">{text}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def cell_text(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | float | np.integer | np.floating):
        return num(value)
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return "–"
    return str(value)


def finite(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and \
        not isinstance(value, bool) and math.isfinite(float(value))


def num(value: Any) -> str:
    """A number as people read it: counts with thousands separated, scores to four
    decimals, tiny values in exponent form; a missing one as a dash."""
    if isinstance(value, str):
        return value
    if not finite(value):
        return "–"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    number = float(value)
    size = abs(number)
    if size == 0 or 1e-3 <= size < 10:
        text = f"{number:.4f}"
    elif size < 1e-3:
        text = f"{number:.2e}"
    else:
        text = f"{number:,.1f}" if size < 1e5 else f"{number:,.0f}"
    return text


def seconds(value: Any) -> str | None:
    """Seconds as '7.4 s', '3 min 12 s' or '1 h 05 min'."""
    if not finite(value):
        return None
    seconds = float(value)
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def spent(info: dict[str, Any]) -> str | None:
    """The fit's wall time (saving included where known)."""
    return seconds(info.get("fit_wall_s", info.get("search_and_refit_s")))



CSS = """
:root{--ink:#111827;--muted:#6b7280;--line:#e5e7eb;--bg:#f3f4f6;--accent:#2563eb}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
.wrap{max-width:1100px;margin:0 auto;padding:0 24px}
header{background:#0f172a;color:#f8fafc;padding:28px 0 24px}
header .brand{margin:0;color:#93c5fd;font-size:13px;letter-spacing:.08em;text-transform:uppercase}
header h1{margin:4px 0 18px;font-size:28px;font-weight:650}
.kpis{display:flex;flex-wrap:wrap;gap:12px}
.kpi{background:#1e293b;border-radius:10px;padding:10px 16px;min-width:150px}
.kpi .value{display:block;font-size:22px;font-weight:650;font-variant-numeric:tabular-nums}
.kpi .label{display:block;font-size:12px;color:#cbd5e1}
main{padding-top:24px;padding-bottom:32px}
.card,.toc{background:#fff;border:1px solid var(--line);border-radius:12px;
padding:18px 24px;margin:0 0 20px;box-shadow:0 1px 2px rgba(15,23,42,.05)}
.card h2,.toc h2{margin:0 0 10px;font-size:19px}
.card h3{margin:20px 0 8px;font-size:15px}
.card.skipped{background:#fafafa;box-shadow:none}
.card.skipped h2{color:var(--muted);font-size:16px;margin-bottom:4px}
.toc ol{margin:0;padding-left:20px;columns:2;column-gap:32px}
.toc li.skipped a{color:var(--muted)}
a{color:var(--accent);text-decoration:none}
p{margin:6px 0 10px}
.muted{color:var(--muted)}
.flag{border-left:4px solid #f59e0b;background:#fffbeb;padding:8px 12px;border-radius:4px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:13px;margin:8px 0 14px}
th,td{padding:5px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{background:#f9fafb;font-weight:600;border-bottom:2px solid var(--line)}
tbody tr:nth-child(even) td{background:#fcfcfd}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.pairs th{font-weight:500;color:var(--muted);width:220px}
table.phases td.bar{width:420px}
table.phases td.bar span{display:block;height:12px;background:var(--accent);border-radius:3px}
.badge{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;
background:#e5e7eb}
.b-critical,.b-error,.b-high,.b-failed,.b-timeout,.b-outofmemory{background:#fee2e2;color:#991b1b}
.b-warning,.b-medium,.b-pruned{background:#fef3c7;color:#92400e}
.b-ok,.b-info,.b-low{background:#dcfce7;color:#166534}
img{max-width:100%;height:auto;display:block;margin:8px 0}
.figures{display:flex;flex-wrap:wrap;gap:12px 20px;align-items:flex-start}
footer{color:var(--muted);font-size:12px;text-align:center;padding:8px 0}
"""
