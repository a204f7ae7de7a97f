"""Server-side bar charts for the yearly report: matplotlib (Agg backend) → inline SVG."""

from __future__ import annotations

import io
import re
import textwrap
import threading
from html import escape

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # after selecting the backend

_LOCK = threading.Lock()  # matplotlib's rcParams are global; render one chart at a time
BAR_COLOUR = "#1f5f8b"
MAX_BARS = 15
MAX_LABEL = 34  # characters per line of a bar's label; longer labels wrap
MAX_LINES = 3
_STYLE_ATTR = re.compile(r'style="([^"]*)"')
_STYLE_BLOCK = re.compile(r"<style[^>]*>.*?</style>", re.S)


def _label(text: str) -> str:
    """The label on up to MAX_LINES lines (wrapped at words; cut only beyond that)."""
    lines = textwrap.wrap(" ".join(str(text).split()), MAX_LABEL) or [""]
    if len(lines) > MAX_LINES:
        lines = [
            *lines[: MAX_LINES - 1],
            textwrap.shorten(" ".join(lines[MAX_LINES - 1 :]), MAX_LABEL, placeholder="…"),
        ]
    return "\n".join(lines)


def _attributes(match: re.Match) -> str:
    """``style="fill: #1f5f8b; stroke: none"`` → ``fill="#1f5f8b" stroke="none"``."""
    out = []
    for item in match.group(1).split(";"):
        name, sep, value = item.partition(":")
        if sep and re.fullmatch(r"[a-z-]+", name.strip()):
            out.append(f'{name.strip()}="{escape(value.strip())}"')
    return " ".join(out)


def without_inline_style(svg: str) -> str:
    """The SVG with its CSS as presentation attributes: a page whose Content-Security-Policy
    forbids inline style (the web app's) would otherwise draw every shape black."""
    svg = _STYLE_BLOCK.sub("", svg)
    return _STYLE_ATTR.sub(_attributes, svg)


def bar_chart_svg(data: list[tuple[str, int]], *, title: str, chart_id: str) -> str:
    """A horizontal bar chart as an ``<svg>`` element (no XML prolog), ready to inline in
    HTML. Bars are drawn in the given order (largest first reads best); at most
    ``MAX_BARS`` bars, the rest summed into "Övriga". Empty data gives ``""``."""
    rows = [(label, int(n)) for label, n in data if n]
    if not rows:
        return ""
    if len(rows) > MAX_BARS:
        rest = sum(n for _, n in rows[MAX_BARS - 1 :])
        rows = [*rows[: MAX_BARS - 1], ("Övriga", rest)]
    labels = [_label(label) for label, _ in rows][::-1]
    values = [n for _, n in rows][::-1]
    lines = sum(label.count("\n") + 1 for label in labels)
    height = 0.8 + 0.22 * lines + 0.16 * len(rows)
    with (
        _LOCK,
        matplotlib.rc_context(
            {"svg.fonttype": "path", "svg.hashsalt": f"bevaka-{chart_id}", "font.size": 9}
        ),
    ):
        fig = Figure(figsize=(7.0, height), dpi=100)
        ax = fig.add_subplot()
        bars = ax.barh(range(len(values)), values, color=BAR_COLOUR)
        ax.set_yticks(range(len(values)), labels)
        ax.bar_label(bars, padding=3, fontsize=8)
        ax.set_xlim(0, max(values) * 1.15)
        ax.xaxis.set_visible(False)
        for side in ("top", "right", "bottom"):
            ax.spines[side].set_visible(False)
        fig.tight_layout()
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    start = svg.find("<svg")
    svg = svg[start:]
    # An accessible name for the chart (the title is already the section heading).
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{escape(title)}" ', 1)
    # Make element ids unique per chart so two charts can share one page.
    svg = re.sub(r'id="([^"]+)"', rf'id="{chart_id}-\1"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", rf"url(#{chart_id}-\1)", svg)
    svg = re.sub(r'xlink:href="#([^"]+)"', rf'xlink:href="#{chart_id}-\1"', svg)
    return without_inline_style(svg)
